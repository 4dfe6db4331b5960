package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
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

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/server"
)

// sharedStorage creates a fresh PostgreSQL database and a fresh prefix of the test bucket (both started by
// scripts/test.sh) and returns the flags and environment of nodes using them, and the storage itself.
func sharedStorage(t *testing.T) (args, env []string, st server.Storage) {
	t.Helper()
	pg, s3 := os.Getenv("WHARF_TEST_POSTGRES"), os.Getenv("WHARF_TEST_S3")
	if pg == "" || s3 == "" {
		t.Fatal("WHARF_TEST_POSTGRES and WHARF_TEST_S3 are not set: scripts/test.sh starts PostgreSQL and an S3 server")
	}
	admin, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("wharf_e2e_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	t.Cleanup(func() {
		if admin, err := sql.Open("pgx", pg); err == nil {
			admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
			admin.Close()
		}
	})
	i := strings.LastIndex(s3, "/")
	endpoint, bucket := s3[:i], s3[i+1:]
	secret := make([]byte, 32)
	rand.Read(secret)
	st = server.Storage{
		Metadata: strings.Replace(pg, "/postgres?", "/"+name+"?", 1),
		Blobs:    fmt.Sprintf("s3://%s/%s/", bucket, name), S3Endpoint: endpoint, S3ForcePathStyle: true,
	}
	args = []string{"--metadata", st.Metadata, "--blobs", st.Blobs, "--s3-endpoint", endpoint, "--s3-force-path-style",
		"--server-secret", base64.StdEncoding.EncodeToString(secret)}
	env = []string{"AWS_ACCESS_KEY_ID=" + os.Getenv("WHARF_TEST_S3_ACCESS_KEY"),
		"AWS_SECRET_ACCESS_KEY=" + os.Getenv("WHARF_TEST_S3_SECRET_KEY"), "AWS_REGION=us-east-1"}
	return args, env, st
}

// openShared opens the shared storage in the test process (to check what the nodes wrote).
func openShared(t *testing.T, st server.Storage, env []string) *server.Stores {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	stores, err := server.OpenStorage(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stores.Meta.Close() })
	return stores
}

// startCluster starts n nodes on shared storage, one after the other.
func startCluster(t *testing.T, n int, extra ...string) ([]*wharfProc, server.Storage, []string) {
	args, env, st := sharedStorage(t)
	var nodes []*wharfProc
	for i := 0; i < n; i++ {
		// A data directory that does not exist yet: on shared storage a node needs none but for its first
		// start's admin-credentials file.
		s := &wharfProc{t: t, dir: filepath.Join(t.TempDir(), "node"), addr: freeAddr(t), args: append(append([]string{}, args...), extra...), env: env}
		s.start()
		t.Cleanup(s.stop)
		nodes = append(nodes, s)
	}
	return nodes, st, env
}

// send makes a registry request with the registry password and returns the response with its body read.
func send(t *testing.T, method, url, password string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", basicAuth(password))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, data
}

// TestThreeNodes runs three nodes on one PostgreSQL database and one bucket: one upload's chunks spread over
// the three, pulls through another node with layer bytes from S3 redirects, a delete through the third,
// lifecycle and garbage collection running on all of them at once, a node killed mid-push, and the OCI
// conformance suite through a node.
func TestThreeNodes(t *testing.T) {
	crane := tool(t, "crane")
	nodes, st, env := startCluster(t, 3, "--gc-interval", "1s", "--gc-grace", "3s", "--lifecycle-interval", "1s")
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	n1.aws("ecr", "create-repository", "--repository-name", "team/app")
	password := n1.password() // a token from one node works on every node

	// One layer, its chunks PATCHed to node 1, 2 and 3 and the upload completed on node 2.
	layer := make([]byte, 13<<20+321)
	rand.Read(layer)
	ld := digest.FromBytes(layer)
	res, _ := send(t, "POST", "http://"+n1.addr+"/v2/team/app/blobs/uploads/", password, nil)
	if res.StatusCode != 202 {
		t.Fatalf("start upload: %d", res.StatusCode)
	}
	loc := res.Header.Get("Location")
	for i, c := range []struct {
		node     *wharfProc
		from, to int
	}{{n1, 0, 6 << 20}, {n2, 6 << 20, 12 << 20}, {n3, 12 << 20, 13 << 20}} {
		res, body := send(t, "PATCH", "http://"+c.node.addr+loc, password, layer[c.from:c.to],
			"Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("%d-%d", c.from, c.to-1))
		if res.StatusCode != 202 || res.Header.Get("Range") != fmt.Sprintf("0-%d", c.to-1) {
			t.Fatalf("chunk %d on node %s: %d %s %s", i, c.node.addr, res.StatusCode, res.Header.Get("Range"), body)
		}
	}
	res, body := send(t, "PUT", "http://"+n2.addr+loc+"?digest="+ld.String(), password, layer[13<<20:], "Content-Type", "application/octet-stream")
	if res.StatusCode != 201 {
		t.Fatalf("complete on node 2: %d %s", res.StatusCode, body)
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd := digest.FromBytes(cfg)
	if res, body := send(t, "POST", "http://"+n3.addr+"/v2/team/app/blobs/uploads/?digest="+cd.String(), password, cfg); res.StatusCode != 201 {
		t.Fatalf("config on node 3: %d %s", res.StatusCode, body)
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		cd, len(cfg), ld, len(layer))
	if res, body := send(t, "PUT", "http://"+n1.addr+"/v2/team/app/manifests/spread", password, []byte(manifest),
		"Content-Type", "application/vnd.oci.image.manifest.v1+json"); res.StatusCode != 201 {
		t.Fatalf("manifest on node 1: %d %s", res.StatusCode, body)
	}

	// Pull through node 2: the manifest from Wharf, the layer bytes from S3 by a redirect.
	res, got := send(t, "GET", "http://"+n2.addr+"/v2/team/app/manifests/spread", password, nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
	if res.StatusCode != 200 || string(got) != manifest {
		t.Fatalf("manifest through node 2: %d", res.StatusCode)
	}
	res, _ = send(t, "GET", "http://"+n2.addr+"/v2/team/app/blobs/"+ld.String(), password, nil)
	s3URL := res.Header.Get("Location")
	if res.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(s3URL, st.S3Endpoint+"/") || !strings.Contains(s3URL, "X-Amz-Signature=") {
		t.Fatalf("layer GET through node 2: %d, Location %q", res.StatusCode, s3URL)
	}
	plain, err := http.Get(s3URL) // no credentials: the URL is presigned
	if err != nil {
		t.Fatal(err)
	}
	fromS3, _ := io.ReadAll(plain.Body)
	plain.Body.Close()
	if plain.StatusCode != 200 || digest.FromBytes(fromS3) != ld {
		t.Fatalf("presigned layer: %d, %d bytes", plain.StatusCode, len(fromS3))
	}
	login := func(s *wharfProc) {
		cfgDir := t.TempDir()
		t.Setenv("DOCKER_CONFIG", cfgDir)
		if out, err := runEnv(t, nil, strings.NewReader(password), crane, "auth", "login", s.addr, "-u", "AWS", "--password-stdin"); err != nil {
			t.Fatalf("crane login: %v\n%s", err, out)
		}
	}
	login(n2)
	layout := t.TempDir()
	run(t, crane, "pull", "--insecure", "--format", "oci", n2.addr+"/team/app:spread", layout) // crane checks every digest
	// A node configured to proxy layer bytes instead serves them itself.
	proxy := &wharfProc{t: t, dir: t.TempDir(), addr: freeAddr(t), args: append(append([]string{}, n1.args...), "--blob-redirect=false"), env: env}
	proxy.start()
	res, proxied := send(t, "GET", "http://"+proxy.addr+"/v2/team/app/blobs/"+ld.String(), password, nil)
	if res.StatusCode != 200 || digest.FromBytes(proxied) != ld || res.Header.Get("Docker-Content-Digest") != ld.String() {
		t.Fatalf("layer GET through the proxying node: %d, %d bytes", res.StatusCode, len(proxied))
	}
	proxy.stop()
	var ecrURL struct{ DownloadUrl string }
	jsonOf(t, n2.aws("ecr", "get-download-url-for-layer", "--repository-name", "team/app", "--layer-digest", ld.String()), &ecrURL)
	if !strings.HasPrefix(ecrURL.DownloadUrl, st.S3Endpoint+"/") {
		t.Fatalf("GetDownloadUrlForLayer gave %q, not a presigned S3 URL", ecrURL.DownloadUrl)
	}

	// Lifecycle on all three nodes at once: five "rc-" images, keep two; exactly three expire, once.
	login(n3)
	work := t.TempDir()
	for i := 1; i <= 5; i++ {
		run(t, crane, "append", "--insecure", "-f", writeTar(t, work, fmt.Sprintf("rc%d", i), []byte(fmt.Sprint("rc ", i))), "-t", fmt.Sprintf("%s/team/app:rc-%d", n3.addr, i))
	}
	os.WriteFile(filepath.Join(work, "policy.json"), []byte(`{"rules":[{"rulePriority":1,"description":"two release candidates","selection":{"tagStatus":"tagged","tagPrefixList":["rc-"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}`), 0o644)
	n3.aws("ecr", "put-lifecycle-policy", "--repository-name", "team/app", "--lifecycle-policy-text", "file://"+filepath.Join(work, "policy.json"))
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(n1.wharf("lifecycle", "history", "--repository", "team/app"), "rc-3") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // every node has had its turn since
	if history := strings.TrimSpace(n2.wharf("lifecycle", "history", "--repository", "team/app")); strings.Count(history, "\n") != 2 {
		t.Fatalf("lifecycle history across nodes (want 3 expiries, once each):\n%s", history)
	}
	if tags := strings.Fields(run(t, crane, "ls", "--insecure", n3.addr+"/team/app")); strings.Join(tags, " ") != "rc-4 rc-5 spread" {
		t.Fatalf("tags after lifecycle: %v", tags)
	}

	// Delete through node 3; the other nodes stop serving the image, and GC (on whichever node) removes
	// its layer from the bucket.
	n3.aws("ecr", "batch-delete-image", "--repository-name", "team/app", "--image-ids", "imageTag=spread")
	stores := openShared(t, st, env)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		res, _ := send(t, "GET", "http://"+n1.addr+"/v2/team/app/manifests/spread", password, nil)
		_, err := stores.Blobs.Stat(context.Background(), ld)
		if res.StatusCode == 404 && err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the delete: node 1 answers %d, layer in the bucket: %v", res.StatusCode, err == nil)
		}
	}

	// A node killed mid-push: every acknowledged push is complete on the other nodes, nothing is half-visible.
	n1.aws("ecr", "create-repository", "--repository-name", "app")
	authHeader = basicAuth(password)
	var acked atomic.Int64
	var pushed sync.Map
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 200; i++ {
				tag := fmt.Sprintf("w%d-%d", w, i)
				if pushImage(ctx, "http://"+n1.addr, tag) == nil {
					pushed.Store(tag, true)
					acked.Add(1)
				}
			}
		}()
	}
	for acked.Load() < 8 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	n1.kill()
	cancel()
	wg.Wait()
	pushed.Range(func(k, _ any) bool {
		res, _ := send(t, "GET", "http://"+n2.addr+"/v2/app/manifests/"+k.(string), password, nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
		if res.StatusCode != 200 {
			t.Errorf("acknowledged push %s missing on node 2: %d", k, res.StatusCode)
		}
		return true
	})
	images := checkConsistency(t, stores)
	t.Logf("%d pushes acknowledged before SIGKILL; %d images consistent in PostgreSQL and S3", acked.Load(), images)

	// The OCI conformance suite through node 3 (blob GETs redirected to S3).
	runConformance(t, n3, false)
}
