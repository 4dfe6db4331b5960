package sqlite_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

// benchStore opens a store holding one repository with n tagged images of two layers each, as manifest
// pushes leave them.
func benchStore(b *testing.B, n int) (*sqlite.Store, *store.Repository) {
	b.Helper()
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "wharf.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	repo := &store.Repository{RegistryID: "000000000000", Name: "bench", TagMutability: "MUTABLE", EncryptionType: "AES256"}
	layers := []digest.Digest{digest.FromString("config"), digest.FromString("layer")}
	err = s.Update(b.Context(), func(tx store.Tx) error {
		if err := tx.CreateRepository(repo); err != nil {
			return err
		}
		for _, d := range layers {
			if err := tx.PutBlob(store.Blob{Digest: d, Size: 1 << 20, TouchedAt: time.Now()}); err != nil {
				return err
			}
			if err := tx.LinkBlob(repo.ID, d, time.Now()); err != nil {
				return err
			}
		}
		for i := range n {
			if err := putManifest(tx, repo.ID, i); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return s, repo
}

// manifest is the size of a typical image manifest.
var manifest = bytes.Repeat([]byte("m"), 1200)

// putManifest stores the image and tag of a manifest push: what the registry writes for one PUT.
func putManifest(tx store.Tx, repoID int64, i int) error {
	d := digest.FromString(fmt.Sprint("manifest ", i))
	img := &store.Image{RepositoryID: repoID, Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size: 2<<20 + 1200, PushedAt: time.Now(), Content: manifest}
	refs := []store.Ref{{Kind: store.RefBlob, Digest: digest.FromString("config")}, {Kind: store.RefBlob, Digest: digest.FromString("layer")}}
	if err := tx.PutImage(img, refs); err != nil {
		return err
	}
	return tx.PutTag(repoID, store.Tag{Name: fmt.Sprint("t", i), Digest: d, UpdatedAt: time.Now()})
}

// BenchmarkPutManifest: manifest pushes, each its own durable Update, from one client and from 16 at once
// (whose Updates share commits).
func BenchmarkPutManifest(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprint("clients=", clients), func(b *testing.B) {
			s, repo := benchStore(b, 0)
			var next atomic.Int64
			put := func() {
				i := int(next.Add(1))
				if err := s.Update(b.Context(), func(tx store.Tx) error {
					if _, err := tx.GetRepository(repo.RegistryID, repo.Name); err != nil {
						return err
					}
					return putManifest(tx, repo.ID, i)
				}); err != nil {
					b.Error(err)
				}
			}
			b.ResetTimer()
			if clients == 1 {
				for b.Loop() {
					put()
				}
				return
			}
			b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					put()
				}
			})
		})
	}
}

// BenchmarkGetManifest: concurrent manifest GETs by tag, each a View.
func BenchmarkGetManifest(b *testing.B) {
	const n = 1000
	s, repo := benchStore(b, n)
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) % n
			if err := s.View(b.Context(), func(tx store.Tx) error {
				r, err := tx.GetRepository(repo.RegistryID, repo.Name)
				if err != nil {
					return err
				}
				t, err := tx.GetTag(r.ID, fmt.Sprint("t", i))
				if err != nil {
					return err
				}
				_, err = tx.GetImage(r.ID, t.Digest)
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkListImages: pages of 100 images with their tags, as ECR's DescribeImages reads them.
func BenchmarkListImages(b *testing.B) {
	const n = 1000
	s, repo := benchStore(b, n)
	b.ResetTimer()
	for b.Loop() {
		if err := s.View(b.Context(), func(tx store.Tx) error {
			var after digest.Digest
			for {
				imgs, err := tx.ListImages(repo.ID, after, 100)
				if err != nil || len(imgs) == 0 {
					return err
				}
				if _, err := tx.TagsBetween(repo.ID, imgs[0].Digest, imgs[len(imgs)-1].Digest); err != nil {
					return err
				}
				after = imgs[len(imgs)-1].Digest
			}
		}); err != nil {
			b.Fatal(err)
		}
	}
}
