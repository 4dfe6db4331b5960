package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/opencontainers/go-digest"
)

const (
	adminKeyID  = "AKIACLITESTADMIN0001"
	adminSecret = "cli-test-admin-secret-000000000000000000"
)

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type serveProc struct {
	addr   string
	dir    string
	cmd    *exec.Cmd
	stderr *syncBuffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs wharf serve on a free loopback port with its data in a temporary directory, and waits
// until /healthz, unauthenticated, answers.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	s := &serveProc{addr: freeAddr(t), dir: filepath.Join(t.TempDir(), "data"), stderr: &syncBuffer{}}
	s.cmd = exec.Command(wharfBin, append([]string{"serve", "--addr", s.addr, "--data-dir", s.dir}, args...)...)
	s.cmd.Env = append(os.Environ(), "WHARF_ADMIN_ACCESS_KEY_ID="+adminKeyID, "WHARF_ADMIN_SECRET_ACCESS_KEY="+adminSecret)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get("http://" + s.addr + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s
			}
		}
	}
	t.Fatalf("wharf did not become healthy:\n%s", s.stderr)
	return nil
}

// stop ends the server with SIGTERM and waits for it.
func (s *serveProc) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

func request(t *testing.T, method, url, auth string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// TestAccessLog: every request is one line at info level, in JSON with --log-format json, telling the
// request and the call the pipeline made of it; credentials in query strings are redacted; the expected
// refusals of a push (the 401 challenge, a HEAD of a blob not there yet) are no warnings or errors; start and
// stop are logged.
func TestAccessLog(t *testing.T) {
	s := startServe(t, "--log-format", "json", "--log-level", "info")
	base := "http://" + s.addr
	ctx := context.Background()

	if res := request(t, "GET", base+"/v2/", "", nil); res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("anonymous ping: %d", res.StatusCode)
	}
	request(t, "GET", base+"/v2/?n=3&X-Amz-Signature=sig-secret&X-Amz-Credential=cred-secret&X-Amz-Security-Token=tok-secret", "", nil)

	client := ecr.New(ecr.Options{Region: "us-east-1", BaseEndpoint: aws.String(base),
		Credentials: credentials.NewStaticCredentialsProvider(adminKeyID, adminSecret, "")})
	created, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	createID, _ := awsmiddleware.GetRequestIDMetadata(created.ResultMetadata)
	tok, err := client.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	auth := "Basic " + *tok.AuthorizationData[0].AuthorizationToken

	layer := []byte("a layer of the access log test")
	d := digest.FromBytes(layer)
	if res := request(t, "HEAD", base+"/v2/app/blobs/"+d.String(), auth, nil); res.StatusCode != 404 {
		t.Fatalf("HEAD of a missing blob: %d", res.StatusCode)
	}
	res := request(t, "POST", base+"/v2/app/blobs/uploads/", auth, nil)
	if res = request(t, "PUT", base+res.Header.Get("Location")+"?digest="+d.String(), auth, layer); res.StatusCode != 201 {
		t.Fatalf("upload: %d", res.StatusCode)
	}
	url, err := client.GetDownloadUrlForLayer(ctx, &ecr.GetDownloadUrlForLayerInput{RepositoryName: aws.String("app"), LayerDigest: aws.String(d.String())})
	if err != nil {
		t.Fatal(err)
	}
	presignedToken := (*url.DownloadUrl)[strings.Index(*url.DownloadUrl, "X-Wharf-Token=")+len("X-Wharf-Token="):]
	if res := request(t, "GET", *url.DownloadUrl, "", nil); res.StatusCode != 200 {
		t.Fatalf("presigned GET: %d", res.StatusCode)
	}
	s.stop()

	out := s.stderr.String()
	for _, secret := range []string{"sig-secret", "cred-secret", "tok-secret", presignedToken, adminSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
	var lines, requests []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if m["level"] != "INFO" {
			t.Errorf("a line at %s: %s", m["level"], l)
		}
		lines = append(lines, m)
		if m["msg"] == "request" {
			requests = append(requests, m)
		}
	}
	// One line per request (not the health checks of the start, at debug level), each with its own id.
	if len(requests) != 9 {
		t.Fatalf("%d request lines for 9 requests:\n%s", len(requests), out)
	}
	ids := map[any]bool{}
	for _, r := range requests {
		ids[r["request_id"]] = true
	}
	if len(ids) != len(requests) {
		t.Fatalf("request ids repeat:\n%s", out)
	}
	find := func(msg string, fields map[string]any) map[string]any {
		t.Helper()
	next:
		for _, l := range lines {
			if l["msg"] != msg {
				continue
			}
			for k, v := range fields {
				if fmt.Sprint(l[k]) != fmt.Sprint(v) {
					continue next
				}
			}
			return l
		}
		t.Fatalf("no %q line with %v:\n%s", msg, fields, out)
		return nil
	}
	const principal = "arn:aws:iam::000000000000:user/admin"
	find("wharf starting", map[string]any{"version": testVersion, "metadata": "sqlite " + filepath.Join(s.dir, "wharf.db"), "blobs": "filesystem " + s.dir})
	find("wharf listening", map[string]any{"addr": s.addr, "url": base, "region": "us-east-1", "account": "000000000000"})
	find("request", map[string]any{"method": "GET", "path": "/v2/", "status": 401, "protocol": "oci", "error_code": "Unauthorized"})
	find("request", map[string]any{"method": "GET", "status": 401,
		"path": "/v2/?n=3&X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&X-Amz-Security-Token=REDACTED"})
	find("request", map[string]any{"method": "POST", "path": "/", "status": 200, "protocol": "ecr", "action": "ecr:CreateRepository",
		"principal": principal, "registry": "000000000000", "repository": "app", "request_id": createID})
	find("request", map[string]any{"method": "HEAD", "path": "/v2/app/blobs/" + d.String(), "status": 404, "bytes": 0,
		"action": "ecr:BatchCheckLayerAvailability", "principal": principal, "repository": "app", "error_code": "BlobUnknown"})
	find("request", map[string]any{"method": "PUT", "status": 201, "action": "ecr:CompleteLayerUpload", "repository": "app"})
	get := find("request", map[string]any{"method": "GET", "path": "/v2/app/blobs/" + d.String() + "?X-Wharf-Token=REDACTED",
		"status": 200, "bytes": len(layer), "action": "ecr:GetDownloadUrlForLayer", "principal": principal})
	if get["duration"].(float64) <= 0 || get["remote_addr"] != "127.0.0.1" || get["user_agent"] == "" {
		t.Fatalf("request line %v", get)
	}
	if c := find("shutting down: draining requests", nil); !strings.Contains(fmt.Sprint(c["cause"]), "terminated") {
		t.Fatalf("shutdown cause %v", c["cause"])
	}
	find("requests drained", nil)
	find("wharf stopped", nil)
}

// TestMetricsAddress: /metrics is not served on the registry's port; with --metrics-addr it is, on that
// address only.
func TestMetricsAddress(t *testing.T) {
	s := startServe(t)
	if res := request(t, "GET", "http://"+s.addr+"/metrics", "", nil); res.StatusCode != 404 {
		t.Fatalf("/metrics on the registry's port by default: %d", res.StatusCode)
	}
	// The line is written once the answer is sent: wait for it.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(s.stderr.String(), "path=/metrics") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if out := s.stderr.String(); !strings.Contains(out, "level=INFO msg=request method=GET path=/metrics status=404") || strings.Contains(out, "metrics listening") {
		t.Fatalf("log:\n%s", out)
	}

	metrics := freeAddr(t)
	s = startServe(t, "--metrics-addr", metrics)
	request(t, "GET", "http://"+s.addr+"/v2/", "", nil)
	if res := request(t, "GET", "http://"+s.addr+"/metrics", "", nil); res.StatusCode != 404 {
		t.Fatalf("/metrics on the registry's port with --metrics-addr: %d", res.StatusCode)
	}
	res, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `wharf_calls_total{action="",outcome="UNAUTHORIZED",protocol="oci"} 1`) ||
		!strings.Contains(string(body), "wharf_http_request_duration_seconds_count") {
		t.Fatalf("metrics: %d\n%s", res.StatusCode, body)
	}
	if !strings.Contains(s.stderr.String(), "msg=\"metrics listening\" url=http://"+metrics+"/metrics") {
		t.Fatalf("log:\n%s", s.stderr)
	}
}
