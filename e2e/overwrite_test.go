package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// TestUnrecordedChunkCannotOverwriteBlob is the attack of a pusher on a layer stored in another
// repository: it uploads the layer's bytes in its own repository, sends a further chunk over a raw
// connection that dies midway (the connection closed, or the server killed with SIGKILL while the bytes
// stream in), and completes the upload under the layer's digest without a body. The layer must still serve
// bytes that hash to its digest, as many as HEAD announces, and so must the pusher's repository when the
// upload completes. The same for the empty blob, stored before or not, whose upload got nothing but the
// interrupted chunk.
func TestUnrecordedChunkCannotOverwriteBlob(t *testing.T) {
	for _, c := range []struct {
		name   string
		empty  bool // complete as the empty blob, with no layer bytes uploaded first
		stored bool // the blob is in repository base before
		kill   bool // SIGKILL the server mid-chunk, else close the connection midway
	}{
		{"layer/abort", false, true, false},
		{"layer/kill", false, true, true},
		{"empty/kill", true, true, true},
		{"new empty/kill", true, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := startServer(t, dir)
			s.wharf("repo", "create", "base")
			s.wharf("repo", "create", "dev")
			authHeader = basicAuth(s.password())
			base := "http://" + s.addr

			layer := make([]byte, 3<<20)
			rand.Read(layer)
			if c.empty {
				layer = nil
			}
			d := digest.FromBytes(layer)
			if c.stored {
				if res := do(t, "POST", base+"/v2/base/blobs/uploads/?digest="+d.String(), layer); res.StatusCode != 201 {
					t.Fatalf("pushing the layer: %d", res.StatusCode)
				}
			}

			res := do(t, "POST", base+"/v2/dev/blobs/uploads/", nil)
			loc := res.Header.Get("Location")
			id := res.Header.Get("Docker-Upload-UUID")
			if len(layer) > 0 {
				if res := do(t, "PATCH", base+loc, layer); res.StatusCode != 202 {
					t.Fatalf("uploading the layer's bytes: %d", res.StatusCode)
				}
			}
			interruptedChunk(t, s, loc, filepath.Join(dir, "uploads", id), int64(len(layer)), c.kill)
			if c.kill {
				s.start()
			}

			res = do(t, "PUT", base+loc+"?digest="+d.String(), nil)
			t.Logf("completing the upload as %s without a body: %d", d, res.StatusCode)
			if c.stored {
				checkServed(t, base+"/v2/base/blobs/"+d.String(), d)
			}
			if res.StatusCode == 201 {
				checkServed(t, base+"/v2/dev/blobs/"+d.String(), d)
			}
		})
	}
}

// interruptedChunk PATCHes a chunk of 64 MiB to the upload at loc over a raw connection, waits until the
// server has written 8 MiB of it to the upload file, and then closes the connection or kills the server.
func interruptedChunk(t *testing.T, s *wharfProc, loc, file string, offset int64, kill bool) {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
		loc, s.addr, authHeader, 64<<20)
	junk := bytes.Repeat([]byte("attacker"), 1<<20) // 8 MiB
	if _, err := conn.Write(junk); err != nil {
		t.Fatal(err)
	}
	want := offset + 7<<20 // the server writes whole buffers of 1 MiB: all but the last one are on disk
	deadline := time.Now().Add(20 * time.Second)
	for {
		fi, err := os.Stat(file)
		if err == nil && fi.Size() >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upload file did not grow to %d bytes: %v, %v", want, fi, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if kill {
		s.kill()
		return
	}
	conn.Close()
	time.Sleep(200 * time.Millisecond) // the server sees the broken chunk and ends its request
}

// checkServed GETs a blob and checks that its bytes hash to d and that HEAD announced their number.
func checkServed(t *testing.T, url string, d digest.Digest) {
	t.Helper()
	head := do(t, "HEAD", url, nil)
	if head.StatusCode != 200 {
		t.Fatalf("HEAD %s: %d", url, head.StatusCode)
	}
	res := doRaw(t, "GET", url)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || err != nil {
		t.Fatalf("GET %s: %d, %v", url, res.StatusCode, err)
	}
	if got := digest.FromBytes(body); got != d || strconv.Itoa(len(body)) != head.Header.Get("Content-Length") {
		t.Fatalf("GET %s: %d bytes hashing to %s; HEAD says Content-Length %s", strings.TrimPrefix(url, "http://"),
			len(body), got, head.Header.Get("Content-Length"))
	}
}
