package registry_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/upstream"
)

// TestFirstPullBlobsOnAnotherNode: a pull whose manifest one node fetches and answers while its blobs
// are on their way, and whose blob requests reach another node: that node waits for each blob until it
// is stored, then serves it; a blob whose fetch fails is unknown there, and one nobody fetches is unknown
// at once.
func TestFirstPullBlobsOnAnotherNode(t *testing.T) {
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0)}})
	other := registry.New(e.meta, e.blobs, e.clock, e.cfg, nil)
	defer other.Close()
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	good, bad := bytes.Repeat([]byte("g"), 64<<10), bytes.Repeat([]byte("b"), 64<<10)
	image := func(layer []byte) string {
		return upstreamManifest(config, layer)
	}
	gates := map[string]chan struct{}{"v1": make(chan struct{}), "v2": make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/lib/app/manifests/v1", "/v2/lib/app/manifests/v2":
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			fmt.Fprint(w, image(map[string][]byte{"v1": good, "v2": bad}[r.URL.Path[len(r.URL.Path)-2:]]))
		case "/v2/lib/app/blobs/" + digest.FromBytes(config).String():
			w.Write(config)
		case "/v2/lib/app/blobs/" + digest.FromBytes(good).String():
			<-gates["v1"]
			w.Write(good)
		case "/v2/lib/app/blobs/" + digest.FromBytes(bad).String():
			<-gates["v2"]
			w.Write(good) // not the bytes of its digest: the fetch fails
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: srv.URL}, ""); err != nil {
		t.Fatal(err)
	}

	type read struct {
		content []byte
		err     error
	}
	// readOn reads a blob on the other node, its size first (HEAD) then its bytes (GET).
	readOn := func(d digest.Digest) <-chan read {
		c := make(chan read, 1)
		go func() {
			if _, err := other.StatBlob(ctx, reg, "up/lib/app", d); err != nil {
				c <- read{err: err}
				return
			}
			_, rc, err := other.OpenBlob(ctx, reg, "up/lib/app", d)
			if err != nil {
				c <- read{err: err}
				return
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			c <- read{b, err}
		}()
		return c
	}
	waiting := func(c <-chan read) {
		t.Helper()
		select {
		case r := <-c:
			t.Fatalf("the read did not wait for the blob: %d bytes, %v", len(r.content), r.err)
		case <-time.After(300 * time.Millisecond):
		}
	}

	if _, err := e.svc.GetManifestAs(ctx, reg, "up/lib/app", "v1", nil, nil); err != nil {
		t.Fatalf("the manifest, before its blobs: %v", err)
	}
	c := readOn(digest.FromBytes(good))
	waiting(c)
	close(gates["v1"])
	if r := <-c; r.err != nil || !bytes.Equal(r.content, good) {
		t.Fatalf("the blob, once fetched: %d bytes, %v", len(r.content), r.err)
	}
	if err := e.svc.PullThrough(ctx, reg, "up/lib/app", "v1"); err != nil {
		t.Fatal(err)
	}

	// A fetch that fails: the read ends, with the blob unknown.
	if _, err := e.svc.GetManifestAs(ctx, reg, "up/lib/app", "v2", nil, nil); err != nil {
		t.Fatalf("the manifest, before its blobs: %v", err)
	}
	c = readOn(digest.FromBytes(bad))
	waiting(c)
	close(gates["v2"])
	select {
	case r := <-c:
		wantPTCKind(t, "a blob whose fetch failed", r.err, registry.KindBlobUnknown)
	case <-time.After(30 * time.Second):
		t.Fatal("the read still waits for a blob whose fetch failed")
	}

	// A blob nobody fetches; and no lease is left behind by the fetches.
	wantPTCKind(t, "a blob nobody fetches", (<-readOn(digest.FromString("nothing"))).err, registry.KindBlobUnknown)
	for _, d := range []digest.Digest{digest.FromBytes(config), digest.FromBytes(good), digest.FromBytes(bad)} {
		if err := e.meta.Update(ctx, func(tx store.Tx) error {
			ok, err := tx.AcquireLease(registry.BlobLeaseName(reg, "up/lib/app", d), "test", e.clock.Now(), time.Minute)
			if err == nil && !ok {
				err = fmt.Errorf("the lease on blob %s is still held", d)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBlobWaitsShareADeadline: a call that looks up many blobs being fetched elsewhere (a batch check of
// layers) waits for them all at most its shared time, not each the longest wait.
func TestBlobWaitsShareADeadline(t *testing.T) {
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0)}})
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: "http://127.0.0.1:1"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "up/lib/app"}); err != nil {
		t.Fatal(err)
	}
	// Another node fetches these blobs (it holds their leases) and never stores them.
	var blobs []digest.Digest
	for i := range 5 {
		d := digest.FromString(fmt.Sprint("being fetched ", i))
		blobs = append(blobs, d)
		if err := e.meta.Update(ctx, func(tx store.Tx) error {
			_, err := tx.AcquireLease(registry.BlobLeaseName(reg, "up/lib/app", d), "another node", e.clock.Now(), time.Hour)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	batch := registry.WithBlobWaitsFor(ctx, 300*time.Millisecond)
	start := time.Now()
	for _, d := range blobs {
		_, err := e.svc.StatBlob(batch, reg, "up/lib/app", d)
		wantPTCKind(t, "a blob being fetched past the batch's time", err, registry.KindBlobUnknown)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("five waits took %v, not one shared 300ms", took)
	}
}
