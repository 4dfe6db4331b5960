// Command bench measures a live Wharf over loopback and prints one line per scenario.
//
//	go run ./bench                 # builds wharf, starts it on a temporary data directory, measures
//	go run ./bench -addr HOST:PORT # measures a server you started (create-on-push must be on)
//	go run ./bench -only upload,chunked,pulls,layers -compare-url http://127.0.0.1:5000
//	                               # then measures the blob scenarios on another registry (no auth)
//
// Upload scenarios stay under 1 GiB each (this VM slows writes once it has handed a GiB back to its host);
// repeat runs and compare medians.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/iam"
)

var (
	addr       = flag.String("addr", "", "measure this running server instead of starting one")
	blobMiB    = flag.Int("blob-mib", 64, "size of each uploaded blob in MiB")
	blobs      = flag.Int("blobs", 8, "blobs per upload scenario")
	tags       = flag.Int("tags", 1000, "tags in the manifest scenarios")
	getReqs    = flag.Int("gets", 100000, "manifest GETs in the GET scenario")
	getConns   = flag.Int("clients", 32, "concurrent clients for manifest GETs")
	cluster    = flag.Bool("cluster", false, "compare one embedded node with three nodes on PostgreSQL and S3 (see bench/cluster.go), and nothing else")
	only       = flag.String("only", "", "comma-separated scenarios to run: upload,chunked,pulls,layers,put,get,tags,ecr,policy,lifecycle,vulndb,scan,rematch,usage,console,replication,pullthrough (default all)")
	compare    = flag.String("compare-url", "", "after Wharf, run the blob scenarios (upload, chunked, pulls, layers) on the registry at this URL, without auth")
	comparePID = flag.Int("compare-pid", 0, "the process id of the -compare-url registry, for its peak RSS")
)

// The admin key of a server the bench starts; with -addr, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
const (
	benchKeyID  = "AKIABENCHADMIN000001"
	benchSecret = "bench-secret"
)

// authHeader carries the registry password of `aws ecr get-login-password` on every registry request.
var authHeader string

func want(name string) bool {
	return *only == "" || strings.Contains(","+*only+",", ","+name+",")
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128, DisableCompression: true}}

func main() {
	flag.Parse()
	if *cluster {
		clusterBench()
		return
	}
	if want("replication") { // two deployments of its own
		replicationBench()
		if *only == "replication" {
			return
		}
	}
	base, pid, stop := target()
	defer stop()
	b := &bench{base: base, pid: pid, ecr: ecrClient(base)}
	tok, err := b.ecr.GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
	check(err)
	authHeader = "Basic " + *tok.AuthorizationData[0].AuthorizationToken

	b.blobScenarios()
	if want("put") || want("get") || want("tags") || want("ecr") {
		b.manifestPuts(1)
		b.manifestPuts(10)
	}
	if want("get") {
		b.manifestGets()
	}
	if want("tags") {
		b.tagsList()
	}
	if want("ecr") {
		b.ecrCalls()
	}
	if want("policy") {
		policyEvaluation()
	}
	if want("lifecycle") {
		lifecycleEvaluation()
		lifecyclePass()
	}
	if want("vulndb") {
		vulnDBBench()
	}
	if want("scan") {
		b.scanBench()
	}
	if want("rematch") {
		rematchBench()
	}
	if want("usage") {
		usageBench()
	}
	if want("console") {
		b.consoleBench()
	}
	if want("pullthrough") {
		pullThroughBench()
	}
	if pid > 0 {
		fmt.Printf("%-34s %s\n", "peak RSS (VmHWM)", peakRSS(pid))
	}
	if *compare != "" {
		fmt.Printf("\n%s (-compare-url):\n", *compare)
		authHeader = ""
		other := &bench{base: strings.TrimSuffix(*compare, "/"), pid: *comparePID}
		other.blobScenarios()
	}
}

// blobScenarios are the scenarios that use only the registry API's blob and manifest calls, which
// -compare-url runs on another registry too.
func (b *bench) blobScenarios() {
	if want("upload") {
		b.uploadMonolithic()
	}
	if want("chunked") {
		b.uploadChunked()
	}
	if want("pulls") {
		b.imagePulls(10, 256)
	}
	if want("layers") {
		b.smallLayers(50)
	}
}

type bench struct {
	base  string
	nodes []string // every node's base URL, for the cluster scenarios
	pid   int
	big   digest.Digest // a pushed blob to download
	ecr   *ecr.Client
}

func ecrClient(base string) *ecr.Client {
	id, secret := benchKeyID, benchSecret
	if *addr != "" {
		id, secret = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	return ecr.New(ecr.Options{Region: "us-east-1", BaseEndpoint: aws.String(base),
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
		HTTPClient:  client})
}

// served is the binary and data directory of the server the bench started (empty with -addr).
var served struct{ bin, dataDir string }

// target starts wharf unless -addr was given; it returns the base URL, the server's pid and a stop func.
func target() (string, int, func()) {
	if *addr != "" {
		return "http://" + *addr, 0, func() {}
	}
	dir, err := os.MkdirTemp("", "wharf-bench")
	check(err)
	bin := filepath.Join(dir, "wharf")
	build := exec.Command("go", "build", "-o", bin, "./cmd/wharf")
	build.Stderr = os.Stderr
	check(build.Run())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	a := ln.Addr().String()
	ln.Close()
	served.bin, served.dataDir = bin, filepath.Join(dir, "data")
	cmd := exec.Command(bin, "serve", "--addr", a, "--data-dir", served.dataDir, "--create-on-push",
		"--log-level", "warn", "--max-images", "1000000", "--max-repositories", "100000", "--gc-interval", "0")
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "WHARF_ADMIN_ACCESS_KEY_ID="+benchKeyID, "WHARF_ADMIN_SECRET_ACCESS_KEY="+benchSecret)
	if _, ok := os.LookupEnv("WHARF_THROTTLE"); !ok {
		// The scenarios call faster than ECR's quotas allow one account: limits no scenario reaches, so
		// that throttling costs what it costs when no one is throttled.
		cmd.Env = append(cmd.Env, `WHARF_THROTTLE={"default": {"*": {"rate": 1e9}}}`)
	}
	check(cmd.Start())
	for i := 0; i < 200; i++ {
		if res, err := http.Get("http://" + a + "/healthz"); err == nil && res.StatusCode == 200 {
			res.Body.Close()
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	fmt.Printf("wharf at %s, data in %s\n", a, dir)
	return "http://" + a, cmd.Process.Pid, func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		os.RemoveAll(dir)
	}
}

// cleanups run before the bench exits on an error (servers it started).
var cleanups []func()

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		os.Exit(1)
	}
}

func do(method, url string, body io.Reader, size int64, hdr ...string) *http.Response {
	req, err := http.NewRequest(method, url, body)
	check(err)
	if size >= 0 {
		req.ContentLength = size
	}
	if authHeader != "" {
		req.Header.Set("Authorization", authHeader)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := client.Do(req)
	check(err)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode >= 300 {
		check(fmt.Errorf("%s %s: %s", method, url, res.Status))
	}
	return res
}

// get sends an authenticated GET and returns the response with its body unread.
func get(url string) *http.Response {
	req, err := http.NewRequest("GET", url, nil)
	check(err)
	if authHeader != "" {
		req.Header.Set("Authorization", authHeader)
	}
	res, err := client.Do(req)
	check(err)
	return res
}

// blobsToUpload makes n distinct blobs sharing one buffer (only the first 8 bytes differ) with their digests.
func blobsToUpload(n int) ([]byte, []digest.Digest, func(i int) []byte) {
	size := *blobMiB << 20
	buf := make([]byte, size)
	rand.Read(buf)
	ds := make([]digest.Digest, n)
	variant := func(i int) []byte {
		copy(buf, fmt.Sprintf("%08d", i))
		return buf
	}
	for i := range ds {
		ds[i] = digest.FromBytes(variant(i))
	}
	return buf, ds, variant
}

func mbps(bytes int64, d time.Duration) string {
	return fmt.Sprintf("%.0f MB/s", float64(bytes)/1e6/d.Seconds())
}

func (b *bench) uploadMonolithic() {
	_, ds, variant := blobsToUpload(*blobs)
	var total time.Duration
	for i, d := range ds {
		data := variant(i)
		start := time.Now()
		b.putBlob("bench/mono", d, data)
		total += time.Since(start)
	}
	b.big = ds[0]
	fmt.Printf("%-34s %s (%d x %d MiB)\n", "upload, monolithic POST+PUT", mbps(int64(len(ds))*int64(*blobMiB)<<20, total), len(ds), *blobMiB)
	b.pullRounds("bench/mono", ds)
}

// putBlob uploads data to repo in one POST and one PUT.
func (b *bench) putBlob(repo string, d digest.Digest, data []byte) {
	res := do("POST", b.base+"/v2/"+repo+"/blobs/uploads/", nil, 0)
	do("PUT", b.location(res, "digest="+d.String()), bytes.NewReader(data), int64(len(data)),
		"Content-Type", "application/octet-stream")
}

// location returns the URL of a response's Location header (relative or absolute) with query added.
func (b *bench) location(res *http.Response, query string) string {
	base, err := url.Parse(b.base + "/")
	check(err)
	u, err := base.Parse(res.Header.Get("Location"))
	check(err)
	if query != "" {
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += query
	}
	return u.String()
}

func (b *bench) uploadChunked() {
	_, ds, variant := blobsToUpload(*blobs)
	const chunk = 5 << 20
	var total time.Duration
	for i, d := range ds {
		data := variant(i)
		start := time.Now()
		res := do("POST", b.base+"/v2/bench/chunked/blobs/uploads/", nil, 0)
		for off := 0; off < len(data); off += chunk {
			end := min(off+chunk, len(data))
			res = do("PATCH", b.location(res, ""), bytes.NewReader(data[off:end]), int64(end-off),
				"Content-Range", fmt.Sprintf("%d-%d", off, end-1), "Content-Type", "application/octet-stream")
		}
		do("PUT", b.location(res, "digest="+d.String()), nil, 0)
		total += time.Since(start)
	}
	fmt.Printf("%-34s %s (%d x %d MiB in 5 MiB PATCHes)\n", "upload, chunked", mbps(int64(len(ds))*int64(*blobMiB)<<20, total), len(ds), *blobMiB)
	b.pullRounds("bench/chunked", ds)
}

// pullRounds downloads the blobs just pushed, in push order, three times: the first round is what a
// deploy pulling a fresh push gets (nothing but the push has touched the blobs), the other two what
// later pulls get.
func (b *bench) pullRounds(repo string, ds []digest.Digest) {
	const rounds = 3
	var first, later time.Duration
	var n int64
	for r := 0; r < rounds; r++ {
		start := time.Now()
		for _, d := range ds {
			res := get(b.base + "/v2/" + repo + "/blobs/" + d.String())
			k := drain(res.Body)
			res.Body.Close()
			if r == 0 {
				n += k
			}
		}
		if r == 0 {
			first = time.Since(start)
		} else {
			later += time.Since(start)
		}
	}
	fmt.Printf("%-34s %s (%d x %d MiB, each blob's first GET after the push)\n", "  first pull", mbps(n, first), len(ds), *blobMiB)
	fmt.Printf("%-34s %s (%d more rounds)\n", "  later pulls", mbps(n*(rounds-1), later), rounds-1)
}

// pushBase pushes one config and layer to repo; manifests then only reference them.
func (b *bench) pushBase(repo string) (digest.Digest, digest.Digest) {
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := []byte("a small layer")
	for _, blob := range [][]byte{cfg, layer} {
		do("POST", b.base+"/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(blob).String(), bytes.NewReader(blob), int64(len(blob)))
	}
	return digest.FromBytes(cfg), digest.FromBytes(layer)
}

func manifestBody(cfg, layer digest.Digest, i int) []byte {
	return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":37},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":13}],"annotations":{"n":"%d"}}`, cfg, layer, i))
}

func (b *bench) manifestPuts(clients int) {
	repo := fmt.Sprintf("bench/puts-%d", clients)
	cfg, layer := b.pushBase(repo)
	n := *tags
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body := manifestBody(cfg, layer, i)
				do("PUT", fmt.Sprintf("%s/v2/%s/manifests/t%04d", b.base, repo, i), bytes.NewReader(body), int64(len(body)),
					"Content-Type", "application/vnd.oci.image.manifest.v1+json")
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("%-34s %.0f/s (%d manifests, %d clients)\n", fmt.Sprintf("manifest PUT, %d client(s)", clients), float64(n)/el.Seconds(), n, clients)
}

func percentile(ds []time.Duration, p float64) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[int(float64(len(ds)-1)*p)]
}

// rawClient is a minimal HTTP/1.1 keep-alive client for GETs: the load generator shares the machine's
// two cores with the server, so it should spend as little of them as it can.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
	host string
}

func dialRaw(base string) *rawClient {
	host := strings.TrimPrefix(base, "http://")
	c, err := net.Dial("tcp", host)
	check(err)
	return &rawClient{conn: c, r: bufio.NewReaderSize(c, 64<<10), host: host}
}

// get sends a GET and reads the whole response, returning its status and body length.
func (c *rawClient) get(path string) (int, int) {
	auth := ""
	if authHeader != "" {
		auth = "Authorization: " + authHeader + "\r\n"
	}
	_, err := io.WriteString(c.conn, "GET "+path+" HTTP/1.1\r\nHost: "+c.host+"\r\n"+auth+"Accept: application/vnd.oci.image.manifest.v1+json\r\n\r\n")
	check(err)
	line, err := c.r.ReadSlice('\n')
	check(err)
	status, _ := strconv.Atoi(string(line[9:12]))
	length := 0
	for {
		line, err = c.r.ReadSlice('\n')
		check(err)
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && strings.EqualFold(string(line[:15]), "content-length:") {
			length, _ = strconv.Atoi(strings.TrimSpace(string(line[15:])))
		}
	}
	_, err = c.r.Discard(length)
	check(err)
	return status, length
}

func (b *bench) manifestGets() {
	repo := "bench/puts-10" // 1,000 tags pushed by the PUT scenario
	n, conns := *getReqs, *getConns
	clients := make([]*rawClient, conns)
	for c := range clients {
		clients[c] = dialRaw(b.base)
	}
	el, all := load(conns, func(c, i int) {
		path := fmt.Sprintf("/v2/%s/manifests/t%04d", repo, i%*tags)
		if status, _ := clients[c].get(path); status != 200 {
			check(fmt.Errorf("GET %s: %d", path, status))
		}
	}, n)
	for _, c := range clients {
		c.conn.Close()
	}
	fmt.Printf("%-34s %.0f/s, p50 %s, p99 %s (%d GETs by tag, %d clients, %d tags)\n", "manifest GET",
		float64(n)/el.Seconds(), round(percentile(all, .5)), round(percentile(all, .99)), n, conns, *tags)
}

// load runs n calls of do spread over clients goroutines (do gets the client and the call number) and
// returns the elapsed time and every call's latency.
func load(clients int, do func(c, i int), n int) (time.Duration, []time.Duration) {
	lat := make([][]time.Duration, clients)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := c; i < n; i += clients {
				t0 := time.Now()
				do(c, i)
				lat[c] = append(lat[c], time.Since(t0))
			}
		}(c)
	}
	wg.Wait()
	el := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return el, all
}

func round(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

func (b *bench) tagsList() {
	c := dialRaw(b.base)
	defer c.conn.Close()
	var ds []time.Duration
	size := 0
	for i := 0; i < 300; i++ {
		t0 := time.Now()
		status, n := c.get("/v2/bench/puts-10/tags/list")
		if status != 200 {
			check(fmt.Errorf("tags/list: %d", status))
		}
		ds = append(ds, time.Since(t0))
		size = n
	}
	fmt.Printf("%-34s p50 %s, p99 %s (%d tags, %d bytes)\n", "tags/list", round(percentile(ds, .5)), round(percentile(ds, .99)), *tags, size)
}

// policyEvaluation measures one IAM decision with 10 identity policies and a 20-statement repository policy.
func policyEvaluation() {
	req, identity, resource := iam.BenchmarkSetup()
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			iam.Evaluate(req, identity, resource)
		}
	})
	fmt.Printf("%-34s %.2f µs/decision, %d allocs (10 identity policies, 20-statement repository policy)\n", "policy evaluation",
		float64(r.NsPerOp())/1000, r.AllocsPerOp())
}

// ecrCalls measures SigV4-signed DescribeImages calls (a page of 100 of the 1,000 images) from 16 clients.
func (b *bench) ecrCalls() {
	const clients, perClient = 16, 100
	ctx := context.Background()
	el, all := load(clients, func(int, int) {
		out, err := b.ecr.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("bench/puts-10")})
		check(err)
		if len(out.ImageDetails) != 100 {
			check(fmt.Errorf("DescribeImages returned %d images", len(out.ImageDetails)))
		}
	}, clients*perClient)
	fmt.Printf("%-34s %.0f/s, p50 %s, p99 %s (DescribeImages, 100 of %d images per call, %d clients, SigV4)\n", "ECR API calls",
		float64(clients*perClient)/el.Seconds(), round(percentile(all, .5)), round(percentile(all, .99)), *tags, clients)
}

// imagePulls pushes an image of mib MiB (layers of -blob-mib) and pulls it with clients at once, each
// pull the manifest, the config and the layers in turn; it prints the throughput and the server's peak
// RSS during the pulls.
func (b *bench) imagePulls(clients, mib int) {
	repo := "bench/image"
	_, ds, variant := blobsToUpload(max(mib / *blobMiB, 1))
	for i, d := range ds {
		b.putBlob(repo, d, variant(i))
	}
	size := int64(len(ds)) * int64(*blobMiB) << 20
	paths := b.pushImage(repo, "big", ds, int64(*blobMiB)<<20)
	resetHWM(b.pid)
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialRaw(b.base)
			defer c.conn.Close()
			for _, p := range paths {
				if status, _ := c.get(p); status != 200 {
					check(fmt.Errorf("GET %s: %d", p, status))
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("%-34s %s, server peak RSS %s (%d clients x %d MiB image, %d layers)\n", fmt.Sprintf("%d concurrent image pulls", clients),
		mbps(int64(clients)*size, el), vmHWM(b.pid), clients, size>>20, len(ds))
}

// pushImage pushes a config and a manifest of layers (each of layerSize bytes, pushed already) to
// repo:tag and returns the paths a pull GETs, the manifest's first.
func (b *bench) pushImage(repo, tag string, layers []digest.Digest, layerSize int64) []string {
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cd := digest.FromBytes(cfg)
	b.putBlob(repo, cd, cfg)
	var m strings.Builder
	fmt.Fprintf(&m, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[`, cd, len(cfg))
	paths := []string{"/v2/" + repo + "/manifests/" + tag, "/v2/" + repo + "/blobs/" + cd.String()}
	for i, d := range layers {
		if i > 0 {
			m.WriteByte(',')
		}
		fmt.Fprintf(&m, `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}`, d, layerSize)
		paths = append(paths, "/v2/"+repo+"/blobs/"+d.String())
	}
	m.WriteString("]}")
	do("PUT", b.base+"/v2/"+repo+"/manifests/"+tag, strings.NewReader(m.String()), int64(m.Len()),
		"Content-Type", "application/vnd.oci.image.manifest.v1+json")
	return paths
}

// smallLayers pushes an image of n layers of 8 KiB and pulls it (manifest, config, layers in turn on one
// connection) by one client, then by 8 at once: the cost of a request, not of bytes.
func (b *bench) smallLayers(n int) {
	repo := "bench/layers"
	const layerSize = 8 << 10
	layer := make([]byte, layerSize)
	rand.Read(layer)
	ds := make([]digest.Digest, n)
	for i := range ds {
		copy(layer, fmt.Sprintf("%08d", i))
		ds[i] = digest.FromBytes(layer)
		b.putBlob(repo, ds[i], layer)
	}
	paths := b.pushImage(repo, "small", ds, layerSize)
	for _, clients := range []int{1, 8} {
		// Each client pulls for two seconds (and at least 5 times): a slow registry does not hold the bench up.
		lat := make([][]time.Duration, clients)
		deadline := time.Now().Add(2 * time.Second)
		start := time.Now()
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn := dialRaw(b.base)
				defer conn.conn.Close()
				for len(lat[c]) < 5 || time.Now().Before(deadline) {
					t0 := time.Now()
					for _, p := range paths {
						if status, _ := conn.get(p); status != 200 {
							check(fmt.Errorf("GET %s: %d", p, status))
						}
					}
					lat[c] = append(lat[c], time.Since(t0))
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		var all []time.Duration
		for _, l := range lat {
			all = append(all, l...)
		}
		fmt.Printf("%-34s %s per pull (p50), %.0f requests/s (%d pulls of %d requests, %d client(s))\n",
			fmt.Sprintf("pull of %d small layers, %d cl.", n, clients), round(percentile(all, .5)),
			float64(len(all)*len(paths))/el.Seconds(), len(all), len(paths), clients)
	}
}

// pulls downloads the big blob of repo with clients at once, client c through node c, and returns the
// throughput.
func (b *bench) pulls(clients int, repo string) string {
	nodes := b.nodes
	if len(nodes) == 0 {
		nodes = []string{b.base}
	}
	var wg sync.WaitGroup
	start := time.Now()
	var mu sync.Mutex
	var n int64
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := get(nodes[c%len(nodes)] + "/v2/" + repo + "/blobs/" + b.big.String())
			k := drain(res.Body)
			res.Body.Close()
			mu.Lock()
			n += k
			mu.Unlock()
		}()
	}
	wg.Wait()
	return mbps(n, time.Since(start))
}

// drain reads r to its end in 1 MiB reads (io.Discard's own ReadFrom reads 8 KiB at a time, which makes
// the client, not the server, the bottleneck) and returns the byte count.
func drain(r io.Reader) int64 {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err != nil {
			return n
		}
	}
}

// resetHWM sets the peak RSS of process pid back to its current RSS (Linux 4.0 and later), so vmHWM
// then reports the peak of what follows; the peak before is kept for peakRSS.
func resetHWM(pid int) {
	if pid > 0 {
		hwmBefore[pid] = max(hwmBefore[pid], hwmKiB(pid))
		os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	}
}

var hwmBefore = map[int]int{}

// peakRSS is process pid's peak RSS since it started.
func peakRSS(pid int) string { return mib(max(hwmBefore[pid], hwmKiB(pid))) }

// vmHWM is process pid's peak RSS since it started or since resetHWM.
func vmHWM(pid int) string { return mib(hwmKiB(pid)) }

func mib(kib int) string {
	if kib <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

func hwmKiB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return kb
		}
	}
	return 0
}
