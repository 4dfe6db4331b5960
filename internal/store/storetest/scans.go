package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func testImageScans(t *testing.T, s store.Store) {
	r := mkRepo(t, s, "000000000000", "app")
	img := &store.Image{RepositoryID: r.ID, Digest: dg("scanned"), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size: 1, PushedAt: t0, Content: []byte(`{}`)}
	update(t, s, func(tx store.Tx) error { return tx.PutImage(img, nil) })

	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.GetImageScan(r.ID, img.Digest); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("scan before any: %v", err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetImageScanFindings(r.ID, img.Digest, [][]byte{[]byte(`{}`)}) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("findings without a scan: %v", err)
	}
	started := store.ImageScan{RepositoryID: r.ID, Digest: img.Digest, ScanType: "BASIC", Status: "IN_PROGRESS", StartedAt: t0, ManualAt: t0}
	update(t, s, func(tx store.Tx) error { return tx.PutImageScan(started) })
	done := started
	done.Status, done.Description, done.CompletedAt, done.SourceUpdatedAt = "COMPLETE", "The scan was completed successfully.", t0.Add(time.Minute), t0.Add(-time.Hour)
	done.SeverityCounts = map[string]int{"HIGH": 2, "LOW": 1}
	findings := make([][]byte, 5)
	for i := range findings {
		findings[i] = fmt.Appendf(nil, `{"n":%d}`, i)
	}
	inv := []byte(`{"os":{"id":"debian"},"packages":[]}`)
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutImageScan(done); err != nil {
			return err
		}
		if err := tx.SetImageScanFindings(r.ID, img.Digest, findings); err != nil {
			return err
		}
		return tx.SetImageInventory(r.ID, img.Digest, inv)
	})
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetImageScan(r.ID, img.Digest)
		if err != nil {
			return err
		}
		if got.Status != "COMPLETE" || got.Description != done.Description || !got.CompletedAt.Equal(done.CompletedAt) ||
			!got.SourceUpdatedAt.Equal(done.SourceUpdatedAt) || !got.ManualAt.Equal(t0) || got.ScanType != "BASIC" ||
			got.SeverityCounts["HIGH"] != 2 || got.SeverityCounts["LOW"] != 1 || len(got.SeverityCounts) != 2 {
			t.Errorf("scan = %+v", got)
		}
		page, err := tx.ImageScanFindings(r.ID, img.Digest, 0, 2)
		if err != nil {
			return err
		}
		if len(page) != 2 || page[0].Seq != 1 || string(page[1].Data) != `{"n":1}` {
			t.Errorf("first page = %+v", page)
		}
		rest, err := tx.ImageScanFindings(r.ID, img.Digest, page[1].Seq, 10)
		if err != nil {
			return err
		}
		if len(rest) != 3 || string(rest[2].Data) != `{"n":4}` {
			t.Errorf("rest = %+v", rest)
		}
		got2, err := tx.ImageInventory(r.ID, img.Digest)
		if err != nil || !bytes.Equal(got2, inv) {
			t.Errorf("inventory = %s, %v", got2, err)
		}
		return nil
	})

	// A new scan replaces the state; findings are replaced as a whole, the inventory stays.
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutImageScan(started); err != nil {
			return err
		}
		return tx.SetImageScanFindings(r.ID, img.Digest, findings[:1])
	})
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetImageScan(r.ID, img.Digest)
		if err != nil || got.Status != "IN_PROGRESS" || !got.CompletedAt.IsZero() {
			t.Errorf("rescan = %+v, %v", got, err)
		}
		all, err := tx.ImageScanFindings(r.ID, img.Digest, 0, 100)
		if err != nil || len(all) != 1 {
			t.Errorf("findings after rescan = %d, %v", len(all), err)
		}
		if _, err := tx.ImageInventory(r.ID, img.Digest); err != nil {
			t.Errorf("inventory after rescan: %v", err)
		}
		return nil
	})

	// Deleting the image deletes its scan.
	update(t, s, func(tx store.Tx) error { return tx.DeleteImage(r.ID, img.Digest) })
	update(t, s, func(tx store.Tx) error { return tx.PutImage(img, nil) })
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.GetImageScan(r.ID, img.Digest); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("scan of a deleted image: %v", err)
		}
		if f, err := tx.ImageScanFindings(r.ID, img.Digest, 0, 10); err != nil || len(f) != 0 {
			t.Errorf("findings of a deleted image: %v, %v", f, err)
		}
		if _, err := tx.ImageInventory(r.ID, img.Digest); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("inventory of a deleted image: %v", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteRepository(r.ID) })
}

func testScanningConfiguration(t *testing.T, s store.Store) {
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.ScanningConfiguration("000000000000"); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("configuration before any: %v", err)
	}
	for _, c := range []store.ScanningConfiguration{
		{RegistryID: "000000000000", ScanType: "BASIC", Rules: `[]`, UpdatedAt: t0},
		{RegistryID: "000000000000", ScanType: "ENHANCED", Rules: `[{"scanFrequency":"CONTINUOUS_SCAN"}]`, UpdatedAt: t0.Add(time.Hour)},
	} {
		update(t, s, func(tx store.Tx) error { return tx.SetScanningConfiguration(c) })
		view(t, s, func(tx store.Tx) error {
			got, err := tx.ScanningConfiguration(c.RegistryID)
			if err != nil || got.ScanType != c.ScanType || got.Rules != c.Rules || !got.UpdatedAt.Equal(c.UpdatedAt) {
				t.Errorf("configuration = %+v, %v; want %+v", got, err, c)
			}
			if _, err := tx.ScanningConfiguration("111111111111"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("other registry's configuration: %v", err)
			}
			return nil
		})
	}
}
