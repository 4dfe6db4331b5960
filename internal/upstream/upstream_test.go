package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/registry"
)

// TestGet: Get authenticates with a token of the repository's pull scope from the challenge's realm,
// reuses it, and answers the upstream's content or the core's cause of what it answered instead.
func TestGet(t *testing.T) {
	var tokens atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "pw" || r.URL.Query().Get("scope") != "repository:lib/app:pull" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			tokens.Add(1)
			fmt.Fprint(w, `{"access_token":"tok"}`)
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="up"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/v2/lib/app/manifests/v1":
			if r.Header.Get("Accept") != "application/vnd.oci.image.manifest.v1+json" {
				http.Error(w, "accept", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", "sha256:abc")
			fmt.Fprint(w, "{}")
		case "/v2/lib/app/manifests/denied":
			w.WriteHeader(http.StatusForbidden)
		case "/v2/lib/app/manifests/busy":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/v2/lib/app/manifests/broken":
			w.WriteHeader(http.StatusBadGateway)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	c := Dial(0)(base, &registry.UpstreamCredentials{Username: "alice", AccessToken: "pw"})
	ctx := context.Background()

	res, err := c.Get(ctx, "lib/app", "/manifests/v1", "application/vnd.oci.image.manifest.v1+json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "{}" || res.ContentType != "application/vnd.oci.image.manifest.v1+json" || res.Digest != "sha256:abc" || res.Size != 2 {
		t.Errorf("got %+v, %q", res, body)
	}
	for _, c2 := range []struct {
		ref   string
		cause error
		text  string
	}{
		{"missing", registry.ErrUpstreamNotFound, "nothing at /v2/lib/app/manifests/missing"},
		{"denied", registry.ErrUpstreamDenied, "authentication to the upstream registry failed"},
		{"busy", registry.ErrUpstreamThrottled, "too many requests (HTTP 429)"},
		{"broken", registry.ErrUpstreamUnavailable, "answered HTTP 502 to GET /v2/lib/app/manifests/broken"},
	} {
		if _, err := c.Get(ctx, "lib/app", "/manifests/"+c2.ref, ""); !errors.Is(err, c2.cause) || !strings.Contains(err.Error(), c2.text) {
			t.Errorf("%s: %v; want %v, %q", c2.ref, err, c2.cause, c2.text)
		}
	}
	if n := tokens.Load(); n != 1 {
		t.Errorf("%d tokens fetched; want 1, reused", n)
	}

	// Refused credentials and an upstream that cannot be reached: unavailable, as the core has them.
	bad := Dial(0)(base, &registry.UpstreamCredentials{Username: "alice", AccessToken: "wrong"})
	if _, err := bad.Get(ctx, "lib/app", "/manifests/v1", ""); !errors.Is(err, registry.ErrUpstreamUnavailable) || !errors.Is(err, errAuth) {
		t.Errorf("bad credentials: %v", err)
	}
	srv.Close()
	if _, err := c.Get(ctx, "lib/other", "/manifests/v1", ""); !errors.Is(err, registry.ErrUpstreamUnavailable) || !strings.Contains(err.Error(), "could not be reached") {
		t.Errorf("upstream down: %v", err)
	}
}

// TestPingBasic: an upstream that asks for Basic auth gets the credentials, and Ping says why it refused.
func TestPingBasic(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "AWS" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="up"`)
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	dial := Dial(0)
	if err := dial(base, &registry.UpstreamCredentials{Username: "AWS", AccessToken: "pw"}).Ping(context.Background()); err != nil {
		t.Errorf("ping: %v", err)
	}
	if err := dial(base, &registry.UpstreamCredentials{Username: "AWS", AccessToken: "no"}).Ping(context.Background()); err != errAuth {
		t.Errorf("ping with wrong credentials: %v", err)
	}
	if err := dial(base, nil).Ping(context.Background()); err != errAuth {
		t.Errorf("anonymous ping: %v", err)
	}
}

func TestParseChallenge(t *testing.T) {
	scheme, p := parseChallenge(`Bearer realm="https://auth.example/token",service="reg \"x\"",scope=repository:a:pull`)
	if scheme != "bearer" || p["realm"] != "https://auth.example/token" || p["service"] != `reg "x"` || p["scope"] != "repository:a:pull" {
		t.Errorf("got %q %q", scheme, p)
	}
}

// TestRateLimits: the client keeps the requests left that an upstream host says, and after a 429 with a
// Retry-After it sends that host nothing until then (the core has the failure throttled).
func TestRateLimits(t *testing.T) {
	var requests atomic.Int32
	busy := atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if busy.Load() {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("RateLimit-Limit", "100;w=21600")
		w.Header().Set("RateLimit-Remaining", "76;w=21600")
		w.Header().Set("Docker-Content-Digest", "sha256:abc")
		if r.Method == http.MethodHead {
			return
		}
		fmt.Fprint(w, "{}")
	}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := NewDialer(0)
	d.Now = func() time.Time { return now }
	c := d.Dial(base, nil)
	ctx := context.Background()
	if got, err := c.Digest(ctx, "lib/app", "v1", ""); err != nil || got != "sha256:abc" {
		t.Fatalf("digest: %q, %v", got, err)
	}
	if got := d.Remaining(); got[base.Host] != 76 || len(got) != 1 {
		t.Fatalf("remaining: %v", got)
	}
	busy.Store(true)
	if _, err := c.Get(ctx, "lib/app", "/manifests/v1", ""); !errors.Is(err, registry.ErrUpstreamThrottled) {
		t.Fatalf("a 429: %v", err)
	}
	busy.Store(false)
	n := requests.Load()
	// Another client of the same host, too: the wait is the host's.
	if _, err := d.Dial(base, nil).Get(ctx, "lib/other", "/manifests/v1", ""); !errors.Is(err, registry.ErrUpstreamThrottled) ||
		!strings.Contains(err.Error(), "wait until 2026-01-01T00:01:00Z") {
		t.Fatalf("during the Retry-After: %v", err)
	}
	if requests.Load() != n {
		t.Fatal("a request was sent during the Retry-After")
	}
	now = now.Add(61 * time.Second)
	if _, err := c.Get(ctx, "lib/app", "/manifests/v1", ""); err != nil {
		t.Fatalf("after the Retry-After: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{"120": 2 * time.Minute, "Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second, "-5": 0,
		"99999999999999": maxRetryAfter} { // centuries, beyond a time.Duration's reach, hold for the longest
		if got, ok := parseRetryAfter(h, now); !ok || got != want {
			t.Errorf("%q: %v %v; want %v", h, got, ok, want)
		}
	}
	if _, ok := parseRetryAfter("soon", now); ok {
		t.Error("an unreadable Retry-After was read")
	}
}

// TestRedirectsKeepCredentials: a blob the upstream redirects to another host (a CDN, as Docker Hub's
// are) is fetched from there without the rule's credentials or the upstream's token, even on the same
// address with another port; a redirect within the upstream keeps them.
func TestRedirectsKeepCredentials(t *testing.T) {
	var leaked atomic.Int32
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		fmt.Fprint(w, "blob")
	}))
	defer cdn.Close()
	for _, scheme := range []string{"basic", "bearer"} {
		var srv *httptest.Server
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/token":
				fmt.Fprint(w, `{"token":"tok"}`)
				return
			case scheme == "basic" && r.Header.Get("Authorization") == "":
				w.Header().Set("WWW-Authenticate", `Basic realm="up"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			case scheme == "bearer" && r.Header.Get("Authorization") != "Bearer tok":
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="up"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			switch r.URL.Path {
			case "/v2/lib/app/blobs/away":
				http.Redirect(w, r, cdn.URL+"/data", http.StatusTemporaryRedirect)
			case "/v2/lib/app/blobs/here":
				http.Redirect(w, r, "/v2/lib/app/blobs/there", http.StatusTemporaryRedirect)
			case "/v2/lib/app/blobs/there":
				fmt.Fprint(w, "local")
			default:
				http.NotFound(w, r)
			}
		}))
		base, _ := url.Parse(srv.URL)
		c := Dial(0)(base, &registry.UpstreamCredentials{Username: "alice", AccessToken: "pw"})
		for path, want := range map[string]string{"/blobs/away": "blob", "/blobs/here": "local"} {
			res, err := c.Get(context.Background(), "lib/app", path, "")
			if err != nil {
				t.Fatalf("%s %s: %v", scheme, path, err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(body) != want {
				t.Errorf("%s %s: %q", scheme, path, body)
			}
		}
		srv.Close()
	}
	if n := leaked.Load(); n != 0 {
		t.Errorf("%d requests to another host carried the credentials", n)
	}
}

// TestStalledBody: an upstream that sends the headers of a blob and some bytes, then nothing more, fails
// the read after the dialer's timeout rather than holding it forever; a slow reader is not the upstream's
// stall.
func TestStalledBody(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		fmt.Fprint(w, "some")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/v2/lib/app/blobs/whole" {
			time.Sleep(300 * time.Millisecond) // the reader's own pause comes first
			fmt.Fprint(w, strings.Repeat("x", 996))
			return
		}
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stop)
	base, _ := url.Parse(srv.URL)
	c := NewDialer(200*time.Millisecond).Dial(base, nil)

	res, err := c.Get(context.Background(), "lib/app", "/blobs/stalled", "")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(res.Body)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "sent nothing") {
			t.Errorf("a stalled body: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a stalled body holds its reader")
	}
	res.Body.Close()

	res, err = c.Get(context.Background(), "lib/app", "/blobs/whole", "")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(res.Body, head); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // a reader slower than the timeout between its reads
	if rest, err := io.ReadAll(res.Body); err != nil || len(rest) != 996 {
		t.Errorf("the rest after a slow reader: %d bytes, %v", len(rest), err)
	}
}
