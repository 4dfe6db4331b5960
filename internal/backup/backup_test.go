package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/audit"
	"github.com/wharf-dev/wharf/internal/backup"
	"github.com/wharf-dev/wharf/internal/blob"
	blobfs "github.com/wharf-dev/wharf/internal/blob/fs"
	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

const reg = "000000000000"

var ctx = context.Background()

// installation is a data directory with the embedded stores and the core over them.
type installation struct {
	dir   string
	meta  *sqlite.Store
	blobs blob.Store
	svc   *registry.Service
}

func open(t *testing.T, dir string) *installation {
	t.Helper()
	meta, err := sqlite.Open(filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blobfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := &installation{dir: dir, meta: meta, blobs: blobs,
		svc: registry.New(meta, blobs, clock.Real{}, registry.Config{Limits: registry.Limits{ImagesPerRepository: 10000}}, nil)}
	t.Cleanup(func() { in.svc.Close(); in.meta.Close() })
	return in
}

// source is the installation as a backup's source, with a server key in its data directory.
func (in *installation) source() backup.Source {
	key := filepath.Join(in.dir, "server.key")
	if _, err := os.Stat(key); err != nil {
		os.WriteFile(key, []byte("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==\n"), 0o600)
	}
	return backup.Source{DB: in.meta.SQL(), Blobs: in.blobs, DataDir: in.dir, ServerKey: true, PauseGC: in.svc.PauseGC}
}

// image is a pushed image: its manifest's digest and the bytes of its blobs.
type image struct {
	repo   string
	digest digest.Digest
	blobs  map[digest.Digest][]byte
}

func (in *installation) push(t testing.TB, repo, tag string, layerSize int) (image, error) {
	layer := make([]byte, layerSize)
	rand.Read(layer)
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","tag":%q}`, tag))
	img := image{repo: repo, blobs: map[digest.Digest][]byte{}}
	for _, b := range [][]byte{cfg, layer} {
		d := digest.FromBytes(b)
		if _, err := in.svc.PutBlob(ctx, reg, repo, d, bytes.NewReader(b)); err != nil {
			return img, err
		}
		img.blobs[d] = b
	}
	body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}`,
		digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer))
	res, err := in.svc.PutManifest(ctx, reg, repo, tag, "application/vnd.oci.image.manifest.v1+json", []byte(body))
	img.digest = res.Digest
	return img, err
}

func (in *installation) mustPush(t *testing.T, repo, tag string, layerSize int) image {
	t.Helper()
	img, err := in.push(t, repo, tag, layerSize)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func (in *installation) repo(t *testing.T, name string) {
	t.Helper()
	if _, err := in.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: name}); err != nil {
		t.Fatal(err)
	}
}

// has fails unless the installation serves the image and every blob of it, byte for byte.
func (in *installation) has(t *testing.T, img image) {
	t.Helper()
	m, err := in.svc.GetManifest(ctx, reg, img.repo, img.digest.String(), nil)
	if err != nil || digest.FromBytes(m.Content) != img.digest {
		t.Fatalf("manifest %s@%s: %v", img.repo, img.digest, err)
	}
	for d, want := range img.blobs {
		_, rc, err := in.svc.OpenBlob(ctx, reg, img.repo, d)
		if err != nil {
			t.Fatalf("blob %s of %s: %v", d, img.repo, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("blob %s of %s: %d bytes, %v", d, img.repo, len(got), err)
		}
	}
}

func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, fmt.Sprintf("%s %d", rel, fi.Size()))
		}
		return nil
	})
	return out
}

// TestBackupAndRestore backs up an installation, restores it into a fresh directory, and finds every image
// and the server key there; blobs that were being stored or deleted when the snapshot was taken are left
// out, and so are leases and upload sessions. Backing up to the same place again copies nothing new.
func TestBackupAndRestore(t *testing.T) {
	src := open(t, t.TempDir())
	src.repo(t, "app")
	src.repo(t, "team/tools")
	imgs := []image{src.mustPush(t, "app", "1", 1<<20), src.mustPush(t, "app", "2", 4096), src.mustPush(t, "team/tools", "latest", 70000)}
	if _, err := src.svc.StartUpload(ctx, reg, "app"); err != nil { // a session in progress
		t.Fatal(err)
	}
	storing := digest.FromString("its bytes are on their way")
	if err := src.meta.Update(ctx, func(tx store.Tx) error {
		return tx.PutBlob(store.Blob{Digest: storing, Size: 26, TouchedAt: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}

	dst, err := backup.CreateDir(filepath.Join(t.TempDir(), "backup"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := backup.Backup(ctx, src.source(), dst)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blobs != 6 || rep.Copied != 6 || rep.Dropped != 1 || !rep.ServerKey || rep.Format != backup.Format {
		t.Fatalf("report %+v", rep)
	}
	again, err := backup.Backup(ctx, src.source(), dst)
	if err != nil || again.Copied != 0 || again.Blobs != 6 {
		t.Fatalf("second backup: %+v, %v", again, err)
	}
	if left, _ := filepath.Glob(filepath.Join(src.dir, ".backup-*")); len(left) != 0 {
		t.Fatalf("snapshot files left in the data directory: %v", left)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	res, err := backup.Restore(ctx, dst, backup.Target{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Blobs != 6 || res.Copied != 6 {
		t.Fatalf("restore report %+v", res)
	}
	if key, _ := os.ReadFile(filepath.Join(dir, "server.key")); !strings.HasPrefix(string(key), "c2VjcmV0") {
		t.Fatalf("server.key: %q", key)
	}
	got := open(t, dir)
	for _, img := range imgs {
		got.has(t, img)
	}
	var leases, uploads, stored int
	db := got.meta.SQL()
	db.QueryRow(`SELECT COUNT(*) FROM leases`).Scan(&leases)
	db.QueryRow(`SELECT COUNT(*) FROM uploads`).Scan(&uploads)
	db.QueryRow(`SELECT COUNT(*) FROM blobs WHERE digest = ?`, storing.String()).Scan(&stored)
	if leases+uploads+stored != 0 {
		t.Fatalf("restored leases %d, uploads %d, blob rows without bytes %d", leases, uploads, stored)
	}
	// The restored installation takes pushes.
	got.mustPush(t, "app", "3", 100)
}

// TestBackupDuringPushes takes a backup while pushes go on: the restored installation serves every image
// its metadata holds, complete.
func TestBackupDuringPushes(t *testing.T) {
	src := open(t, t.TempDir())
	src.repo(t, "app")
	for i := range 5 {
		src.mustPush(t, "app", fmt.Sprint("before-", i), 20000)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pushed sync.Map
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				img, err := src.push(t, "app", fmt.Sprintf("during-%d-%d", w, i), 30000)
				if err != nil {
					t.Errorf("push: %v", err)
					return
				}
				pushed.Store(img.digest, img)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	dst, _ := backup.CreateDir(t.TempDir())
	_, err := backup.Backup(ctx, src.source(), dst)
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(ctx, dst, backup.Target{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	got := open(t, dir)
	images, _, _, err := got.svc.ListImages(ctx, reg, "app", "", 1000, registry.AnyTagStatus)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, im := range images {
		if v, ok := pushed.Load(im.Digest); ok {
			got.has(t, v.(image))
			found++
		}
	}
	t.Logf("the backup holds %d images, %d of them pushed while it ran", len(images), found)
	if len(images) < 5 {
		t.Fatalf("only %d images restored", len(images))
	}
}

// TestBackupFailsWhenAUsedBlobIsGone: a blob the snapshot links to a repository that is gone by the time it
// is copied fails the backup, which then writes no backup.json.
func TestBackupFailsWhenAUsedBlobIsGone(t *testing.T) {
	src := open(t, t.TempDir())
	src.repo(t, "app")
	img := src.mustPush(t, "app", "1", 1000)
	var gone digest.Digest
	for d := range img.blobs {
		gone = d
	}
	src.blobs.Delete(ctx, gone) // as a collection that outlived its lease would
	where := t.TempDir()
	dst, _ := backup.CreateDir(where)
	_, err := backup.Backup(ctx, src.source(), dst)
	if err == nil || !strings.Contains(err.Error(), gone.String()) || !strings.Contains(err.Error(), "back up again") {
		t.Fatalf("backup: %v", err)
	}
	if _, err := os.Stat(filepath.Join(where, backup.ManifestFile)); !os.IsNotExist(err) {
		t.Fatalf("backup.json after a failed backup: %v", err)
	}
	if _, err := backup.Read(ctx, dst); err == nil || !strings.Contains(err.Error(), "no backup here") {
		t.Fatalf("reading a failed backup: %v", err)
	}
}

// TestRestoreRefuses: a missing or damaged backup, or a data directory in use, gives a clear error and
// leaves the target as it was.
func TestRestoreRefuses(t *testing.T) {
	src := open(t, t.TempDir())
	src.repo(t, "app")
	img := src.mustPush(t, "app", "1", 5000)
	var layer digest.Digest
	for d, b := range img.blobs {
		if len(b) == 5000 {
			layer = d
		}
	}
	fresh := func(t *testing.T) (string, backup.Location) {
		where := t.TempDir()
		dst, _ := backup.CreateDir(where)
		if _, err := backup.Backup(ctx, src.source(), dst); err != nil {
			t.Fatal(err)
		}
		return where, dst
	}
	blobPath := func(where string, d digest.Digest) string {
		return filepath.Join(where, "blobs", "sha256", d.Encoded()[:2], d.Encoded())
	}
	for _, c := range []struct {
		name   string
		damage func(where string, m *backup.Manifest)
		want   string
	}{
		{"no backup.json", func(where string, _ *backup.Manifest) { os.Remove(filepath.Join(where, "backup.json")) }, "no backup here"},
		{"damaged backup.json", func(where string, _ *backup.Manifest) {
			os.WriteFile(filepath.Join(where, "backup.json"), []byte(`{"format":1,`), 0o600)
		}, "backup.json is damaged"},
		{"damaged layer", func(where string, _ *backup.Manifest) {
			os.Chmod(blobPath(where, layer), 0o600)
			f, _ := os.OpenFile(blobPath(where, layer), os.O_RDWR, 0)
			b := make([]byte, 1)
			f.ReadAt(b, 100)
			f.WriteAt([]byte{^b[0]}, 100) // another byte, whatever the random layer holds there
			f.Close()
		}, "blob " + layer.String() + " in the backup is damaged: "},
		{"missing layer", func(where string, _ *backup.Manifest) { os.Remove(blobPath(where, layer)) }, "blob " + layer.String() + " is missing from the backup"},
		{"damaged metadata", func(where string, m *backup.Manifest) { os.Truncate(blobPath(where, m.Metadata), 4096) }, "the backup's metadata: " + "sha256:"},
		{"missing metadata", func(where string, m *backup.Manifest) { os.Remove(blobPath(where, m.Metadata)) }, "is missing from the backup"},
		{"missing server key", func(where string, _ *backup.Manifest) { os.Remove(filepath.Join(where, "server.key")) }, "server key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			where, dst := fresh(t)
			m, err := backup.Read(ctx, dst)
			if err != nil {
				t.Fatal(err)
			}
			c.damage(where, m)
			for _, empty := range []bool{false, true} { // a data directory that is missing, or empty
				dir := filepath.Join(t.TempDir(), "data")
				if empty {
					os.MkdirAll(filepath.Join(dir, "lost+found"), 0o700)
				}
				before := tree(t, dir)
				_, err := backup.Restore(ctx, dst, backup.Target{DataDir: dir})
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("restore: %v; want an error saying %q", err, c.want)
				}
				if after := tree(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
					t.Fatalf("the failed restore changed the data directory: %v, was %v", after, before)
				}
			}
		})
	}

	t.Run("data directory in use", func(t *testing.T) {
		_, dst := fresh(t)
		before := tree(t, src.dir)
		_, err := backup.Restore(ctx, dst, backup.Target{DataDir: src.dir})
		if err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("restore over an installation: %v", err)
		}
		if after := tree(t, src.dir); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatal("the refused restore changed the installation")
		}
	})
}

// TestBackupWaitsForGarbageCollection: the backup holds garbage collection off while it runs, in every
// process, and lets it run again afterwards.
func TestBackupWaitsForGarbageCollection(t *testing.T) {
	src := open(t, t.TempDir())
	src.repo(t, "app")
	src.mustPush(t, "app", "1", 1000)
	s := src.source()
	var during error
	s.PauseGC = func(ctx context.Context) (func(), error) {
		resume, err := src.svc.PauseGC(ctx)
		if err != nil {
			return nil, err
		}
		_, during = src.svc.CollectGarbage(ctx)
		return resume, nil
	}
	dst, _ := backup.CreateDir(t.TempDir())
	if _, err := backup.Backup(ctx, s, dst); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(during, registry.ErrGCBusy) {
		t.Fatalf("garbage collection during the backup: %v", during)
	}
	if _, err := src.svc.CollectGarbage(ctx); err != nil {
		t.Fatalf("garbage collection after the backup: %v", err)
	}
}

// TestOpenDirWritesNothing: opening a directory that holds no backup says so and leaves it as it was.
func TestOpenDirWritesNothing(t *testing.T) {
	dir := t.TempDir()
	if _, err := backup.OpenDir(dir); err == nil || !strings.Contains(err.Error(), "no backup here") {
		t.Fatalf("OpenDir of an empty directory: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("OpenDir wrote %v", entries)
	}
	if _, err := backup.OpenDir(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Fatalf("OpenDir of a missing directory: %v", err)
	}
}

// TestBackupCarriesTheAuditTrail: the audit trail (audit.db) is backed up and restored beside the metadata.
func TestBackupCarriesTheAuditTrail(t *testing.T) {
	src := open(t, t.TempDir())
	trailDB, err := sqlite.Open(filepath.Join(src.dir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer trailDB.Close()
	trail := audit.NewTrail(trailDB, "us-east-1", nil)
	trail.Record(&pipeline.Call{Protocol: "cli", RegistryID: reg, Action: "ecr:CreateRepository", Caller: identity.RootOf(reg),
		Start: time.Now(), Targets: []pipeline.Target{pipeline.Repository("ecr:CreateRepository", reg, "app")}}, nil, 0)
	trail.Close()

	dst, err := backup.CreateDir(filepath.Join(t.TempDir(), "backup"))
	if err != nil {
		t.Fatal(err)
	}
	s := src.source()
	s.AuditDB = trailDB.SQL()
	rep, err := backup.Backup(ctx, s, dst)
	if err != nil || rep.Audit == "" || rep.AuditSize == 0 {
		t.Fatalf("backup %+v: %v", rep, err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(ctx, dst, backup.Target{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	restored, err := sqlite.Open(filepath.Join(dir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	events, err := audit.Lookup(ctx, restored, audit.Query{Account: reg, Limit: 10})
	if err != nil || len(events) != 1 || events[0].Name() != "CreateRepository" {
		t.Fatalf("restored trail: %d events, %v", len(events), err)
	}
}
