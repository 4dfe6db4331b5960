package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// TestKilledPatchCannotReplaceABlob is the attack on a layer through a crash: a pusher uploads a layer's
// known bytes into its own repository, starts a PATCH of other bytes and the server is killed in the
// middle of it; after the restart, completing the upload with the layer's digest and no body must not
// make those other bytes the layer, in any repository. Likewise for the empty blob.
func TestKilledPatchCannotReplaceABlob(t *testing.T) {
	s := startServer(t, t.TempDir())
	s.wharf("repo", "create", "dev")
	s.wharf("repo", "create", "prod")
	authHeader = basicAuth(s.password())
	base := "http://" + s.addr
	layer := make([]byte, 3<<20)
	rand.Read(layer)
	d := digest.FromBytes(layer)
	if res := do(t, "POST", base+"/v2/prod/blobs/uploads/?digest="+d.String(), layer); res.StatusCode != 201 {
		t.Fatalf("push the layer: %d", res.StatusCode)
	}

	// killedPatch starts an upload in dev, sends body (recorded), then a PATCH of 8 MiB of other bytes of
	// a 64 MiB body, and kills the server while it is being written.
	killedPatch := func(body []byte) string {
		res := do(t, "POST", base+"/v2/dev/blobs/uploads/", nil)
		loc := res.Header.Get("Location")
		if len(body) > 0 {
			if res := do(t, "PATCH", base+loc, body); res.StatusCode != 202 {
				t.Fatalf("PATCH: %d", res.StatusCode)
			}
		}
		conn, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n", loc, s.addr, authHeader, 64<<20)
		conn.Write(bytes.Repeat([]byte("ATTACKER"), 1<<20))
		time.Sleep(300 * time.Millisecond) // the server writes what it has
		s.kill()
		conn.Close()
		s.start()
		authHeader = basicAuth(s.password())
		return loc
	}
	get := func(repo string, d digest.Digest) ([]byte, string) {
		res := doRaw(t, "GET", base+"/v2/"+repo+"/blobs/"+d.String())
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		head := doRaw(t, "HEAD", base+"/v2/"+repo+"/blobs/"+d.String())
		head.Body.Close()
		return data, head.Header.Get("Content-Length")
	}

	loc := killedPatch(layer)
	res := do(t, "PUT", base+loc+"?digest="+d.String(), nil)
	if res.StatusCode != 201 {
		t.Logf("completing after the crash: %d", res.StatusCode)
	}
	for _, repo := range []string{"prod", "dev"} {
		if repo == "dev" && res.StatusCode != 201 {
			continue
		}
		data, length := get(repo, d)
		if digest.FromBytes(data) != d || length != fmt.Sprint(len(layer)) {
			t.Fatalf("%s serves %d bytes (Content-Length %s) under %s, which hash to %s", repo, len(data), length, d, digest.FromBytes(data))
		}
	}

	empty := digest.FromBytes(nil)
	loc = killedPatch(nil)
	if res := do(t, "PUT", base+loc+"?digest="+empty.String(), nil); res.StatusCode != 201 {
		t.Fatalf("completing the empty upload: %d", res.StatusCode)
	}
	if data, length := get("dev", empty); len(data) != 0 || length != "0" {
		t.Fatalf("the empty blob serves %d bytes (Content-Length %s): %.40q", len(data), length, data)
	}
}
