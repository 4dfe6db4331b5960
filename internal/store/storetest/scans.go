package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

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

// testImageScanListing: the scans the upkeep of scans looks for, selected by state, time, use and
// inventory, in pages across repositories; and the registries' scanning configurations.
func testImageScanListing(t *testing.T, s store.Store) {
	const registry = "222222222222"
	a, b := mkRepo(t, s, registry, "listed-a"), mkRepo(t, s, registry, "listed-b")
	type spec struct {
		repo          *store.Repository
		name, status  string
		sourceUpdated time.Time
		pulled        time.Time
		inventory     bool
	}
	specs := []spec{
		{a, "a1", "COMPLETE", t0.Add(-time.Hour), time.Time{}, true},
		{a, "a2", "COMPLETE", t0.Add(time.Hour), t0.Add(2 * time.Hour), false},
		{a, "a3", "IN_PROGRESS", time.Time{}, time.Time{}, false},
		{b, "b1", "COMPLETE", t0.Add(-time.Hour), t0.Add(-time.Minute), true},
	}
	names := map[string]string{} // digest -> name
	for i, sp := range specs {
		img := &store.Image{RepositoryID: sp.repo.ID, Digest: dg(sp.name), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Size: 1, PushedAt: t0.Add(-2 * time.Hour), Content: []byte(`{}`)}
		names[img.Digest.String()] = sp.name
		update(t, s, func(tx store.Tx) error {
			if err := tx.PutImage(img, nil); err != nil {
				return err
			}
			if !sp.pulled.IsZero() {
				if err := tx.TouchPulls(sp.repo.ID, map[digest.Digest]time.Time{img.Digest: sp.pulled}); err != nil {
					return err
				}
			}
			scan := store.ImageScan{RepositoryID: sp.repo.ID, Digest: img.Digest, ScanType: "ENHANCED", Status: sp.status,
				StartedAt: t0.Add(time.Duration(i) * time.Minute), SourceUpdatedAt: sp.sourceUpdated, SeverityCounts: map[string]int{}}
			if err := tx.PutImageScan(scan); err != nil {
				return err
			}
			if sp.inventory {
				return tx.SetImageInventory(sp.repo.ID, img.Digest, []byte(`{}`))
			}
			return nil
		})
	}
	list := func(f store.ImageScanFilter) string {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = 100
		}
		var got []string
		view(t, s, func(tx store.Tx) error {
			scans, err := tx.ImageScans(f)
			for _, sc := range scans {
				if name, ok := names[sc.Digest.String()]; ok {
					got = append(got, name)
				}
			}
			return err
		})
		return strings.Join(got, " ")
	}
	ordered := func(names ...string) string { // by digest within a repository, as listings go
		slices.SortFunc(names, func(x, y string) int { return strings.Compare(dg(x).String(), dg(y).String()) })
		return strings.Join(names, " ")
	}
	for _, tc := range []struct {
		name string
		f    store.ImageScanFilter
		want string
	}{
		{"repository", store.ImageScanFilter{RepositoryID: a.ID}, ordered("a1", "a2", "a3")},
		{"state", store.ImageScanFilter{RepositoryID: a.ID, Status: "IN_PROGRESS"}, "a3"},
		{"started before", store.ImageScanFilter{RepositoryID: a.ID, StartedBefore: t0.Add(time.Minute)}, "a1"},
		{"behind the database", store.ImageScanFilter{Status: "COMPLETE", SourceUpdatedBefore: t0}, "a1 b1"},
		{"with an inventory", store.ImageScanFilter{RepositoryID: a.ID, WithInventory: true}, "a1"},
		{"unused", store.ImageScanFilter{Status: "COMPLETE", UnusedSince: t0}, "a1 b1"},
		{"unused since before the pull", store.ImageScanFilter{Status: "COMPLETE", UnusedSince: t0.Add(-time.Hour)}, "a1"},
		{"after a position", store.ImageScanFilter{Status: "COMPLETE", SourceUpdatedBefore: t0, AfterRepositoryID: a.ID, AfterDigest: dg("a1")}, "b1"},
		{"after a repository", store.ImageScanFilter{AfterRepositoryID: a.ID, AfterDigest: "sha256:~"}, "b1"},
	} {
		if got := list(tc.f); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// Pages of two walk all four scans in order.
	var pages []string
	f := store.ImageScanFilter{Limit: 2}
	for {
		var scans []store.ImageScan
		view(t, s, func(tx store.Tx) (err error) { scans, err = tx.ImageScans(f); return err })
		if len(scans) == 0 {
			break
		}
		for _, sc := range scans {
			if name, ok := names[sc.Digest.String()]; ok {
				pages = append(pages, name)
			}
		}
		last := scans[len(scans)-1]
		f.AfterRepositoryID, f.AfterDigest = last.RepositoryID, last.Digest
	}
	if got, want := strings.Join(pages, " "), ordered("a1", "a2", "a3")+" b1"; got != want {
		t.Errorf("pages: %q, want %q", got, want)
	}
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetImageScan(a.ID, dg("a1"))
		if err == nil {
			scans, err2 := tx.ImageScans(store.ImageScanFilter{RepositoryID: a.ID, WithInventory: true, Limit: 1})
			if err2 != nil || len(scans) != 1 || !scans[0].StartedAt.Equal(got.StartedAt) || !scans[0].SourceUpdatedAt.Equal(got.SourceUpdatedAt) ||
				scans[0].Status != got.Status || scans[0].ScanType != "ENHANCED" || scans[0].SeverityCounts == nil {
				t.Errorf("listed %+v, %v; got %+v", scans, err2, got)
			}
		}
		return err
	})

	// Configurations, by registry.
	for _, reg := range []string{"333333333333", registry} {
		update(t, s, func(tx store.Tx) error {
			return tx.SetScanningConfiguration(store.ScanningConfiguration{RegistryID: reg, ScanType: "ENHANCED", Rules: `[]`, UpdatedAt: t0})
		})
	}
	view(t, s, func(tx store.Tx) error {
		got, err := tx.ScanningConfigurations("222222222221", 10)
		if err != nil || len(got) != 2 || got[0].RegistryID != registry || got[1].RegistryID != "333333333333" || got[0].ScanType != "ENHANCED" {
			t.Errorf("configurations: %+v, %v", got, err)
		}
		if got, err := tx.ScanningConfigurations("222222222221", 1); err != nil || len(got) != 1 {
			t.Errorf("configurations, limited: %+v, %v", got, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteRepository(a.ID) })
	update(t, s, func(tx store.Tx) error { return tx.DeleteRepository(b.ID) })
}
