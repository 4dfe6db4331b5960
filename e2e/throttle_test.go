package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// burstScript makes CALLS calls of one operation from 8 threads of one process, without retries, and
// prints how many passed, how many seconds the burst took, and each refusal's code, status and message once.
// With AFTER_REFUSAL set, it runs that command (its output to AFTER_OUT) once the first call is refused.
const burstScript = `
import os, shlex, subprocess, threading, time, boto3
from concurrent.futures import ThreadPoolExecutor
from botocore.config import Config
from botocore.exceptions import ClientError
svc, op, n = os.environ["SERVICE"], os.environ["OP"], int(os.environ["CALLS"])
client = boto3.client(svc, endpoint_url=os.environ["ENDPOINT"], config=Config(retries={"mode": "standard", "max_attempts": 1}))
lock, after = threading.Lock(), []
def one(_):
    try:
        getattr(client, op)()
        return None
    except ClientError as e:
        with lock:
            if os.environ.get("AFTER_REFUSAL") and not after:
                after.append(subprocess.Popen(shlex.split(os.environ["AFTER_REFUSAL"]), stdout=open(os.environ["AFTER_OUT"], "w"), stderr=subprocess.STDOUT))
        return (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Message"])
start = time.time()
with ThreadPoolExecutor(8) as pool:
    results = list(pool.map(one, range(n)))
took = time.time() - start
for p in after:
    p.wait()
print(results.count(None), "%.1f" % took, sorted(set(r for r in results if r)))
`

// burst runs burstScript against endpoint and returns its line of output.
func burst(t *testing.T, s *wharfProc, endpoint, service, op string, calls int, env ...string) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "burst.py")
	os.WriteFile(script, []byte(burstScript), 0o644)
	env = append(append(s.awsEnv(), "SERVICE="+service, "OP="+op, "CALLS="+strconv.Itoa(calls), "ENDPOINT="+endpoint), env...)
	out, err := runEnv(t, env, nil, tool(t, "python3"), script)
	if err != nil {
		t.Fatalf("%s %s burst: %v\n%s", service, op, err, out)
	}
	return strings.TrimSpace(out)
}

// TestThrottling: a burst of 300 GetAuthorizationToken calls is refused with ThrottlingException after the
// bucket's burst, and the aws CLI's retries get through; a burst of manifest GETs gets 429 TOOMANYREQUESTS
// with Retry-After; STS answers Throttling. The limits are set low in the config file.
func TestThrottling(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wharf.json")
	os.WriteFile(cfg, []byte(`{"throttle": {"default": {
		"ecr:GetAuthorizationToken": {"rate": 0.5, "burst": 50},
		"ecr:BatchGetImage": {"rate": 0.5, "burst": 20},
		"sts:*": {"rate": 0.25, "burst": 3}}}}`), 0o644)
	metrics := freeAddr(t)
	s := startServer(t, filepath.Join(dir, "data"), "--config", cfg, "--create-on-push", "--metrics-addr", metrics)
	endpoint := "http://" + s.addr
	password := s.password() // one token of GetAuthorizationToken's 50

	// Once the burst empties the bucket, the aws CLI, with retries, is started: it is refused, backs off,
	// retries, and gets a token when one is back (one every 2 s).
	cliOut := filepath.Join(dir, "cli.out")
	out := burst(t, s, endpoint, "ecr", "get_authorization_token", 300, "AWS_RETRY_MODE=standard", "AWS_MAX_ATTEMPTS=10",
		"AFTER_REFUSAL="+tool(t, "aws")+" ecr get-authorization-token --debug", "AFTER_OUT="+cliOut)
	var ok int
	var took float64
	fmt.Sscanf(out, "%d %g", &ok, &took)
	// The burst's 49 tokens left, and one more every 2 s the burst took (which the CLI may take).
	if ok < 48 || float64(ok) > 50+took/2 || !strings.HasSuffix(out, `[('ThrottlingException', 400, 'Rate exceeded')]`) {
		t.Fatalf("300 GetAuthorizationToken calls: %s; want the rest of the burst, 49, then ThrottlingException", out)
	}
	b, _ := os.ReadFile(cliOut)
	if cli := string(b); !strings.Contains(cli, `"authorizationToken"`) || !strings.Contains(cli, "ThrottlingException") || !strings.Contains(cli, "Retry needed") {
		t.Fatalf("aws ecr get-authorization-token with retries:\n%s", tail(cli, 3000))
	}

	// Manifest GETs: 20, then 429 with Retry-After; after that long, GETs pass again.
	cfgBlob := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd := digest.FromBytes(cfgBlob)
	if res, body := send(t, "POST", endpoint+"/v2/app/blobs/uploads/?digest="+cd.String(), password, cfgBlob); res.StatusCode != 201 {
		t.Fatalf("config blob: %d %s", res.StatusCode, body)
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}`, cd, len(cfgBlob))
	if res, body := send(t, "PUT", endpoint+"/v2/app/manifests/v1", password, []byte(manifest), "Content-Type", "application/vnd.oci.image.manifest.v1+json"); res.StatusCode != 201 {
		t.Fatalf("manifest: %d %s", res.StatusCode, body)
	}
	passed, retryAfter := 0, ""
	for i := 0; i < 60; i++ {
		res, body := send(t, "GET", endpoint+"/v2/app/manifests/v1", password, nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
		if res.StatusCode == http.StatusTooManyRequests {
			if !strings.Contains(string(body), `"code":"TOOMANYREQUESTS"`) || !strings.Contains(string(body), "Rate exceeded") {
				t.Fatalf("429 body: %s", body)
			}
			retryAfter = res.Header.Get("Retry-After")
			break
		}
		if res.StatusCode != 200 {
			t.Fatalf("GET %d: %d %s", i, res.StatusCode, body)
		}
		passed++
	}
	wait, err := strconv.Atoi(retryAfter)
	if passed < 20 || passed > 21 || err != nil || wait < 1 || wait > 2 {
		t.Fatalf("%d manifest GETs passed, then Retry-After %q; want 20, then 1 or 2 s at 0.5/s", passed, retryAfter)
	}
	time.Sleep(time.Duration(wait) * time.Second)
	if res, _ := send(t, "GET", endpoint+"/v2/app/manifests/v1", password, nil, "Accept", "application/vnd.oci.image.manifest.v1+json"); res.StatusCode != 200 {
		t.Fatalf("GET after Retry-After: %d", res.StatusCode)
	}
	// A throttled call is counted in the metrics by its outcome, and changed nothing (nothing to change on a GET).
	m := get(t, "http://"+metrics+"/metrics")
	for _, series := range []string{`wharf_throttled_calls_total{action="ecr:BatchGetImage",protocol="oci"} `,
		`wharf_calls_total{action="ecr:BatchGetImage",outcome="TOOMANYREQUESTS",protocol="oci"} `,
		`wharf_calls_total{action="ecr:GetAuthorizationToken",outcome="ThrottlingException",protocol="ecr"} `} {
		if !strings.Contains(m, "\n"+series) {
			t.Errorf("no %s in the metrics", series)
		}
	}

	// STS: Throttling, HTTP 400, as AWS answers.
	out = burst(t, s, endpoint, "sts", "get_caller_identity", 10)
	fmt.Sscanf(out, "%d %g", &ok, &took)
	if ok < 3 || float64(ok) > 4+took/4 || !strings.HasSuffix(out, `[('Throttling', 400, 'Rate exceeded')]`) {
		t.Fatalf("10 GetCallerIdentity calls: %s; want 3 passed, then Throttling", out)
	}
}

// TestThrottlingThreeNodes: three nodes on one PostgreSQL database count each other by their heartbeats
// and hold a third of each limit each: a burst against all three passes the limit's burst once, not three
// times.
func TestThrottlingThreeNodes(t *testing.T) {
	args, env, _ := sharedStorage(t)
	limits := `{"default": {"ecr:GetAuthorizationToken": {"rate": 0.25, "burst": 30}}}`
	var nodes []*wharfProc
	var metrics []string
	for i := 0; i < 3; i++ {
		m := freeAddr(t)
		s := &wharfProc{t: t, dir: filepath.Join(t.TempDir(), "node"), addr: freeAddr(t),
			args: append(append([]string{}, args...), "--throttle", limits, "--metrics-addr", m, "--heartbeat-interval", "300ms"), env: env}
		s.start()
		t.Cleanup(s.stop)
		nodes, metrics = append(nodes, s), append(metrics, m)
	}
	// Each node counts three live nodes within a heartbeat or two (every 300 ms here, 3 s by default).
	for i, m := range metrics {
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(get(t, "http://"+m+"/metrics"), "\nwharf_live_nodes 3\n") {
			if time.Now().After(deadline) {
				t.Fatalf("node %d never counted 3 live nodes:\n%s", i, get(t, "http://"+m+"/metrics"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	total := 0
	for i, s := range nodes {
		out := burst(t, s, "http://"+s.addr, "ecr", "get_authorization_token", 40)
		var ok int
		var took float64
		fmt.Sscanf(out, "%d %g", &ok, &took)
		// A third of the burst, and a third of the rate: a token every 12 s.
		if ok < 10 || float64(ok) > 11+took/12 || !strings.Contains(out, "ThrottlingException") {
			t.Fatalf("node %d: %s; want its share of the burst, 10, then ThrottlingException", i, out)
		}
		total += ok
	}
	if total > 36 {
		t.Fatalf("%d calls passed across three nodes, want about the burst of 30", total)
	}
	// A node that stops leaves the others its share.
	nodes[2].stop()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(get(t, "http://"+metrics[0]+"/metrics"), "\nwharf_live_nodes 2\n") {
		if time.Now().After(deadline) {
			t.Fatal("node 0 still counts 3 live nodes after one stopped")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
