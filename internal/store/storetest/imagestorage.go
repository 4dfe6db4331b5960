package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

func testImageStorage(t *testing.T, s store.Store) {
	r := mkRepo(t, s, "111111111111", "archive")
	other := mkRepo(t, s, "111111111111", "other")
	var ds []digest.Digest
	for _, n := range []string{"a", "b", "c"} {
		img := &store.Image{RepositoryID: r.ID, Digest: dg(n), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 1, PushedAt: t0, Content: []byte(n)}
		update(t, s, func(tx store.Tx) error { return tx.PutImage(img, nil) })
		ds = append(ds, img.Digest)
	}
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.ImageStorage(r.ID, ds[0]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("state of an image never archived: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.PutImageStorage(other.ID, store.ImageStorage{Digest: ds[0], Archived: true, ArchivedAt: t0})
	}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("state of an image the repository does not hold: %v, want ErrNotFound", err)
	}

	archived := store.ImageStorage{Digest: ds[0], Archived: true, ArchivedAt: t0.Add(time.Second)}
	restored := store.ImageStorage{Digest: ds[2], ArchivedAt: t0, ActivatedAt: t0.Add(20 * time.Minute)}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutImageStorage(r.ID, store.ImageStorage{Digest: ds[0], ArchivedAt: t0}); err != nil {
			return err
		}
		if err := tx.PutImageStorage(r.ID, archived); err != nil { // replaces
			return err
		}
		return tx.PutImageStorage(r.ID, restored)
	})
	view(t, s, func(tx store.Tx) error {
		got, err := tx.ImageStorage(r.ID, ds[0])
		if err != nil || *got != archived {
			t.Errorf("ImageStorage = %+v, %v; want %+v", got, err, archived)
		}
		m, err := tx.ImageStorageBetween(r.ID, slices.Min(ds), slices.Max(ds))
		if err != nil || len(m) != 2 || m[ds[0]] != archived || m[ds[2]] != restored {
			t.Errorf("ImageStorageBetween = %+v, %v", m, err)
		}
		return nil
	})

	update(t, s, func(tx store.Tx) error { return tx.DeleteImage(r.ID, ds[0]) })
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.ImageStorage(r.ID, ds[0]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("state of a deleted image: %v, want ErrNotFound", err)
		}
		return nil
	})
}
