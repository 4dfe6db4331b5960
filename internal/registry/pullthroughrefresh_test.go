package registry_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/upstream"
)

// movingUpstream serves images whose tag v1 the test moves, and can be made to fail: status, when not
// 200, answers every request. It counts the HEAD and GET requests of the tag's manifest.
type movingUpstream struct {
	srv       *httptest.Server
	mu        sync.Mutex
	files     map[string][]byte
	tag       string // the digest v1 names
	status    int
	hold      func(path string) // when set, called before each answer
	heads     atomic.Int32
	tagGets   atomic.Int32
	manifests []string // digests of the images, by number
}

func newMovingUpstream(t *testing.T, images int) *movingUpstream {
	u := &movingUpstream{files: map[string][]byte{}, status: http.StatusOK}
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	u.files["/v2/lib/app/blobs/"+digest.FromBytes(config).String()] = config
	for i := range images {
		layer := []byte(fmt.Sprintf("the bytes of layer %d", i))
		m := upstreamManifest(config, layer)
		d := digest.FromString(m).String()
		u.files["/v2/lib/app/manifests/"+d] = []byte(m)
		u.files["/v2/lib/app/blobs/"+digest.FromBytes(layer).String()] = layer
		u.manifests = append(u.manifests, d)
	}
	u.tag = u.manifests[0]
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		status, path := u.status, r.URL.Path
		if path == "/v2/lib/app/manifests/v1" {
			path = "/v2/lib/app/manifests/" + u.tag
			if r.Method == http.MethodHead {
				u.heads.Add(1)
			} else {
				u.tagGets.Add(1)
			}
		}
		body, ok := u.files[path]
		hold := u.hold
		u.mu.Unlock()
		if hold != nil {
			hold(path)
		}
		if status != http.StatusOK {
			w.WriteHeader(status)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.Contains(path, "/manifests/") {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", digest.FromBytes(body).String())
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *movingUpstream) set(tag string, status int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.tag, u.status = tag, status
}

// fetchLog keeps what the core observed of its upstreams.
type fetchLog struct {
	mu     sync.Mutex
	events []registry.UpstreamFetch
}

func (l *fetchLog) observe(ev registry.UpstreamFetch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

func (l *fetchLog) results() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ev := range l.events {
		out = append(out, ev.Result)
	}
	return out
}

// TestTagRefresh: a pulled tag is checked upstream (HEAD) at most once per refresh interval, on any node
// (the time it was checked is in the store); a tag that moved there is fetched anew and moved here; an
// upstream that fails or rate-limits leaves the cached image served; pulls by digest are never checked.
func TestTagRefresh(t *testing.T) {
	var log fetchLog
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0),
		Refresh: time.Hour, Observe: log.observe}})
	u := newMovingUpstream(t, 2)
	a, b := u.manifests[0], u.manifests[1]
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: u.srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	// The imports are recorded for the calls that caused them (the audit trail, through the pipeline).
	var imports []string
	rctx := registry.WithRecorder(ctx, func(action, repository string, input, output any, err error) {
		in := input.(map[string]any)
		imports = append(imports, fmt.Sprint(action, " ", repository, " ", in["upstreamRepositoryName"], ":", in["imageReference"], " ", output, " ", err != nil))
	})
	pull := func(svc *registry.Service, ref, want string) {
		t.Helper()
		info, err := svc.GetManifestAs(rctx, reg, "up/lib/app", ref, nil, nil)
		if err != nil || info.Digest.String() != want {
			t.Fatalf("pull of %s: %v, %v; want %s", ref, info, err, want)
		}
		if err := svc.PullThrough(ctx, reg, "up/lib/app", ref); err != nil { // waits for a fetch to be stored
			t.Fatal(err)
		}
	}
	stored := func(want string) {
		t.Helper()
		if img, err := e.svc.FindImage(ctx, reg, "up/lib/app", registry.ImageRef{Tag: "v1"}); err != nil || img.Digest.String() != want {
			t.Fatalf("v1 here: %+v, %v; want %s", img, err, want)
		}
	}
	pull(e.svc, "v1", a)
	stored(a)

	// Moved upstream: before the interval the cached image, without asking the upstream.
	u.set(b, http.StatusOK)
	e.clock.Advance(59 * time.Minute)
	pull(e.svc, "v1", a)
	if n := u.heads.Load(); n != 0 {
		t.Fatalf("the upstream was asked %d times within the interval", n)
	}
	// After it, the new image, fetched once; then no more checks within the interval.
	e.clock.Advance(2 * time.Minute)
	pull(e.svc, "v1", b)
	stored(b)
	pull(e.svc, "v1", b)
	if h, g := u.heads.Load(), u.tagGets.Load(); h != 1 || g != 2 {
		t.Fatalf("%d checks, %d fetches of the tag; want 1, 2", h, g)
	}

	// Another node over the same store: the tag was checked; it does not ask again.
	other := registry.New(e.meta, e.blobs, e.clock, e.cfg, nil)
	defer other.Close()
	pull(other, "v1", b)
	if n := u.heads.Load(); n != 1 {
		t.Fatalf("the other node checked the tag again: %d checks", n)
	}

	// The upstream down, refusing or rate-limiting: the cached image, no error.
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusForbidden} {
		u.set(a, status)
		e.clock.Advance(61 * time.Minute)
		pull(e.svc, "v1", b)
		stored(b)
	}
	u.srv.Close()
	e.clock.Advance(61 * time.Minute)
	pull(e.svc, "v1", b)

	// Pulls by digest are never checked.
	heads := u.heads.Load()
	e.clock.Advance(61 * time.Minute)
	pull(e.svc, a, a)
	pull(e.svc, b, b)
	if u.heads.Load() != heads {
		t.Fatal("a pull by digest checked the upstream")
	}

	want := []string{registry.FetchFetched, registry.FetchRefreshed, registry.FetchUnavailable, registry.FetchThrottled,
		registry.FetchDenied, registry.FetchUnavailable}
	if got := log.results(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("observed %v; want %v", got, want)
	}
	wantImports := []string{
		"ecr:BatchImportUpstreamImage up/lib/app lib/app:v1 map[imageId:map[imageDigest:" + a + "] result:fetched] false",
		"ecr:BatchImportUpstreamImage up/lib/app lib/app:v1 map[imageId:map[imageDigest:" + b + "] result:refreshed] false",
	}
	if fmt.Sprint(imports) != fmt.Sprint(wantImports) {
		t.Fatalf("recorded %q; want %q", imports, wantImports)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if ev := log.events[1]; !ev.Refresh || ev.Digest.String() != b || ev.Bytes == 0 || ev.UpstreamRepository != "lib/app" {
		t.Fatalf("the refresh observed: %+v", ev)
	}
}

// TestTagRefreshKeepsAPushMeanwhile: a tag that moved upstream is fetched anew, but a push of the tag here
// while the new image's blobs arrive is newer than the check: the fetch leaves the tag to it.
func TestTagRefreshKeepsAPushMeanwhile(t *testing.T) {
	var log fetchLog
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0),
		Refresh: time.Hour, Observe: log.observe}})
	u := newMovingUpstream(t, 2)
	a, b := u.manifests[0], u.manifests[1]
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: u.srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	if info, err := e.svc.GetManifestAs(ctx, reg, "up/lib/app", "v1", nil, nil); err != nil || info.Digest.String() != a {
		t.Fatalf("first pull: %v %v", info, err)
	}
	if err := e.svc.PullThrough(ctx, reg, "up/lib/app", "v1"); err != nil {
		t.Fatal(err)
	}

	// v1 moves upstream to b; the check fetches b, whose layer waits for the gate.
	gate := make(chan struct{})
	newLayer := "/v2/lib/app/blobs/" + digest.FromString("the bytes of layer 1").String()
	u.mu.Lock()
	u.hold = func(path string) {
		if path == newLayer {
			<-gate
		}
	}
	u.mu.Unlock()
	u.set(b, http.StatusOK)
	e.clock.Advance(61 * time.Minute)
	if info, err := e.svc.GetManifestAs(ctx, reg, "up/lib/app", "v1", nil, nil); err != nil || info.Digest.String() != b {
		t.Fatalf("the pull that found v1 moved: %v %v", info, err)
	}
	// Meanwhile, a push of v1 here.
	pushed := e.push(t, "up/lib/app", "v1", "pushed here")
	close(gate)
	for deadline := time.Now().Add(10 * time.Second); len(log.results()) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the refresh did not end: %v", log.results())
		}
	}
	if img, err := e.svc.FindImage(ctx, reg, "up/lib/app", registry.ImageRef{Tag: "v1"}); err != nil || img.Digest != pushed {
		t.Fatalf("v1 here: %+v, %v; want the push %s", img, err, pushed)
	}
	if got := log.results(); got[1] != registry.FetchUnchanged {
		t.Fatalf("observed %v", got)
	}
}

// TestFirstPullsFetchOnceAcrossNodes: concurrent first pulls through two nodes over one store fetch the
// image from the upstream once (the node without the fetch's lease waits for the image to be stored);
// a lease whose holder died is taken over once it expires.
func TestFirstPullsFetchOnceAcrossNodes(t *testing.T) {
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0)}})
	other := registry.New(e.meta, e.blobs, e.clock, e.cfg, nil)
	defer other.Close()
	srv, want, count := staticUpstream(t, false)
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	nodes := []*registry.Service{e.svc, other}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, err := nodes[i%2].GetManifestAs(ctx, reg, "up/lib/app", "v1", nil, nil)
			if err == nil && info.Digest.String() != want {
				err = fmt.Errorf("digest %s, want %s", info.Digest, want)
			}
			if err == nil {
				err = nodes[i%2].PullThrough(ctx, reg, "up/lib/app", "v1")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a first pull: %v", err)
		}
	}
	for _, n := range nodes {
		if img, err := n.FindImage(ctx, reg, "up/lib/app", registry.ImageRef{Tag: "v1"}); err != nil || img.Digest.String() != want {
			t.Fatalf("the image stored: %+v, %v", img, err)
		}
	}
	if n := count("/v2/lib/app/manifests/v1"); n != 1 {
		t.Fatalf("the manifest was fetched %d times", n)
	}
	layer := "/v2/lib/app/blobs/" + digest.FromString("the layer's bytes").String()
	if n := count(layer); n != 1 {
		t.Fatalf("the layer was fetched %d times", n)
	}

	// A node that died holding the lease of a fetch: the others wait until it expires, then fetch.
	if err := e.meta.Update(ctx, func(tx store.Tx) error {
		_, err := tx.AcquireLease(registry.FetchLeaseName(reg, "up/lib/app", "multi"), "dead", e.clock.Now(), time.Minute)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- other.PullThrough(ctx, reg, "up/lib/app", "multi") }()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the pull did not wait for the lease: %v", err)
	default:
	}
	if n := count("/v2/lib/app/manifests/multi"); n != 0 {
		t.Fatalf("fetched under another's lease: %d", n)
	}
	e.clock.Advance(61 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := count("/v2/lib/app/manifests/multi"); n != 1 {
		t.Fatalf("the index was fetched %d times", n)
	}
}

// TestReferrersPullThrough: the referrers API of a cached image fetches the referrers upstream (an
// artifact whose subject is the image), once per refresh interval; an upstream without referrers, or
// down, leaves those held.
func TestReferrersPullThrough(t *testing.T) {
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0), Refresh: time.Hour}})
	u := newMovingUpstream(t, 1)
	subject := u.manifests[0]
	empty := []byte("{}")
	sig := []byte("a signature")
	art := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sig","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.example.sig","digest":"%s","size":%d}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d}}`,
		digest.FromBytes(empty), digest.FromBytes(sig), len(sig), subject, len(u.files["/v2/lib/app/manifests/"+subject]))
	artDigest := digest.FromString(art)
	index := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"artifactType":"application/vnd.example.sig"}]}`,
		artDigest, len(art))
	u.mu.Lock()
	u.files["/v2/lib/app/manifests/"+artDigest.String()] = []byte(art)
	u.files["/v2/lib/app/blobs/"+digest.FromBytes(empty).String()] = empty
	u.files["/v2/lib/app/blobs/"+digest.FromBytes(sig).String()] = sig
	u.files["/v2/lib/app/referrers/"+subject] = []byte(index)
	u.mu.Unlock()
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: u.srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PullThrough(ctx, reg, "up/lib/app", "v1"); err != nil {
		t.Fatal(err)
	}
	refs, err := e.svc.Referrers(ctx, reg, "up/lib/app", digest.Digest(subject), "")
	if err != nil || len(refs) != 1 || refs[0].Digest != artDigest || refs[0].ArtifactType != "application/vnd.example.sig" {
		t.Fatalf("referrers: %+v, %v", refs, err)
	}
	// The upstream down, those held are served.
	u.set(subject, http.StatusServiceUnavailable)
	e.clock.Advance(2 * time.Hour)
	if refs, err := e.svc.Referrers(ctx, reg, "up/lib/app", digest.Digest(subject), ""); err != nil || len(refs) != 1 {
		t.Fatalf("referrers with the upstream down: %+v, %v", refs, err)
	}
}

// TestReferrersPullThroughBounded: an upstream that lists more referrers of an image than a check fetches
// has the first of them fetched at once, and those it lacks still at the next check; the referrers API
// answers in the meantime.
func TestReferrersPullThroughBounded(t *testing.T) {
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0), Refresh: time.Hour}})
	u := newMovingUpstream(t, 1)
	subject := u.manifests[0]
	empty := []byte("{}")
	n := registry.MaxUpstreamReferrers + 10
	var descs []string
	u.mu.Lock()
	u.files["/v2/lib/app/blobs/"+digest.FromBytes(empty).String()] = empty
	for i := range n {
		art := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sig","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2}],"annotations":{"n":"%d"},"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d}}`,
			digest.FromBytes(empty), digest.FromBytes(empty), i, subject, len(u.files["/v2/lib/app/manifests/"+subject]))
		d := digest.FromString(art)
		u.files["/v2/lib/app/manifests/"+d.String()] = []byte(art)
		descs = append(descs, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"artifactType":"application/vnd.example.sig"}`, d, len(art)))
	}
	u.files["/v2/lib/app/referrers/"+subject] = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + strings.Join(descs, ",") + `]}`)
	u.mu.Unlock()
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: u.srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PullThrough(ctx, reg, "up/lib/app", "v1"); err != nil {
		t.Fatal(err)
	}
	refs, err := e.svc.Referrers(ctx, reg, "up/lib/app", digest.Digest(subject), "")
	if err != nil || len(refs) != registry.MaxUpstreamReferrers {
		t.Fatalf("referrers after the first check: %d, %v", len(refs), err)
	}
	e.clock.Advance(2 * time.Hour)
	if refs, err := e.svc.Referrers(ctx, reg, "up/lib/app", digest.Digest(subject), ""); err != nil || len(refs) != n {
		t.Fatalf("referrers after the next check: %d, %v", len(refs), err)
	}
}

// TestTagRefreshNotStarvedByNonImporters: a pull by a caller who may not import leaves a due check to the
// next pull, which, by a caller who may, gets the tag's new image at once.
func TestTagRefreshNotStarvedByNonImporters(t *testing.T) {
	e, _ := ptcEnv(t, registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true, Dial: upstream.Dial(0), Refresh: time.Hour}})
	u := newMovingUpstream(t, 2)
	a, b := u.manifests[0], u.manifests[1]
	if _, err := e.svc.CreatePullThroughCacheRule(ctx, registry.PullThroughCacheRule{RegistryID: reg, Prefix: "up", UpstreamURL: u.srv.URL}, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PullThrough(ctx, reg, "up/lib/app", "v1"); err != nil {
		t.Fatal(err)
	}
	u.set(b, http.StatusOK)
	e.clock.Advance(61 * time.Minute)
	reader := registry.WithAuthorizer(ctx, func(action, repo string) error {
		if action == "ecr:BatchImportUpstreamImage" {
			return errors.New("denied")
		}
		return nil
	})
	if info, err := e.svc.GetManifestAs(reader, reg, "up/lib/app", "v1", nil, nil); err != nil || info.Digest.String() != a {
		t.Fatalf("reader: %v %v", info, err)
	}
	if info, err := e.svc.GetManifestAs(ctx, reg, "up/lib/app", "v1", nil, nil); err != nil || info.Digest.String() != b {
		t.Fatalf("importer after a reader: %v %v; want %s", info, err, b)
	}
}
