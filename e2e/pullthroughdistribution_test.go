package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"
)

// distribution is a CNCF Distribution registry (scripts/test.sh builds its cmd/registry) started for a
// test on 127.0.0.1, its storage in a temporary directory, behind a proxy that counts the requests it
// answers 200 to by method and path: what Wharf fetched from it.
type distribution struct {
	t      *testing.T
	addr   string // the proxy's, where clients reach it
	cmd    *exec.Cmd
	log    *bytes.Buffer
	proxy  *httptest.Server
	mu     sync.Mutex
	counts map[string]int
	held   func(*http.Request) // when set, called before each request is passed on
}

// startDistribution starts the registry, with htpasswd basic auth of user and password when user is not
// "" (else anonymous).
func startDistribution(t *testing.T, user, password string) *distribution {
	t.Helper()
	bin := tool(t, "registry")
	dir := t.TempDir()
	addr := freeAddr(t)
	auth := ""
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: upstream\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	config := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n%s",
		filepath.Join(dir, "data"), addr, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &distribution{t: t, log: &bytes.Buffer{}, counts: map[string]int{}}
	d.cmd = exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get("http://" + addr + "/v2/"); err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Distribution registry did not start:\n%s", d.log)
		}
	}
	target, _ := url.Parse("http://" + addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(res *http.Response) error {
		if res.StatusCode == http.StatusOK {
			d.mu.Lock()
			d.counts[res.Request.Method+" "+res.Request.URL.Path]++
			d.mu.Unlock()
		}
		return nil
	}
	d.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		held := d.held
		d.mu.Unlock()
		if held != nil {
			held(r)
		}
		rp.ServeHTTP(w, r)
	}))
	d.addr = strings.TrimPrefix(d.proxy.URL, "http://")
	return d
}

// hold calls f before each request is passed on (nil: none).
func (d *distribution) hold(f func(*http.Request)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.held = f
}

// count returns the requests answered 200 of a method and path, and reset forgets them all.
func (d *distribution) count(method, path string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counts[method+" "+path]
}

func (d *distribution) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.counts = map[string]int{}
}

// fetched returns the GETs of each path of a repository's blobs and manifests.
func (d *distribution) fetched(repository string) map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int{}
	for k, n := range d.counts {
		if p, ok := strings.CutPrefix(k, "GET /v2/"+repository+"/"); ok {
			out[p] = n
		}
	}
	return out
}

func (d *distribution) stop() {
	if d.proxy != nil {
		d.proxy.Close()
	}
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
		d.cmd.Wait()
		d.cmd = nil
	}
}

// pushImages pushes two images (v1, v2) and an index of both (multi) to a repository and returns their
// digests by tag.
func pushImages(t *testing.T, repo, work string) map[string]string {
	crane := tool(t, "crane")
	for _, tag := range []string{"v1", "v2"} {
		run(t, crane, "append", "--insecure", "-f", writeTar(t, work, tag, []byte("the layer of "+tag+" "+repo)), "-t", repo+":"+tag)
	}
	run(t, crane, "index", "append", "--insecure", "-m", repo+":v1", "-m", repo+":v2", "-t", repo+":multi")
	want := map[string]string{}
	for _, tag := range []string{"v1", "v2", "multi"} {
		want[tag] = strings.TrimSpace(run(t, crane, "digest", "--insecure", repo+":"+tag))
	}
	return want
}

// craneLogin logs crane in to each address with a user and password.
func craneLogin(t *testing.T, user, password string, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		if out, err := runEnv(t, nil, strings.NewReader(password), tool(t, "crane"), "auth", "login", a, "-u", user, "--password-stdin"); err != nil {
			t.Fatalf("crane auth login %s: %v\n%s", a, err, out)
		}
	}
}

// TestPullThroughCacheFromDistribution: pull through a cache from a CNCF Distribution registry with basic
// auth, its credentials in a secret: concurrent first pulls fetch each manifest and blob once and every
// one gets the image, verified; a multi-arch index; the repository in describe-images; a moved tag picked
// up after the refresh interval and not before; once the upstream is stopped, the rule is not valid and
// the cached image is still served.
func TestPullThroughCacheFromDistribution(t *testing.T) {
	crane := tool(t, "crane")
	up := startDistribution(t, "alice", "s3cret")
	const refresh = 8 * time.Second
	s := startServer(t, t.TempDir(), "--pull-through-allow-http", "--pull-through-refresh", refresh.String())
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	craneLogin(t, "alice", "s3cret", up.addr)
	craneLogin(t, "AWS", s.password(), s.addr)
	work := t.TempDir()
	want := pushImages(t, up.addr+"/lib/app", work)

	var secret struct{ ARN string }
	jsonOf(t, s.aws("secretsmanager", "create-secret", "--name", "ecr-pullthroughcache/dist", "--endpoint-url", "http://"+s.addr,
		"--secret-string", `{"username":"alice","accessToken":"s3cret"}`), &secret)
	s.aws("ecr", "create-pull-through-cache-rule", "--cli-input-json",
		`{"ecrRepositoryPrefix":"dist","upstreamRegistryUrl":"http://`+up.addr+`","credentialArn":"`+secret.ARN+`"}`)
	var valid struct {
		IsValid bool
		Failure string
	}
	jsonOf(t, s.aws("ecr", "validate-pull-through-cache-rule", "--ecr-repository-prefix", "dist"), &valid)
	if !valid.IsValid {
		t.Fatalf("validate: %+v", valid)
	}

	// Concurrent first pulls: one fetch of each thing upstream; every pull gets every blob, verified.
	up.reset()
	cached := s.addr + "/dist/lib/app"
	var wg sync.WaitGroup
	errs := make(chan string, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := runEnv(t, nil, nil, crane, "pull", "--insecure", cached+":v1", filepath.Join(work, fmt.Sprintf("first-%d.tar", i))); err != nil {
				errs <- out
			}
		}()
	}
	wg.Wait()
	close(errs)
	for out := range errs {
		t.Fatalf("a first pull: %s", out)
	}
	fetched := up.fetched("lib/app")
	if fetched["manifests/v1"] != 1 || len(fetched) != 3 { // the manifest, the config and the layer
		t.Fatalf("fetched upstream: %v", fetched)
	}
	for p, n := range fetched {
		if n != 1 {
			t.Fatalf("%s fetched %d times: %v", p, n, fetched)
		}
	}
	digestOf := func(ref string) string { return strings.TrimSpace(run(t, crane, "digest", "--insecure", ref)) }
	if got := digestOf(cached + ":v1"); got != want["v1"] {
		t.Fatalf("v1 through the cache: %s, want %s", got, want["v1"])
	}
	if got := digestOf(cached + ":multi"); got != want["multi"] {
		t.Fatalf("the index through the cache: %s, want %s", got, want["multi"])
	}
	run(t, crane, "pull", "--insecure", "--format", "oci", cached+":multi", filepath.Join(work, "multi"))
	if got := digestOf(cached + "@" + want["v2"]); got != want["v2"] {
		t.Fatalf("an image of the index by digest: %s", got)
	}
	var images struct {
		ImageDetails []struct{ ImageDigest string }
	}
	for deadline := time.Now().Add(20 * time.Second); len(images.ImageDetails) != 3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("describe-images: %+v", images)
		}
		images.ImageDetails = nil
		jsonOf(t, s.aws("ecr", "describe-images", "--repository-name", "dist/lib/app"), &images)
	}

	// The tag moved upstream: the image cached until the check is due, then the new one.
	time.Sleep(refresh)
	digestOf(cached + ":v1") // checked upstream: unchanged
	checked := time.Now()
	run(t, crane, "append", "--insecure", "-f", writeTar(t, work, "v1b", []byte("another layer of v1")), "-t", up.addr+"/lib/app:v1")
	moved := digestOf(up.addr + "/lib/app:v1")
	if got := digestOf(cached + ":v1"); time.Since(checked) < refresh && got != want["v1"] {
		t.Fatalf("v1 before the refresh interval: %s, want %s", got, want["v1"])
	}
	time.Sleep(refresh - time.Since(checked))
	if got := digestOf(cached + ":v1"); got != moved {
		t.Fatalf("v1 after the refresh interval: %s, want %s", got, moved)
	}
	run(t, crane, "pull", "--insecure", cached+":v1", filepath.Join(work, "moved.tar"))

	// The upstream stopped: the rule is not valid; the cache serves what it has, a tag due for a check too.
	up.stop()
	jsonOf(t, s.aws("ecr", "validate-pull-through-cache-rule", "--ecr-repository-prefix", "dist"), &valid)
	if valid.IsValid || !strings.Contains(valid.Failure, "could not be reached") {
		t.Fatalf("validate with the upstream stopped: %+v", valid)
	}
	time.Sleep(refresh)
	run(t, crane, "pull", "--insecure", cached+":v1", filepath.Join(work, "down.tar"))
	if got := digestOf(cached + ":v1"); got != moved {
		t.Fatalf("v1 with the upstream stopped: %s, want %s", got, moved)
	}
	if got := digestOf(cached + ":multi"); got != want["multi"] {
		t.Fatalf("the index with the upstream stopped: %s", got)
	}
}

// TestPullThroughCacheFromDistributionOnThreeNodes: three nodes on PostgreSQL and S3, a Distribution registry upstream:
// concurrent first pulls through all three nodes fetch each manifest and blob once, and every node serves
// the image; a first pull whose blob requests reach other nodes than its manifest's gets the blobs once
// stored.
func TestPullThroughCacheFromDistributionOnThreeNodes(t *testing.T) {
	crane := tool(t, "crane")
	up := startDistribution(t, "", "")
	nodes, _, _ := startCluster(t, 3, "--pull-through-allow-http")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	pw := nodes[0].password()
	craneLogin(t, "AWS", pw, nodes[0].addr, nodes[1].addr, nodes[2].addr)
	work := t.TempDir()
	want := pushImages(t, up.addr+"/lib/app", work)
	nodes[0].aws("ecr", "create-pull-through-cache-rule", "--cli-input-json",
		`{"ecrRepositoryPrefix":"dist","upstreamRegistryUrl":"http://`+up.addr+`"}`)

	up.reset()
	var wg sync.WaitGroup
	errs := make(chan string, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := nodes[i%3].addr + "/dist/lib/app:multi"
			if out, err := runEnv(t, nil, nil, crane, "pull", "--insecure", "--format", "oci", ref, filepath.Join(work, fmt.Sprintf("first-%d", i))); err != nil {
				errs <- out
			}
		}()
	}
	wg.Wait()
	close(errs)
	for out := range errs {
		for _, n := range nodes {
			t.Logf("the log of %s:\n%s", n.addr, tail(n.log.String(), 4000))
		}
		t.Fatalf("a first pull: %s", out)
	}
	fetched := up.fetched("lib/app")
	if fetched["manifests/multi"] != 1 || len(fetched) != 7 { // the index, two manifests, two configs and two layers
		t.Fatalf("fetched upstream: %v", fetched)
	}
	for p, n := range fetched {
		if n != 1 {
			t.Fatalf("%s fetched %d times: %v", p, n, fetched)
		}
	}
	for _, n := range nodes {
		if got := strings.TrimSpace(run(t, crane, "digest", "--insecure", n.addr+"/dist/lib/app:multi")); got != want["multi"] {
			t.Fatalf("the index on %s: %s, want %s", n.addr, got, want["multi"])
		}
	}

	// A client behind a load balancer: the manifest of a first pull from one node, while that node still
	// fetches the blobs, which the client asks the other nodes for. They wait for each blob, then serve it.
	pushImages(t, up.addr+"/lib/other", work)
	gate := make(chan struct{})
	up.hold(func(r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/lib/other/blobs/") {
			<-gate
		}
	})
	res, body := send(t, "GET", "http://"+nodes[0].addr+"/v2/dist/lib/other/manifests/v1", pw, nil,
		"Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	if res.StatusCode != http.StatusOK {
		close(gate)
		t.Fatalf("the manifest of a first pull: %d %s", res.StatusCode, body)
	}
	var m struct {
		Config struct{ Digest digest.Digest }
		Layers []struct{ Digest digest.Digest }
	}
	if err := json.Unmarshal(body, &m); err != nil || len(m.Layers) == 0 {
		close(gate)
		t.Fatalf("the manifest: %v %s", err, body)
	}
	blobs := []digest.Digest{m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	results := make(chan error, 2*len(blobs))
	for _, d := range blobs {
		for i, method := range []string{"GET", "HEAD"} {
			go func() {
				results <- fetchBlob(method, "http://"+nodes[1+i].addr+"/v2/dist/lib/other/blobs/"+d.String(), pw, d)
			}()
		}
	}
	select {
	case err := <-results:
		close(gate)
		t.Fatalf("a blob request answered while the blob was on its way: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	close(gate)
	for range 2 * len(blobs) {
		if err := <-results; err != nil {
			t.Fatalf("a blob of a first pull, from another node: %v", err)
		}
	}
	up.hold(nil)
}

// fetchBlob requests a blob (GET or HEAD), following a redirect to the blob store, and checks the answer:
// its bytes' digest for a GET.
func fetchBlob(method, url, password string, d digest.Digest) error {
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", basicAuth(password))
	res, err := http.DefaultClient.Do(req) // the Authorization header does not follow a redirect to another host
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	switch {
	case err != nil:
		return err
	case res.StatusCode != http.StatusOK:
		return fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, body)
	case method == "GET" && digest.FromBytes(body) != d:
		return fmt.Errorf("GET %s: %d bytes of digest %s", url, len(body), digest.FromBytes(body))
	}
	return nil
}
