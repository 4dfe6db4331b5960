package storetest

import (
	"errors"
	"testing"

	"github.com/wharf-dev/wharf/internal/store"
)

func testSigning(t *testing.T, s store.Store) {
	const reg = "000000000000"
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.SigningConfiguration(reg); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("configuration before any: %v", err)
	}
	update(t, s, func(tx store.Tx) error {
		return tx.SetSigningConfiguration(store.SigningConfiguration{RegistryID: reg, Rules: `[1]`, UpdatedAt: t0})
	})
	update(t, s, func(tx store.Tx) error {
		return tx.SetSigningConfiguration(store.SigningConfiguration{RegistryID: reg, Rules: `[2]`, UpdatedAt: t0})
	})
	view(t, s, func(tx store.Tx) error {
		c, err := tx.SigningConfiguration(reg)
		if err != nil || c.Rules != `[2]` || !c.UpdatedAt.Equal(t0) {
			t.Errorf("configuration: %+v, %v", c, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteSigningConfiguration(reg) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.DeleteSigningConfiguration(reg) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing configuration: %v", err)
	}

	key := store.SigningKey{RegistryID: reg, SealedKey: []byte{1, 2, 3}, Certificates: "PEM", CreatedAt: t0}
	update(t, s, func(tx store.Tx) error { return tx.PutSigningKey(key) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutSigningKey(key) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second key: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		k, err := tx.SigningKey(reg)
		if err != nil || string(k.SealedKey) != "\x01\x02\x03" || k.Certificates != "PEM" || !k.CreatedAt.Equal(t0) {
			t.Errorf("key: %+v, %v", k, err)
		}
		return nil
	})

	r := mkRepo(t, s, reg, "app")
	img := &store.Image{RepositoryID: r.ID, Digest: dg("signed"), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size: 1, PushedAt: t0, Content: []byte(`{}`)}
	update(t, s, func(tx store.Tx) error { return tx.PutImage(img, nil) })
	for _, arn := range []string{"arn:b", "arn:a"} {
		update(t, s, func(tx store.Tx) error {
			return tx.PutImageSigningStatus(store.ImageSigningStatus{RepositoryID: r.ID, Digest: img.Digest, ProfileARN: arn, Status: "IN_PROGRESS", UpdatedAt: t0})
		})
	}
	update(t, s, func(tx store.Tx) error {
		return tx.PutImageSigningStatus(store.ImageSigningStatus{RepositoryID: r.ID, Digest: img.Digest, ProfileARN: "arn:b", Status: "FAILED",
			FailureCode: "Code", FailureReason: "why", Signature: dg("sig"), UpdatedAt: t0})
	})
	view(t, s, func(tx store.Tx) error {
		all, err := tx.ImageSigningStatuses(r.ID, img.Digest)
		if err != nil || len(all) != 2 || all[0].ProfileARN != "arn:a" || all[0].Status != "IN_PROGRESS" || all[0].Signature != "" ||
			all[1].Status != "FAILED" || all[1].FailureCode != "Code" || all[1].FailureReason != "why" || all[1].Signature != dg("sig") {
			t.Errorf("statuses: %+v, %v", all, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteImage(r.ID, img.Digest) })
	view(t, s, func(tx store.Tx) error {
		if all, err := tx.ImageSigningStatuses(r.ID, img.Digest); err != nil || len(all) != 0 {
			t.Errorf("statuses of a deleted image: %+v, %v", all, err)
		}
		return nil
	})
}
