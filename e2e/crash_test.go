package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/store"
)

// basicAuth is the Authorization header for a registry password.
func basicAuth(password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("AWS:"+password))
}

func do(t *testing.T, method, url string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", authHeader)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// authHeader authenticates the raw HTTP requests of these tests.
var authHeader string

// doRaw sends an authenticated request and returns the response with its body unread.
func doRaw(t *testing.T, method, url string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", authHeader)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestChunkedUploadAcrossRestart starts a chunked upload, restarts the server in the middle (once
// gracefully, once with SIGKILL), and completes it afterwards.
func TestChunkedUploadAcrossRestart(t *testing.T) {
	for _, hard := range []bool{false, true} {
		t.Run(fmt.Sprintf("kill=%v", hard), func(t *testing.T) {
			s := startServer(t, t.TempDir())
			s.wharf("repo", "create", "app")
			authHeader = basicAuth(s.password())
			base := "http://" + s.addr
			data := make([]byte, 12<<20)
			rand.Read(data)
			res := do(t, "POST", base+"/v2/app/blobs/uploads/", nil)
			loc := res.Header.Get("Location")
			res = do(t, "PATCH", base+loc, data[:5<<20], "Content-Range", fmt.Sprintf("0-%d", 5<<20-1))
			if res.StatusCode != 202 {
				t.Fatalf("first chunk: %d", res.StatusCode)
			}
			if hard {
				s.kill()
			} else {
				s.stop()
			}
			s.start()
			res = do(t, "GET", base+loc, nil)
			if res.StatusCode != 204 || res.Header.Get("Range") != fmt.Sprintf("0-%d", 5<<20-1) {
				t.Fatalf("status after restart: %d %q", res.StatusCode, res.Header.Get("Range"))
			}
			res = do(t, "PATCH", base+loc, data[5<<20:10<<20], "Content-Range", fmt.Sprintf("%d-%d", 5<<20, 10<<20-1))
			if res.StatusCode != 202 {
				t.Fatalf("second chunk: %d", res.StatusCode)
			}
			d := digest.FromBytes(data)
			res = do(t, "PUT", base+loc+"?digest="+d.String(), data[10<<20:], "Content-Range", fmt.Sprintf("%d-%d", 10<<20, len(data)-1))
			if res.StatusCode != 201 {
				t.Fatalf("completing after restart: %d", res.StatusCode)
			}
			got := doRaw(t, "GET", base+"/v2/app/blobs/"+d.String())
			b, _ := io.ReadAll(got.Body)
			got.Body.Close()
			if !bytes.Equal(b, data) {
				t.Fatal("blob differs after an upload across a restart")
			}
		})
	}
}

// TestKillDuringPushes kills the server with SIGKILL while clients push, restarts it, and checks that
// the store is consistent: every image's blobs are linked and on disk, no upload file is left over,
// and pushes work again.
func TestKillDuringPushes(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.wharf("repo", "create", "app")
	authHeader = basicAuth(s.password())
	base := "http://" + s.addr
	var pushed atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 10000 && ctx.Err() == nil; i++ {
				if pushImage(ctx, base, fmt.Sprintf("w%d-%d", w, i)) == nil {
					pushed.Add(1)
				}
			}
		}(w)
	}
	for pushed.Load() < 20 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	s.kill()
	cancel()
	wg.Wait()
	acknowledged := pushed.Load()

	s.start()
	if err := pushImage(context.Background(), base, "after-restart"); err != nil {
		t.Fatalf("push after restart: %v", err)
	}
	s.stop()

	st, err := server.OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Meta.Close()
	images := checkConsistency(t, st)
	if int64(images) < acknowledged {
		t.Fatalf("%d images stored but %d pushes were acknowledged before the kill", images, acknowledged)
	}
	ids, _ := st.Blobs.Uploads(context.Background())
	for _, id := range ids { // sessions open at the kill may resume; files without a session must be gone
		err := st.Meta.View(context.Background(), func(tx store.Tx) error { _, err := tx.GetUpload(id); return err })
		if err != nil {
			t.Fatalf("upload file %s has no session after restart: %v", id, err)
		}
	}
	t.Logf("%d pushes acknowledged before SIGKILL; %d images consistent after restart", acknowledged, images)
}

// pushImage pushes a small two-blob image with a chunked layer upload and a monolithic config upload.
func pushImage(ctx context.Context, base, tag string) error {
	req := func(method, url string, body []byte, hdr ...string) (*http.Response, error) {
		r, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		r.Header.Set("Authorization", authHeader)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(r)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		return res, err
	}
	layer := make([]byte, 256<<10)
	rand.Read(layer)
	cfg := []byte(fmt.Sprintf(`{"tag":%q}`, tag))
	ld, cd := digest.FromBytes(layer), digest.FromBytes(cfg)
	res, err := req("POST", base+"/v2/app/blobs/uploads/", nil)
	if err != nil || res.StatusCode != 202 {
		return fmt.Errorf("start: %v", err)
	}
	loc := base + res.Header.Get("Location")
	if res, err = req("PATCH", loc, layer[:100000]); err != nil || res.StatusCode != 202 {
		return fmt.Errorf("patch: %v", err)
	}
	if res, err = req("PUT", loc+"?digest="+ld.String(), layer[100000:]); err != nil || res.StatusCode != 201 {
		return fmt.Errorf("put: %v", err)
	}
	if res, err = req("POST", base+"/v2/app/blobs/uploads/?digest="+cd.String(), cfg); err != nil || res.StatusCode != 201 {
		return fmt.Errorf("config: %v", err)
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		cd, len(cfg), ld, len(layer))
	if res, err = req("PUT", base+"/v2/app/manifests/"+tag, []byte(m), "Content-Type", "application/vnd.oci.image.manifest.v1+json"); err != nil || res.StatusCode != 201 {
		return fmt.Errorf("manifest: %v", err)
	}
	return nil
}

// checkConsistency asserts every stored image's blobs are linked in its repository and present in the
// blob store with the right size and content, and returns how many images it checked.
func checkConsistency(t *testing.T, st *server.Stores) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	err := st.Meta.View(ctx, func(tx store.Tx) error {
		repos, err := tx.ListRepositories("000000000000", "", 1000)
		if err != nil {
			return err
		}
		for _, r := range repos {
			imgs, err := tx.ListImages(r.ID, "", 100000)
			if err != nil {
				return err
			}
			for _, img := range imgs {
				full, err := tx.GetImage(r.ID, img.Digest)
				if err != nil {
					return err
				}
				if digest.FromBytes(full.Content) != img.Digest {
					t.Errorf("image %s: stored manifest does not match its digest", img.Digest)
				}
				m, err := manifest.Parse(img.MediaType, full.Content)
				if err != nil {
					t.Errorf("image %s: stored manifest does not parse: %v", img.Digest, err)
					continue
				}
				for _, desc := range m.Blobs() {
					d := desc.Digest
					b, err := tx.GetLinkedBlob(r.ID, d)
					if err != nil {
						t.Errorf("image %s references blob %s not linked in %s: %v", img.Digest, d, r.Name, err)
						continue
					}
					rc, err := st.Blobs.Open(ctx, d)
					if err != nil {
						t.Errorf("image %s references blob %s missing from storage: %v", img.Digest, d, err)
						continue
					}
					v := d.Algorithm().Digester()
					size, _ := io.Copy(v.Hash(), rc)
					rc.Close()
					if v.Digest() != d || size != b.Size {
						t.Errorf("blob %s is damaged: %d bytes hashing to %s", d, size, v.Digest())
					}
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGarbageCollectionCommand deletes an image and runs `wharf gc` next to the live server: the deleted
// image's blobs leave the disk, the other image still pulls.
func TestGarbageCollectionCommand(t *testing.T) {
	crane := tool(t, "crane")
	dir := t.TempDir()
	s := startServer(t, dir)
	s.wharf("repo", "create", "app")
	s.login()
	work := t.TempDir()
	keep := make([]byte, 1<<20)
	drop := make([]byte, 1<<20)
	rand.Read(keep)
	rand.Read(drop)
	ref := s.addr + "/app"
	run(t, crane, "append", "--insecure", "-f", writeTar(t, work, "keep.bin", keep), "-t", ref+":keep")
	run(t, crane, "append", "--insecure", "-f", writeTar(t, work, "drop.bin", drop), "-t", ref+":drop")
	dropDigest := strings.TrimSpace(run(t, crane, "digest", "--insecure", ref+":drop"))
	blobsBefore := countFiles(t, filepath.Join(dir, "blobs"))
	run(t, crane, "delete", "--insecure", ref+"@"+dropDigest)

	out := s.wharf("gc", "--gc-grace", "0s")
	if !strings.Contains(out, "removed 2 blobs") { // the dropped image's layer and config
		t.Fatalf("wharf gc: %s", out)
	}
	if after := countFiles(t, filepath.Join(dir, "blobs")); after != blobsBefore-2 {
		t.Fatalf("%d blob files before, %d after; want two fewer", blobsBefore, after)
	}
	if !strings.Contains(run(t, crane, "export", "--insecure", ref+":keep", "-"), string(keep[:1000])) {
		t.Fatal("the kept image lost content")
	}
}

func countFiles(t *testing.T, root string) int {
	n := 0
	filepath.Walk(root, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n++
		}
		return nil
	})
	return n
}
