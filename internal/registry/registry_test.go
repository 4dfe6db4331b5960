package registry_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/blob"
	blobfs "github.com/wharf-dev/wharf/internal/blob/fs"
	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/postgres"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

const reg = "000000000000"

type env struct {
	dir   string
	pg    string // the PostgreSQL database of this env, when the core is tested on PostgreSQL
	clock *clock.Fake
	meta  store.Store
	blobs blob.Store
	svc   *registry.Service
	cfg   registry.Config
}

// The core's tests run on SQLite; with WHARF_CORE_ON_POSTGRES=1 (and the server of WHARF_TEST_POSTGRES,
// as scripts/test.sh does) they run again with the metadata in PostgreSQL.
var onPostgres = os.Getenv("WHARF_CORE_ON_POSTGRES") == "1"

var databases atomic.Int64

func newEnv(t *testing.T, cfg registry.Config) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), clock: clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), cfg: cfg}
	if onPostgres {
		e.pg = freshPostgres(t)
	}
	e.open(t)
	t.Cleanup(func() { e.close() })
	return e
}

// freshPostgres creates an empty database on the test server and returns its URL.
func freshPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("WHARF_TEST_POSTGRES")
	if base == "" {
		t.Fatal("WHARF_CORE_ON_POSTGRES=1 needs WHARF_TEST_POSTGRES")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("wharf_core_%d_%d", os.Getpid(), databases.Add(1))
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if admin, err := sql.Open("pgx", base); err == nil {
			admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
			admin.Close()
		}
	})
	return strings.Replace(base, "/postgres?", "/"+name+"?", 1)
}

// open (re)opens the stores and the service on the env's directory, as a restarted server would.
func (e *env) open(t *testing.T) {
	t.Helper()
	var err error
	if e.pg != "" {
		e.meta, err = postgres.Open(e.pg)
	} else {
		e.meta, err = sqlite.Open(e.dir + "/wharf.db")
	}
	if err != nil {
		t.Fatal(err)
	}
	if e.blobs, err = blobfs.New(e.dir); err != nil {
		t.Fatal(err)
	}
	e.svc = registry.New(e.meta, e.blobs, e.clock, e.cfg, nil)
}

func (e *env) close() {
	if e.svc != nil {
		e.svc.Close()
		e.meta.Close()
		e.svc = nil
	}
}

func (e *env) repo(t *testing.T, name string, mut string) {
	t.Helper()
	if _, err := e.svc.CreateRepository(context.Background(), store.Repository{RegistryID: reg, Name: name, TagMutability: mut}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) blob(t *testing.T, repo string, content string) digest.Digest {
	t.Helper()
	d := digest.FromString(content)
	if _, err := e.svc.PutBlob(context.Background(), reg, repo, d, strings.NewReader(content)); err != nil {
		t.Fatalf("PutBlob: %v", err)
	}
	blobSizes.Store(d, len(content))
	return d
}

// blobSizes remembers the size of every blob and manifest stored, for the manifests that name them.
var blobSizes sync.Map // digest.Digest -> int

func sizeOf(d digest.Digest) int {
	if n, ok := blobSizes.Load(d); ok {
		return n.(int)
	}
	return 1
}

func imageManifest(cfg digest.Digest, layers ...digest.Digest) []byte {
	var ls []string
	for _, l := range layers {
		ls = append(ls, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}`, l, sizeOf(l)))
	}
	return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[%s]}`,
		cfg, sizeOf(cfg), strings.Join(ls, ",")))
}

func indexManifest(children ...digest.Digest) []byte {
	var ms []string
	for _, c := range children {
		ms = append(ms, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d}`, c, sizeOf(c)))
	}
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + strings.Join(ms, ",") + `]}`)
}

// push uploads a config and a layer and pushes an image with them under ref.
func (e *env) push(t *testing.T, repo, ref, seed string) digest.Digest {
	t.Helper()
	cfg := e.blob(t, repo, "config "+seed)
	layer := e.blob(t, repo, "layer "+seed)
	body := imageManifest(cfg, layer)
	res, err := e.svc.PutManifest(context.Background(), reg, repo, ref, "application/vnd.oci.image.manifest.v1+json", body)
	if err != nil {
		t.Fatalf("PutManifest %s:%s: %v", repo, ref, err)
	}
	blobSizes.Store(res.Digest, len(body))
	return res.Digest
}

func wantKind(t *testing.T, err error, k registry.Kind) {
	t.Helper()
	if registry.KindOf(err) != k || err == nil {
		t.Fatalf("got error %v (kind %d), want kind %d", err, registry.KindOf(err), k)
	}
}

var ctx = context.Background()

func TestPushNeedsRepository(t *testing.T) {
	e := newEnv(t, registry.Config{})
	_, err := e.svc.StartUpload(ctx, reg, "team-a/web-app")
	wantKind(t, err, registry.KindRepositoryNotFound)
	if err.Error() != "The repository with name 'team-a/web-app' does not exist in the registry with id '000000000000'" {
		t.Fatalf("message: %q", err)
	}
	_, err = e.svc.PutManifest(ctx, reg, "team-a/web-app", "v1", "", imageManifest(digest.FromString("x")))
	wantKind(t, err, registry.KindRepositoryNotFound)
	if names, _, _ := e.svc.Catalog(ctx, reg, "", 10); len(names) != 0 {
		t.Fatalf("a refused push created %v", names)
	}

	auto := newEnv(t, registry.Config{CreateOnPush: true})
	auto.push(t, "team-a/web-app", "1.0", "a")
	if names, _, _ := auto.svc.Catalog(ctx, reg, "", 10); len(names) != 1 || names[0] != "team-a/web-app" {
		t.Fatalf("create-on-push: catalog %v", names)
	}
}

func TestRepositoryNames(t *testing.T) {
	e := newEnv(t, registry.Config{})
	for _, bad := range []string{"a", "Team/app", "team//app", "/app", "app/", "team/../etc", "-app", "app-", strings.Repeat("a", 257), "a..b"} {
		_, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: bad})
		wantKind(t, err, registry.KindNameInvalid)
	}
	for _, good := range []string{"ab", "team-a/web-app", "a.b_c-d/e/f", strings.Repeat("a", 256)} {
		if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: good}); err != nil {
			t.Fatalf("%q: %v", good, err)
		}
	}
	_, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "ab"})
	wantKind(t, err, registry.KindRepositoryExists)
}

func TestBlobsAreVisibleOnlyWhereMounted(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "one", "")
	e.repo(t, "two", "")
	cfg := e.blob(t, "one", "config")
	layer := e.blob(t, "one", "layer")
	_, err := e.svc.StatBlob(ctx, reg, "two", layer)
	wantKind(t, err, registry.KindBlobUnknown)
	_, err = e.svc.PutManifest(ctx, reg, "two", "v1", "", imageManifest(cfg, layer))
	wantKind(t, err, registry.KindManifestBlobUnknown)
	if _, err := e.svc.MountBlob(ctx, reg, "two", cfg, "one", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.MountBlob(ctx, reg, "two", layer, "", func(string) bool { return false }); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Fatalf("anonymous mount from a repository the caller may not read: %v", err)
	}
	if _, err := e.svc.MountBlob(ctx, reg, "two", layer, "", func(r string) bool { return r == "one" }); err != nil { // anonymous mount
		t.Fatal(err)
	}
	if _, err := e.svc.MountBlob(ctx, reg, "two", digest.FromString("nowhere"), "one", nil); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Fatalf("mount of a missing blob: %v", err)
	}
	if _, err := e.svc.PutManifest(ctx, reg, "two", "v1", "", imageManifest(cfg, layer)); err != nil {
		t.Fatal(err)
	}
}

func TestTagsMoveAndImmutability(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "mutable", registry.Mutable)
	e.repo(t, "fixed", registry.Immutable)
	first := e.push(t, "mutable", "latest", "1")
	second := e.push(t, "mutable", "latest", "2")
	m, err := e.svc.GetManifest(ctx, reg, "mutable", "latest", nil)
	if err != nil || m.Digest != second {
		t.Fatalf("latest = %v, %v; want the second push", m, err)
	}
	if _, err := e.svc.GetManifest(ctx, reg, "mutable", first.String(), nil); err != nil {
		t.Fatalf("the untagged first image must stay: %v", err)
	}

	v1 := e.push(t, "fixed", "v1", "1")
	res, err := e.svc.PutManifest(ctx, reg, "fixed", "v1", "", imageManifest(digest.FromString("config 1"), digest.FromString("layer 1")))
	if err != nil || !res.Unchanged || res.Digest != v1 {
		t.Fatalf("re-pushing the same image to an immutable tag: %+v, %v", res, err)
	}
	cfg, layer := e.blob(t, "fixed", "config 2"), e.blob(t, "fixed", "layer 2")
	_, err = e.svc.PutManifest(ctx, reg, "fixed", "v1", "", imageManifest(cfg, layer))
	wantKind(t, err, registry.KindImageTagAlreadyExists)
	if err.Error() != "The image tag 'v1' already exists in the 'fixed' repository and cannot be overwritten because the repository is immutable." {
		t.Fatalf("message: %q", err)
	}
	if m, _ := e.svc.GetManifest(ctx, reg, "fixed", "v1", nil); m.Digest != v1 {
		t.Fatal("immutable tag moved")
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t, registry.Config{Limits: registry.Limits{TagsPerImage: 2, LayersPerImage: 2, ManifestSize: 1024, ImagesPerRepository: 2, RepositoriesPerRegistry: 2}})
	e.repo(t, "app", "")
	d := e.push(t, "app", "a", "1")
	for _, tag := range []string{"b"} {
		if _, err := e.svc.PutManifest(ctx, reg, "app", tag, "", imageManifest(digest.FromString("config 1"), digest.FromString("layer 1"))); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.PutManifest(ctx, reg, "app", "c", "", imageManifest(digest.FromString("config 1"), digest.FromString("layer 1")))
	wantKind(t, err, registry.KindLimitExceeded)

	l := []digest.Digest{e.blob(t, "app", "l1"), e.blob(t, "app", "l2"), e.blob(t, "app", "l3")}
	cfg := e.blob(t, "app", "cfg")
	_, err = e.svc.PutManifest(ctx, reg, "app", "three", "", imageManifest(cfg, l...))
	wantKind(t, err, registry.KindManifestInvalid)

	big := append(imageManifest(cfg), bytes.Repeat([]byte(" "), 1024)...)
	_, err = e.svc.PutManifest(ctx, reg, "app", "big", "", big)
	wantKind(t, err, registry.KindSizeInvalid)

	e.push(t, "app", "second", "2")
	_, err = e.svc.PutManifest(ctx, reg, "app", "third", "", imageManifest(cfg, l[0]))
	wantKind(t, err, registry.KindLimitExceeded)
	if res, err := e.svc.PutManifest(ctx, reg, "app", d.String(), "", imageManifest(digest.FromString("config 1"), digest.FromString("layer 1"))); err != nil || !res.Unchanged {
		t.Fatalf("re-pushing an existing image at the image limit: %+v, %v", res, err)
	}

	e.repo(t, "other", "")
	_, err = e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "third"})
	wantKind(t, err, registry.KindLimitExceeded)
}

func TestDeleteTagAndManifest(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "")
	d := e.push(t, "app", "v1", "1")
	if _, err := e.svc.PutManifest(ctx, reg, "app", "latest", "", imageManifest(digest.FromString("config 1"), digest.FromString("layer 1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteTag(ctx, reg, "app", "latest"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetManifest(ctx, reg, "app", d.String(), nil); err != nil {
		t.Fatalf("image went with a tag that was not its last: %v", err)
	}
	if _, err := e.svc.DeleteTag(ctx, reg, "app", "v1"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.GetManifest(ctx, reg, "app", d.String(), nil)
	wantKind(t, err, registry.KindManifestUnknown)

	// An index keeps its children: they can't be deleted first, and deleting the index's tag keeps them.
	child := e.push(t, "app", child0, "c")
	if _, err := e.svc.DeleteTag(ctx, reg, "app", child0); err != nil {
		t.Fatal(err)
	}
	child = e.push(t, "app", child.String(), "c")
	idx, err := e.svc.PutManifest(ctx, reg, "app", "multi", "", indexManifest(child))
	if err != nil {
		t.Fatal(err)
	}
	wantKind(t, second(e.svc.DeleteManifest(ctx, reg, "app", child)), registry.KindImageReferenced)
	if _, err := e.svc.DeleteManifest(ctx, reg, "app", idx.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteManifest(ctx, reg, "app", child); err != nil {
		t.Fatal(err)
	}
	wantKind(t, second(e.svc.DeleteManifest(ctx, reg, "app", child)), registry.KindManifestUnknown)
}

const child0 = "child"

func TestIndexNeedsChildren(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "")
	_, err := e.svc.PutManifest(ctx, reg, "app", "multi", "", indexManifest(digest.FromString("absent")))
	wantKind(t, err, registry.KindManifestChildUnknown)
	// A child must be as the index describes it: its size and its media type.
	child := e.push(t, "app", "c1", "1")
	good := indexManifest(child)
	for _, bad := range [][]byte{
		bytes.Replace(good, []byte(fmt.Sprintf(`"size":%d`, sizeOf(child))), []byte(`"size":99999`), 1),
		bytes.Replace(good, []byte(`"mediaType":"application/vnd.oci.image.manifest.v1+json","digest"`), []byte(`"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest"`), 1),
	} {
		_, err = e.svc.PutManifest(ctx, reg, "app", "multi", "", bad)
		wantKind(t, err, registry.KindManifestInvalid)
	}
	if _, err := e.svc.PutManifest(ctx, reg, "app", "multi", "", good); err != nil {
		t.Fatal(err)
	}
}

func TestChunkedUploadSurvivesRestart(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "")
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	st, err := e.svc.StartUpload(ctx, reg, "app")
	if err != nil {
		t.Fatal(err)
	}
	if st, err = e.svc.WriteUpload(ctx, reg, "app", st.ID, 0, bytes.NewReader(data[:300000])); err != nil || st.Offset != 300000 {
		t.Fatalf("first chunk: %+v, %v", st, err)
	}
	e.close()
	e.open(t) // the server restarts
	if n, err := e.svc.RemoveAbandonedUploads(ctx); err != nil || n != 0 {
		t.Fatalf("restart cleanup removed %d live uploads: %v", n, err)
	}
	_, err = e.svc.WriteUpload(ctx, reg, "app", st.ID, 0, bytes.NewReader(data[:10]))
	wantKind(t, err, registry.KindRangeInvalid)
	if st, err = e.svc.WriteUpload(ctx, reg, "app", st.ID, 300000, bytes.NewReader(data[300000:700000])); err != nil {
		t.Fatal(err)
	}
	if st, err = e.svc.WriteUpload(ctx, reg, "app", st.ID, registry.AppendAtEnd, bytes.NewReader(data[700000:900000])); err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(data)
	if _, err := e.svc.CompleteUpload(ctx, reg, "app", st.ID, d, 900000, bytes.NewReader(data[900000:])); err != nil {
		t.Fatal(err)
	}
	_, rc, err := e.svc.OpenBlob(ctx, reg, "app", d)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("blob bytes differ")
	}
	_, err = e.svc.UploadStatus(ctx, reg, "app", st.ID)
	wantKind(t, err, registry.KindUploadUnknown)
}

func TestUploadDigestRules(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "")
	e.repo(t, "other", "")
	data := []byte("some layer bytes")

	// sha512 for an upload hashed as sha256 so far: the bytes are read again.
	st, _ := e.svc.StartUpload(ctx, reg, "app")
	e.svc.WriteUpload(ctx, reg, "app", st.ID, 0, bytes.NewReader(data))
	d512 := digest.SHA512.FromBytes(data)
	if _, err := e.svc.CompleteUpload(ctx, reg, "app", st.ID, d512, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.StatBlob(ctx, reg, "app", d512); err != nil {
		t.Fatal(err)
	}

	// A wrong digest cancels the upload and shows nothing.
	st, _ = e.svc.StartUpload(ctx, reg, "app")
	wrong := digest.FromString("something else")
	_, err := e.svc.CompleteUpload(ctx, reg, "app", st.ID, wrong, 0, bytes.NewReader(data))
	wantKind(t, err, registry.KindDigestInvalid)
	_, err = e.svc.StatBlob(ctx, reg, "app", wrong)
	wantKind(t, err, registry.KindBlobUnknown)
	_, err = e.svc.StatBlob(ctx, reg, "app", digest.FromBytes(data))
	wantKind(t, err, registry.KindBlobUnknown)
	_, err = e.svc.UploadStatus(ctx, reg, "app", st.ID)
	wantKind(t, err, registry.KindUploadUnknown)
	if ids, _ := e.blobs.Uploads(ctx); len(ids) != 0 {
		t.Fatalf("upload files left: %v", ids)
	}

	// An upload belongs to its repository.
	st, _ = e.svc.StartUpload(ctx, reg, "app")
	_, err = e.svc.WriteUpload(ctx, reg, "other", st.ID, 0, bytes.NewReader(data))
	wantKind(t, err, registry.KindUploadUnknown)

	// Monolithic upload with a mismatching digest.
	_, err = e.svc.PutBlob(ctx, reg, "app", wrong, bytes.NewReader(data))
	wantKind(t, err, registry.KindDigestInvalid)
	if ids, _ := e.blobs.Uploads(ctx); len(ids) != 0 { // the open session above has written nothing
		t.Fatalf("upload files: %v", ids)
	}
}

func TestGarbageCollection(t *testing.T) {
	e := newEnv(t, registry.Config{GCGrace: time.Hour})
	e.repo(t, "app", "")
	e.repo(t, "other", "")
	keep := e.push(t, "app", "keep", "keep")
	gone := e.push(t, "app", "gone", "gone")
	if _, err := e.svc.MountBlob(ctx, reg, "other", digest.FromString("layer gone"), "app", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteManifest(ctx, reg, "app", gone); err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.CollectGarbage(ctx)
	if err != nil || st.BlobsDeleted != 0 {
		t.Fatalf("young blobs collected: %+v, %v", st, err)
	}
	e.clock.Advance(2 * time.Hour)
	young := e.blob(t, "app", "pushed just now, manifest still to come")
	st, err = e.svc.CollectGarbage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// "config gone" is freed; "layer gone" is still mounted... until its link in "other" expires too,
	// which it has (mounted two hours ago, no image uses it there).
	if st.BlobsDeleted != 2 || st.LinksRemoved != 3 {
		t.Fatalf("stats %+v; want 2 blobs and 3 links (app: config+layer, other: layer)", st)
	}
	for _, d := range []digest.Digest{digest.FromString("config gone"), digest.FromString("layer gone")} {
		if _, err := e.blobs.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("blob %s still stored: %v", d, err)
		}
	}
	for _, d := range []digest.Digest{digest.FromString("config keep"), digest.FromString("layer keep"), young} {
		if _, err := e.blobs.Stat(ctx, d); err != nil {
			t.Fatalf("blob %s lost: %v", d, err)
		}
	}
	if _, rc, err := e.svc.OpenBlob(ctx, reg, "app", digest.FromString("layer keep")); err != nil {
		t.Fatal(err)
	} else {
		rc.Close()
	}
	if _, err := e.svc.GetManifest(ctx, reg, "app", keep.String(), nil); err != nil {
		t.Fatal(err)
	}
	// Re-pushing a collected blob works.
	e.push(t, "app", "gone-again", "gone")
}

func TestIdleUploadsExpire(t *testing.T) {
	e := newEnv(t, registry.Config{UploadTTL: time.Hour})
	e.repo(t, "app", "")
	st, _ := e.svc.StartUpload(ctx, reg, "app")
	e.svc.WriteUpload(ctx, reg, "app", st.ID, 0, strings.NewReader("partial"))
	e.clock.Advance(2 * time.Hour)
	gs, err := e.svc.CollectGarbage(ctx)
	if err != nil || gs.UploadsPurged != 1 {
		t.Fatalf("%+v, %v", gs, err)
	}
	if ids, _ := e.blobs.Uploads(ctx); len(ids) != 0 {
		t.Fatalf("upload files left: %v", ids)
	}
}

// TestGarbageCollectionDuringPushes runs collections with a tiny grace period against pushes that keep
// re-using the same blobs: a push may be refused cleanly, but no stored image may reference a missing blob.
func TestGarbageCollectionDuringPushes(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.svc.Close()
	e.svc = registry.New(e.meta, e.blobs, clock.Real{}, registry.Config{GCGrace: 10 * time.Millisecond, Limits: registry.Limits{ImagesPerRepository: 100000}}, nil)
	e.repo(t, "app", "")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var collected, pushed, refused int
	stopped := false
	halt := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer halt()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			st, err := e.svc.CollectGarbage(ctx)
			if err != nil {
				t.Errorf("gc: %v", err)
				return
			}
			collected += st.BlobsDeleted
		}
	}()
	for i := 0; i < 300; i++ {
		seed := fmt.Sprint(i % 30)
		cfg := digest.FromString("config " + seed)
		layer := digest.FromString("layer " + seed)
		_, err1 := e.svc.PutBlob(ctx, reg, "app", cfg, strings.NewReader("config "+seed))
		_, err2 := e.svc.PutBlob(ctx, reg, "app", layer, strings.NewReader("layer "+seed))
		blobSizes.Store(cfg, len("config "+seed))
		blobSizes.Store(layer, len("layer "+seed))
		if err := errors.Join(err1, err2); err != nil {
			wantKind(t, err, registry.KindTryAgain)
			refused++
			continue
		}
		res, err := e.svc.PutManifest(ctx, reg, "app", fmt.Sprintf("t%d", i), "", imageManifest(cfg, layer))
		if err != nil {
			wantKind(t, err, registry.KindManifestBlobUnknown) // the collector took a blob first
			refused++
			continue
		}
		pushed++
		if i%2 == 0 {
			if _, err := e.svc.DeleteManifest(ctx, reg, "app", res.Digest); err != nil && !errors.Is(err, registry.ErrManifestUnknown) {
				t.Fatal(err)
			}
		}
	}
	halt()
	if pushed == 0 || collected == 0 {
		t.Fatalf("pushed %d, collected %d: the race was not exercised", pushed, collected)
	}
	t.Logf("pushed %d, refused %d, blobs collected %d", pushed, refused, collected)
	tags, _, err := e.svc.ListTags(ctx, reg, "app", "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		m, err := e.svc.GetManifest(ctx, reg, "app", tag, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkImageBlobs(t, e, m.Content)
	}
}

// checkImageBlobs asserts every blob an image manifest names is visible and stored.
func checkImageBlobs(t *testing.T, e *env, manifest []byte) {
	t.Helper()
	for _, part := range strings.Split(string(manifest), `"digest":"`)[1:] {
		d := digest.Digest(part[:strings.IndexByte(part, '"')])
		if _, err := e.svc.StatBlob(ctx, reg, "app", d); err != nil {
			t.Fatalf("image references blob %s not in its repository: %v", d, err)
		}
		if _, err := e.blobs.Stat(ctx, d); err != nil {
			t.Fatalf("image references blob %s missing from storage: %v", d, err)
		}
	}
}

// TestManifestCache: changes through the same service show at once; changes by another process sharing
// the store (a CLI command, another node) show within the cache TTL.
func TestManifestCache(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "")
	d1 := e.push(t, "app", "v1", "1")
	other := registry.New(e.meta, e.blobs, e.clock, registry.Config{}, nil)
	defer other.Close()
	get := func(svc *registry.Service) digest.Digest {
		m, err := svc.GetManifest(ctx, reg, "app", "v1", []string{"arn:aws:iam::000000000000:user/puller"})
		if err != nil {
			t.Fatal(err)
		}
		return m.Digest
	}
	if get(e.svc) != d1 {
		t.Fatal("first read")
	}
	d2 := e.push(t, "app", "v1", "2") // through the same service
	if get(e.svc) != d2 {
		t.Fatal("own write not visible at once")
	}
	cfg, layer := digest.FromString("config 3"), digest.FromString("layer 3")
	for _, c := range []string{"config 3", "layer 3"} {
		if _, err := other.PutBlob(ctx, reg, "app", digest.FromString(c), strings.NewReader(c)); err != nil {
			t.Fatal(err)
		}
		blobSizes.Store(digest.FromString(c), len(c))
	}
	res, err := other.PutManifest(ctx, reg, "app", "v1", "", imageManifest(cfg, layer))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(1100 * time.Millisecond)
	if got := get(e.svc); got != res.Digest {
		t.Fatalf("another writer's tag move not visible after the TTL: %s", got)
	}
	if tags, _, _ := e.svc.ListTags(ctx, reg, "app", "", 10); len(tags) != 1 {
		t.Fatalf("tags %v", tags)
	}
	if _, err := other.DeleteTag(ctx, reg, "app", "v1"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(1100 * time.Millisecond)
	if tags, _, _ := e.svc.ListTags(ctx, reg, "app", "", 10); len(tags) != 0 {
		t.Fatalf("deleted tag still listed after the TTL: %v", tags)
	}
}

func second[T any](_ T, err error) error { return err }

// TestPutImageDigestMustMatch: a digest given with a tag must be the manifest's; a mismatch stores nothing.
func TestPutImageDigestMustMatch(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "MUTABLE")
	body := imageManifest(e.blob(t, "app", "config x"), e.blob(t, "app", "layer x"))
	wrong := digest.FromString("another manifest")
	_, err := e.svc.PutImage(ctx, reg, "app", registry.ImageRef{Digest: wrong, Tag: "v1"}, "application/vnd.oci.image.manifest.v1+json", body)
	wantKind(t, err, registry.KindManifestDigestMismatch)
	if _, err := e.svc.FindImage(ctx, reg, "app", registry.ImageRef{Tag: "v1"}); registry.KindOf(err) != registry.KindManifestUnknown {
		t.Fatalf("a mismatching PutImage tagged something: %v", err)
	}
	res, err := e.svc.PutImage(ctx, reg, "app", registry.ImageRef{Digest: digest.FromBytes(body), Tag: "v1"}, "application/vnd.oci.image.manifest.v1+json", body)
	if err != nil || res.Digest != digest.FromBytes(body) {
		t.Fatalf("PutImage with its own digest: %v", err)
	}
}

// TestUploadClaimedAcrossProcesses: with shared blob storage, a chunk for an upload another process is
// writing is refused and changes nothing; once that process is done, the chunk goes in.
func TestUploadClaimedAcrossProcesses(t *testing.T) {
	e := newEnv(t, registry.Config{SharedBlobs: true})
	e.repo(t, "app", "MUTABLE")
	st, err := e.svc.StartUpload(ctx, reg, "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.WriteUpload(ctx, reg, "app", st.ID, 0, strings.NewReader("first ")); err != nil {
		t.Fatal(err)
	}
	if err := e.meta.Update(ctx, func(tx store.Tx) error { // another node is writing a chunk
		_, err := tx.AcquireLease("upload/"+st.ID, "another-node", e.clock.Now(), 5*time.Minute)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.WriteUpload(ctx, reg, "app", st.ID, 6, strings.NewReader("second"))
	wantKind(t, err, registry.KindUploadInvalid)
	_, err = e.svc.CompleteUpload(ctx, reg, "app", st.ID, digest.FromString("first second"), 6, strings.NewReader("second"))
	wantKind(t, err, registry.KindUploadInvalid)
	if got, _ := e.svc.UploadStatus(ctx, reg, "app", st.ID); got.Offset != 6 {
		t.Fatalf("a refused chunk changed the upload: offset %d", got.Offset)
	}
	e.meta.Update(ctx, func(tx store.Tx) error { return tx.ReleaseLease("upload/"+st.ID, "another-node") })
	info, err := e.svc.CompleteUpload(ctx, reg, "app", st.ID, digest.FromString("first second"), 6, strings.NewReader("second"))
	if err != nil || info.Size != 12 {
		t.Fatalf("after the other writer: %v, %+v", err, info)
	}
}

// TestDefaultLimitsAreECRQuotas: unless configured, the limits are ECR's current default service quotas.
func TestDefaultLimitsAreECRQuotas(t *testing.T) {
	e := newEnv(t, registry.Config{})
	got := e.svc.Limits()
	want := registry.Limits{RepositoriesPerRegistry: 100000, ImagesPerRepository: 100000, TagsPerImage: 1000, LayersPerImage: 10000, ManifestSize: 4 << 20,
		CreationTemplatesPerRegistry: 100, PullThroughCacheRulesPerRegistry: 50}
	if got != want {
		t.Fatalf("default limits %+v, want %+v", got, want)
	}
	if registry.MaxLayerParts != 4200 || registry.MaxLayerSize != 52000<<20 || registry.MinLayerPart != 5<<20 || registry.MaxLayerPart != 10<<20 {
		t.Fatal("the layer-part quotas are not ECR's")
	}
}
