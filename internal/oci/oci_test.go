package oci_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/store"
)

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

type client struct {
	t    *testing.T
	url  string
	app  *server.App
	auth string // Authorization header sent with every request
}

var admin = &identity.Credentials{AccessKeyID: "AKIATESTADMIN0000001", SecretAccessKey: "test-secret"}

func newServer(t *testing.T, cfg registry.Config) *client {
	t.Helper()
	dir := t.TempDir()
	st, err := server.OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	app, err := server.New(server.Options{DataDir: dir, Registry: cfg, Bootstrap: true, AdminCredentials: admin}, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(func() { srv.Close(); app.Close() })
	_, p, err := app.Identity.LookupKey(context.Background(), admin.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	token := app.Identity.IssueToken(p, time.Now().Add(time.Hour))
	return &client{t: t, url: srv.URL, app: app, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("AWS:"+token))}
}

func (c *client) repo(name, mutability string) {
	c.t.Helper()
	if _, err := c.app.Service.CreateRepository(context.Background(), store.Repository{RegistryID: "000000000000", Name: name, TagMutability: mutability}); err != nil {
		c.t.Fatal(err)
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// firstError returns the code and message of the first error in an OCI error body.
func (r resp) firstError() (code, message string) {
	var e struct {
		Errors []struct{ Code, Message string }
	}
	json.Unmarshal(r.body, &e)
	if len(e.Errors) == 0 {
		return "", ""
	}
	return e.Errors[0].Code, e.Errors[0].Message
}

func (r resp) code() string    { c, _ := r.firstError(); return c }
func (r resp) message() string { _, m := r.firstError(); return m }

func (c *client) do(method, path string, body []byte, hdr ...string) resp {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

// expect checks the status and, for errors, the OCI error code.
func (c *client) expect(r resp, status int, code string) {
	c.t.Helper()
	if r.status != status || r.code() != code {
		c.t.Fatalf("got %d %s (%s), want %d %s", r.status, r.code(), r.body, status, code)
	}
}

// blobSizes remembers the size of every blob pushed, for the manifests that name them.
var blobSizes sync.Map // digest.Digest -> int

func (c *client) pushBlob(repo string, data []byte) digest.Digest {
	c.t.Helper()
	d := digest.FromBytes(data)
	c.expect(c.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), data), 201, "")
	blobSizes.Store(d, len(data))
	return d
}

func sizeOf(d digest.Digest) int {
	if n, ok := blobSizes.Load(d); ok {
		return n.(int)
	}
	return 1
}

func manifestFor(cfg, layer digest.Digest) []byte {
	return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}`,
		ociManifest, cfg, sizeOf(cfg), layer, sizeOf(layer)))
}

func (c *client) pushImage(repo, tag string) digest.Digest {
	c.t.Helper()
	cfg := c.pushBlob(repo, []byte("{}"))
	layer := c.pushBlob(repo, []byte("layer"+tag))
	body := manifestFor(cfg, layer)
	r := c.do("PUT", "/v2/"+repo+"/manifests/"+tag, body, "Content-Type", ociManifest)
	c.expect(r, 201, "")
	return digest.FromBytes(body)
}

func (c *client) tags(repo string) []string {
	c.t.Helper()
	r := c.do("GET", "/v2/"+repo+"/tags/list", nil)
	c.expect(r, 200, "")
	var tl struct{ Tags []string }
	json.Unmarshal(r.body, &tl)
	return tl.Tags
}

func TestPingHealthMetrics(t *testing.T) {
	c := newServer(t, registry.Config{})
	r := c.do("GET", "/v2/", nil)
	if r.status != 200 || r.header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("ping: %d %v", r.status, r.header)
	}
	if r := c.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
	c.do("GET", "/v2/nope/tags/list", nil)
	// Methods nobody serves are counted as "other": random ones cannot grow the series.
	for i := 0; i < 20; i++ {
		c.do(fmt.Sprintf("M%05d", i), "/v2/", nil)
	}
	if r := c.do("GET", "/metrics", nil); r.status != 404 {
		t.Fatalf("metrics on the registry's listener: %d", r.status)
	}
	rec := httptest.NewRecorder()
	c.app.Metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `wharf_calls_total{action="ecr:ListImages",outcome="NAME_UNKNOWN",protocol="oci"} 1`) {
		t.Fatalf("metrics: %d\n%s", rec.Code, body)
	}
	if strings.Contains(body, "M0000") || !strings.Contains(body, `method="other",status="405"`) {
		t.Fatalf("metrics label an unknown method:\n%s", body)
	}
}

func TestMissingRepository(t *testing.T) {
	c := newServer(t, registry.Config{})
	r := c.do("POST", "/v2/team-a/web-app/blobs/uploads/", nil)
	c.expect(r, 404, "NAME_UNKNOWN")
	if r.message() != "The repository with name 'team-a/web-app' does not exist in the registry with id '000000000000'" {
		t.Fatalf("message %q", r.message())
	}
	if !strings.Contains(string(r.body), `"detail":{"name":"team-a/web-app"}`) {
		t.Fatalf("detail: %s", r.body)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	c := newServer(t, registry.Config{Limits: registry.Limits{ManifestSize: 4096}})
	c.repo("app", "")
	c.repo("other", "")
	good := c.pushImage("app", "v1")

	cfg := c.pushBlob("app", []byte("{}"))
	layer := c.pushBlob("app", []byte("layer-x"))
	cases := []struct {
		name, method, path string
		body               []byte
		hdr                []string
		status             int
		code               string
	}{
		{"malformed manifest", "PUT", "/v2/app/manifests/bad", []byte(`{"schemaVersion":2,`), []string{"Content-Type", ociManifest}, 400, "MANIFEST_INVALID"},
		{"manifest type mismatch", "PUT", "/v2/app/manifests/bad", manifestFor(cfg, layer), []string{"Content-Type", "application/vnd.oci.image.index.v1+json"}, 400, "MANIFEST_INVALID"},
		{"oversized manifest", "PUT", "/v2/app/manifests/bad", append(manifestFor(cfg, layer), bytes.Repeat([]byte(" "), 5000)...), []string{"Content-Type", ociManifest}, 413, "SIZE_INVALID"},
		{"schema 1 without layers", "PUT", "/v2/app/manifests/bad", []byte(`{"schemaVersion":1}`), []string{"Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws"}, 400, "MANIFEST_INVALID"},
		{"manifest digest mismatch", "PUT", "/v2/app/manifests/" + digest.FromString("x").String(), manifestFor(cfg, layer), []string{"Content-Type", ociManifest}, 400, "DIGEST_INVALID"},
		{"descriptor size not the blob's", "PUT", "/v2/app/manifests/bad", bytes.Replace(manifestFor(cfg, layer), []byte(`"size":7}`), []byte(`"size":999999}`), 1), []string{"Content-Type", ociManifest}, 400, "MANIFEST_INVALID"},
		{"blobs of another repository", "PUT", "/v2/other/manifests/bad", manifestFor(cfg, layer), []string{"Content-Type", ociManifest}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"blob digest mismatch", "POST", "/v2/app/blobs/uploads/?digest=" + digest.FromString("other").String(), []byte("content"), nil, 400, "DIGEST_INVALID"},
		{"invalid digest", "GET", "/v2/app/blobs/sha256:abc", nil, nil, 400, "DIGEST_INVALID"},
		{"unknown algorithm", "GET", "/v2/app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", nil, nil, 400, "DIGEST_INVALID"},
		{"uppercase name", "GET", "/v2/App/tags/list", nil, nil, 400, "NAME_INVALID"},
		{"traversal in name", "GET", "/v2/../../etc/passwd/tags/list", nil, nil, 400, "NAME_INVALID"},
		{"encoded traversal in name", "GET", "/v2/app/%2e%2e/%2e%2e/tags/list", nil, nil, 400, "NAME_INVALID"},
		{"traversal in digest", "GET", "/v2/app/blobs/sha256:..%2f..%2f..%2fetc%2fpasswd", nil, nil, 400, "DIGEST_INVALID"},
		{"traversal in tag", "GET", "/v2/app/manifests/..%2f..%2fwharf.db", nil, nil, 400, "TAG_INVALID"},
		{"traversal in upload id", "PATCH", "/v2/app/blobs/uploads/..%2f..%2fwharf.db", []byte("x"), nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"invalid tag", "PUT", "/v2/app/manifests/-bad", manifestFor(cfg, layer), []string{"Content-Type", ociManifest}, 400, "TAG_INVALID"},
		{"unknown endpoint", "GET", "/v2/app/nothing", nil, nil, 404, "NOT_FOUND"},
		{"method not allowed", "POST", "/v2/app/tags/list", nil, nil, 405, "UNSUPPORTED"},
		{"TRACE on the base", "TRACE", "/v2/", nil, nil, 405, "UNSUPPORTED"},
		{"negative page size", "GET", "/v2/app/tags/list?n=-1", nil, nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"page size not a number", "GET", "/v2/_catalog?n=abc", nil, nil, 400, "PAGINATION_NUMBER_INVALID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.expect(c.do(tc.method, tc.path, tc.body, tc.hdr...), tc.status, tc.code)
		})
	}
	c.t = t
	if tags := c.tags("app"); len(tags) != 1 || tags[0] != "v1" {
		t.Fatalf("tags after bad input: %v", tags)
	}
	if r := c.do("GET", "/v2/other/tags/list", nil); string(r.body) != `{"name":"other","tags":[]}` {
		t.Fatalf("other's tags after bad input: %s", r.body)
	}
	c.expect(c.do("HEAD", "/v2/app/blobs/"+digest.FromString("content").String(), nil), 404, "")
	c.expect(c.do("GET", "/v2/app/manifests/"+good.String(), nil), 200, "")
}

func TestChunkedUploadRanges(t *testing.T) {
	c := newServer(t, registry.Config{})
	c.repo("app", "")
	data := bytes.Repeat([]byte("abcdefgh"), 1000)
	r := c.do("POST", "/v2/app/blobs/uploads/", nil)
	c.expect(r, 202, "")
	loc := r.header.Get("Location")
	if r.header.Get("Range") != "0-0" || r.header.Get("Docker-Upload-UUID") == "" {
		t.Fatalf("POST headers %v", r.header)
	}
	r = c.do("PATCH", loc, data[:3000], "Content-Range", "0-2999", "Content-Type", "application/octet-stream")
	c.expect(r, 202, "")
	if r.header.Get("Range") != "0-2999" {
		t.Fatalf("Range after first chunk: %q", r.header.Get("Range"))
	}
	// Out of order, overlapping, and lying about its length: 416, and the upload stays as it was.
	for _, cr := range []string{"4000-4999", "2000-2999", "3000-3010", "garbage"} {
		r = c.do("PATCH", loc, data[3000:4000], "Content-Range", cr)
		c.expect(r, 416, "BLOB_UPLOAD_INVALID")
	}
	r = c.do("GET", loc, nil)
	c.expect(r, 204, "")
	if r.header.Get("Range") != "0-2999" {
		t.Fatalf("upload status after refused chunks: %q", r.header.Get("Range"))
	}
	r = c.do("PATCH", loc, data[3000:6000]) // streamed, no Content-Range
	c.expect(r, 202, "")
	d := digest.FromBytes(data)
	r = c.do("PUT", loc+"?digest="+d.String(), data[6000:], "Content-Range", "6000-7999")
	c.expect(r, 201, "")
	if r.header.Get("Docker-Content-Digest") != d.String() || r.header.Get("Location") != "/v2/app/blobs/"+d.String() {
		t.Fatalf("PUT headers %v", r.header)
	}
	r = c.do("GET", "/v2/app/blobs/"+d.String(), nil, "Range", "bytes=10-19")
	if r.status != 206 || string(r.body) != string(data[10:20]) {
		t.Fatalf("ranged GET: %d %q", r.status, r.body)
	}
	c.expect(c.do("GET", loc, nil), 404, "BLOB_UPLOAD_UNKNOWN")
}

func TestTagsAndCatalogPagination(t *testing.T) {
	c := newServer(t, registry.Config{})
	for _, n := range []string{"c-repo", "a-repo", "b-repo"} {
		c.repo(n, "")
	}
	d := c.pushImage("a-repo", "t0")
	for i := 1; i < 5; i++ {
		c.expect(c.do("PUT", fmt.Sprintf("/v2/a-repo/manifests/t%d", i), manifestFor(digest.FromBytes([]byte("{}")), digest.FromBytes([]byte("layert0"))), "Content-Type", ociManifest), 201, "")
	}
	r := c.do("GET", "/v2/a-repo/tags/list?n=2", nil)
	if string(r.body) != `{"name":"a-repo","tags":["t0","t1"]}` || r.header.Get("Link") != `</v2/a-repo/tags/list?last=t1&n=2>; rel="next"` {
		t.Fatalf("page 1: %s %q", r.body, r.header.Get("Link"))
	}
	r = c.do("GET", "/v2/a-repo/tags/list?n=2&last=t3", nil)
	if string(r.body) != `{"name":"a-repo","tags":["t4"]}` || r.header.Get("Link") != "" {
		t.Fatalf("last page: %s %q", r.body, r.header.Get("Link"))
	}
	r = c.do("GET", "/v2/_catalog?n=2", nil)
	if string(r.body) != `{"repositories":["a-repo","b-repo"]}` || !strings.Contains(r.header.Get("Link"), "last=b-repo") {
		t.Fatalf("catalog: %s %q", r.body, r.header.Get("Link"))
	}
	// Deleting a tag keeps the image while other tags remain; the last tag takes the image along.
	for i := 0; i < 4; i++ {
		c.expect(c.do("DELETE", fmt.Sprintf("/v2/a-repo/manifests/t%d", i), nil), 202, "")
	}
	c.expect(c.do("HEAD", "/v2/a-repo/manifests/"+d.String(), nil), 200, "")
	c.expect(c.do("DELETE", "/v2/a-repo/manifests/t4", nil), 202, "")
	c.expect(c.do("HEAD", "/v2/a-repo/manifests/"+d.String(), nil), 404, "")
}

func TestImmutableTagOnPush(t *testing.T) {
	c := newServer(t, registry.Config{})
	c.repo("app", registry.Immutable)
	c.pushImage("app", "v1")
	cfg := c.pushBlob("app", []byte("{}"))
	layer := c.pushBlob("app", []byte("another layer"))
	r := c.do("PUT", "/v2/app/manifests/v1", manifestFor(cfg, layer), "Content-Type", ociManifest)
	c.expect(r, 400, "TAG_INVALID")
	if r.message() != "The image tag 'v1' already exists in the 'app' repository and cannot be overwritten because the repository is immutable." {
		t.Fatalf("message %q", r.message())
	}
}

func TestManifestResponses(t *testing.T) {
	c := newServer(t, registry.Config{})
	c.repo("app", "")
	d := c.pushImage("app", "v1")
	sub := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sbom","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[],"subject":{"mediaType":"%s","digest":"%s","size":1},"annotations":{"k":"v"},"x-extra":1}`,
		ociManifest, digest.FromBytes([]byte("{}")), ociManifest, d)
	r := c.do("PUT", "/v2/app/manifests/sbom", []byte(sub), "Content-Type", ociManifest)
	c.expect(r, 201, "")
	if r.header.Get("OCI-Subject") != d.String() {
		t.Fatalf("OCI-Subject = %q", r.header.Get("OCI-Subject"))
	}
	r = c.do("GET", "/v2/app/manifests/sbom", nil)
	if string(r.body) != sub || r.header.Get("Content-Type") != ociManifest || r.header.Get("Docker-Content-Digest") != digest.FromString(sub).String() {
		t.Fatalf("GET: exact bytes and headers expected, got %v %s", r.header, r.body)
	}
	r = c.do("GET", "/v2/app/referrers/"+d.String()+"?artifactType=application/vnd.example.sbom", nil)
	var idx struct {
		Manifests []struct {
			Digest       string
			ArtifactType string
			Annotations  map[string]string
		}
	}
	json.Unmarshal(r.body, &idx)
	if r.status != 200 || len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["k"] != "v" || r.header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("referrers: %d %s %v", r.status, r.body, r.header)
	}
	r = c.do("GET", "/v2/app/referrers/"+d.String()+"?artifactType=application/other", nil)
	if !strings.Contains(string(r.body), `"manifests":[]`) {
		t.Fatalf("filtered referrers: %s", r.body)
	}
}

func TestAuthentication(t *testing.T) {
	c := newServer(t, registry.Config{})
	c.repo("app", "")
	good := c.auth
	for _, tc := range []struct{ name, auth string }{
		{"none", ""},
		{"wrong user", "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:x"))},
		{"garbage token", "Basic " + base64.StdEncoding.EncodeToString([]byte("AWS:not-a-token"))},
		{"unknown scheme", "Digest abc"},
	} {
		c.auth = tc.auth
		r := c.do("GET", "/v2/", nil)
		if r.status != 401 || r.code() != "UNAUTHORIZED" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic realm=") {
			t.Fatalf("%s: %d %s %v", tc.name, r.status, r.body, r.header)
		}
		c.expect(c.do("GET", "/v2/app/tags/list", nil), 401, "UNAUTHORIZED")
		// Nothing of an unauthenticated request is read: a malformed one is not told so.
		c.expect(c.do("GET", "/v2/_catalog?n=-1", nil), 401, "UNAUTHORIZED")
		c.expect(c.do("GET", "/v2/App/tags/list?n=abc", nil), 401, "UNAUTHORIZED")
	}
	// Bearer carrying the password, and Bearer carrying ECR's base64 token, both work.
	_, p, _ := c.app.Identity.LookupKey(context.Background(), admin.AccessKeyID)
	token := c.app.Identity.IssueToken(p, time.Now().Add(time.Hour))
	for _, auth := range []string{good, "Bearer " + token, "Bearer " + base64.StdEncoding.EncodeToString([]byte("AWS:"+token))} {
		c.auth = auth
		c.expect(c.do("GET", "/v2/app/tags/list", nil), 200, "")
	}
	// An expired token is refused.
	c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte("AWS:"+c.app.Identity.IssueToken(p, time.Now().Add(-time.Second))))
	c.expect(c.do("GET", "/v2/app/tags/list", nil), 401, "UNAUTHORIZED")
	// Another account's registry is closed to this caller.
	c.auth = good
	other, err := c.app.Identity.CreateAccount(context.Background(), "111122223333")
	if err != nil {
		t.Fatal(err)
	}
	_, op, _ := c.app.Identity.LookupKey(context.Background(), other.AccessKeyID)
	c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte("AWS:"+c.app.Identity.IssueToken(op, time.Now().Add(time.Hour))))
	c.expect(c.do("GET", "/v2/app/tags/list", nil), 403, "DENIED")
}

// TestConcurrentFirstRequests: a fresh handler serves its first requests concurrently with no shared
// state set up on the way (scripts/test.sh runs it under -race). Before, the handler set its logger on
// the first requests, racing.
func TestConcurrentFirstRequests(t *testing.T) {
	c := newServer(t, registry.Config{})
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.app.Handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v2/nothing/here/at/all", nil))
		}()
	}
	wg.Wait()
}

// TestOversizedManifest: a manifest over the limit is answered 413 with its real size — sent with a
// Content-Length or chunked — and a client that writes its whole body before it reads sees that answer,
// not a broken pipe. The connection closes after it.
func TestOversizedManifest(t *testing.T) {
	c := newServer(t, registry.Config{Limits: registry.Limits{ManifestSize: 4096}})
	c.repo("app", "")
	host := strings.TrimPrefix(c.url, "http://")
	send := func(chunked bool, size int) string {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		body := bytes.Repeat([]byte(" "), size)
		head := "PUT /v2/app/manifests/big HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: " + c.auth + "\r\nContent-Type: " + ociManifest + "\r\n"
		if chunked {
			head += "Transfer-Encoding: chunked\r\n\r\n"
			body = append([]byte(fmt.Sprintf("%x\r\n", size)), append(body, []byte("\r\n0\r\n\r\n")...)...)
		} else {
			head += fmt.Sprintf("Content-Length: %d\r\n\r\n", size)
		}
		if _, err := conn.Write(append([]byte(head), body...)); err != nil {
			t.Fatalf("writing the body: %v", err)
		}
		conn.(*net.TCPConn).CloseWrite()
		answer, err := io.ReadAll(conn)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		return string(answer)
	}
	for _, chunked := range []bool{false, true} {
		answer := send(chunked, 24<<20) // more than socket buffers hold: the server must read it
		if !strings.HasPrefix(answer, "HTTP/1.1 413") || !strings.Contains(answer, "SIZE_INVALID") ||
			!strings.Contains(answer, "manifest of 25165824 bytes exceeds the limit of 4096 bytes") || !strings.Contains(answer, "Connection: close") {
			t.Errorf("chunked %v: %.400s", chunked, answer)
		}
	}
}
