package peer

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/registry"
)

var token = base64.StdEncoding.EncodeToString([]byte("AWS:the-destination-password"))

// destination is a deployment that logs in anyone and answers the registry API with registryAPI.
func destination(t *testing.T, registryAPI http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/" {
			io.WriteString(w, `{"authorizationData":[{"authorizationToken":"`+token+`"}]}`)
			return
		}
		registryAPI(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func dial(endpoint string, timeout time.Duration) registry.PeerClient {
	return Dial("us-east-1", timeout)(endpoint, "us-west-2", registry.PeerCredentials{AccessKeyID: "AKIA", SecretAccessKey: "secret"})
}

// TestRedirectsAreNotFollowed: a destination that redirects elsewhere (here another server on the same host)
// never gets the token or the image sent there, and the push is not taken as done.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer elsewhere.Close()
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		dest := destination(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, status)
		})
		c := dial(dest.URL, 0)
		ctx := context.Background()
		if err := c.PutManifest(ctx, "000000000000", "app", "v1", "application/vnd.oci.image.manifest.v1+json", []byte("{}")); err == nil {
			t.Errorf("HTTP %d: a manifest put redirected is taken as done", status)
		}
		blob := []byte("layer")
		if err := c.PutBlob(ctx, "000000000000", "app", digest.FromBytes(blob), int64(len(blob)), strings.NewReader(string(blob))); err == nil {
			t.Errorf("HTTP %d: a blob upload redirected is taken as done", status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Fatalf("requests sent where the destination redirected: %q", leaked)
	}
}

// TestStalledDestination: a destination that stops reading an upload, or never answers, or stops sending
// its answer, is given up after the timeout, as unavailable (the job retries), not waited for forever.
func TestStalledDestination(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stall := func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost: // an upload: nothing read, no answer
		case r.Method == http.MethodPut: // a manifest: the answer's headers, then silence
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusCreated)
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	dest := destination(t, stall)
	c := dial(dest.URL, 300*time.Millisecond)
	// The test's own bound: far above the timeout, only there so that a hang fails instead of blocking.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	big := strings.Repeat("x", 64<<20) // more than the sockets' buffers hold
	if err := c.PutBlob(ctx, "000000000000", "app", digest.FromString(big), int64(len(big)), strings.NewReader(big)); !errors.Is(err, registry.ErrPeerUnavailable) {
		t.Errorf("an upload the destination stopped reading: %v", err)
	}
	if err := c.PutManifest(ctx, "000000000000", "app", "v1", "application/vnd.oci.image.manifest.v1+json", []byte("{}")); !errors.Is(err, registry.ErrPeerUnavailable) {
		t.Errorf("an answer the destination stopped sending: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the client waited for the test's own bound")
	}
}

// TestTricklingDestination: a destination that takes an upload or sends its answer a byte at a time holds
// the job no longer than one that stalls: an answer must come whole within the timeout, an upload must
// move a MiB within it.
func TestTricklingDestination(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	trickle := func(w http.ResponseWriter, r *http.Request) {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		if r.Method == http.MethodPut {
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(http.StatusCreated)
		}
		b := make([]byte, 1)
		for {
			select {
			case <-release:
				return
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
			if r.Method == http.MethodPost {
				if _, err := r.Body.Read(b); err != nil {
					return
				}
				continue
			}
			w.Write([]byte(" "))
			w.(http.Flusher).Flush()
		}
	}
	dest := destination(t, trickle)
	c := dial(dest.URL, 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	big := strings.Repeat("x", 64<<20)
	if err := c.PutBlob(ctx, "000000000000", "app", digest.FromString(big), int64(len(big)), strings.NewReader(big)); !errors.Is(err, registry.ErrPeerUnavailable) {
		t.Errorf("an upload taken a byte at a time: %v", err)
	}
	if err := c.PutManifest(ctx, "000000000000", "app", "v1", "application/vnd.oci.image.manifest.v1+json", []byte("{}")); !errors.Is(err, registry.ErrPeerUnavailable) {
		t.Errorf("an answer sent a byte at a time: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the client waited for the test's own bound")
	}
}

// TestWrongDigestAnswered: a destination that answers a put with another Docker-Content-Digest than the
// content's has not stored what was sent: the put failed.
func TestWrongDigestAnswered(t *testing.T) {
	wrong := digest.FromString("something else")
	dest := destination(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Docker-Content-Digest", wrong.String())
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	c := dial(dest.URL, 0)
	ctx := context.Background()
	if err := c.PutManifest(ctx, "000000000000", "app", "v1", "application/vnd.oci.image.manifest.v1+json", []byte("{}")); err == nil {
		t.Error("a manifest put answered with another digest is taken as done")
	}
	blob := []byte("layer")
	if err := c.PutBlob(ctx, "000000000000", "app", digest.FromBytes(blob), int64(len(blob)), strings.NewReader(string(blob))); err == nil {
		t.Error("a blob upload answered with another digest is taken as done")
	}
	if ok, err := c.BlobExists(ctx, "000000000000", "app", digest.FromBytes(blob)); ok || err == nil {
		t.Errorf("a blob answered with another digest: exists %v, %v", ok, err)
	}
}

// TestEchoedTokenIsRedacted: a destination (or a proxy before it) that echoes the request's headers in its
// error does not put the token, nor the password it encodes, into the error the log and audit trail keep.
func TestEchoedTokenIsRedacted(t *testing.T) {
	dest := destination(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "bad request; you sent "+r.Header.Get("Authorization")+" (the-destination-password)")
	})
	err := dial(dest.URL, 0).PutManifest(context.Background(), "000000000000", "app", "v1", "application/vnd.oci.image.manifest.v1+json", []byte("{}"))
	if err == nil || strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "the-destination-password") || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error: %v", err)
	}
}

// TestLoginDenied: a key the destination refuses GetAuthorizationToken (403, AccessDeniedException) is the
// credentials' fault, not a denied replication.
func TestLoginDenied(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"__type":"AccessDeniedException","message":"User: arn:aws:iam::000000000000:user/r is not authorized to perform: ecr:GetAuthorizationToken"}`)
	}))
	defer srv.Close()
	err := dial(srv.URL, 0).PutManifest(context.Background(), "000000000000", "app", "v1", "application/vnd.oci.image.manifest.v1+json", []byte("{}"))
	if !errors.Is(err, registry.ErrPeerUnauthorized) || errors.Is(err, registry.ErrPeerDenied) {
		t.Fatalf("error: %v", err)
	}
}

// TestUserAgent: every request to the destination, the login too, says it is a replication and from
// which region, which the destination's audit trail shows as the caller's user agent.
func TestUserAgent(t *testing.T) {
	var mu sync.Mutex
	var agents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.Header.Get("User-Agent"))
		mu.Unlock()
		if r.Method == http.MethodPost && r.URL.Path == "/" {
			io.WriteString(w, `{"authorizationData":[{"authorizationToken":"`+token+`"}]}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	if _, err := dial(srv.URL, 0).BlobExists(context.Background(), "000000000000", "app", digest.FromString("x")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(agents) != 2 || agents[0] != "wharf-replication (from us-east-1)" || agents[1] != agents[0] {
		t.Fatalf("user agents: %q", agents)
	}
}

// TestEchoedTokenCutIsRedacted: a secret the destination echoes across the point where its words are cut
// short is redacted too, not left with its first characters in the error.
func TestEchoedTokenCutIsRedacted(t *testing.T) {
	dest := destination(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, strings.Repeat("x", 500)+" the-destination-password")
	})
	err := dial(dest.URL, 0).PutManifest(context.Background(), "000000000000", "app", "v1", "application/vnd.oci.image.manifest.v1+json", []byte("{}"))
	if err == nil || strings.Contains(err.Error(), "the-desti") {
		t.Fatalf("error: %v", err)
	}
}
