package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/server"
)

var admin = identity.Credentials{AccessKeyID: "AKIASERVERTESTADMIN1", SecretAccessKey: "server-test-secret"}

func newApp(t *testing.T, opts server.Options) (*server.App, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := server.OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts.DataDir, opts.Bootstrap, opts.AdminCredentials = dir, true, &admin
	app, err := server.New(opts, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(func() { srv.Close(); app.Close() })
	return app, srv.URL
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestUnknownKeysGetNoBodyRead: a request naming an access key that does not exist is refused before its
// body is read; a client that waits for 100 Continue never sends it.
func TestUnknownKeysGetNoBodyRead(t *testing.T) {
	_, base := newApp(t, server.Options{})
	for _, tc := range []struct{ target, service, key, token string }{
		{"AmazonEC2ContainerRegistry_V20150921.UploadLayerPart", "ecr", "AKIANOSUCHKEY0000001", ""},
		{"", "iam", "AKIANOSUCHKEY0000001", ""},
		// A session key is known by its token: without one, or with a forged one, it does not exist.
		{"AmazonEC2ContainerRegistry_V20150921.UploadLayerPart", "ecr", "ASIANOSUCHKEY0000001", ""},
		{"AmazonEC2ContainerRegistry_V20150921.UploadLayerPart", "ecr", "ASIA", "forged.token"},
	} {
		body := &countingReader{r: bytes.NewReader(make([]byte, 8<<20))}
		req, _ := http.NewRequest("POST", base+"/", body)
		req.ContentLength = 8 << 20
		req.Header.Set("Expect", "100-continue")
		if tc.target != "" {
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("X-Amz-Target", tc.target)
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		creds := aws.Credentials{AccessKeyID: tc.key, SecretAccessKey: "x", SessionToken: tc.token}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", tc.service, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode < 400 || body.n > 0 || !strings.Contains(string(data), "security token included in the request is invalid") {
			t.Errorf("%s: %d, %d body bytes sent: %s", tc.service, res.StatusCode, body.n, data)
		}
	}
}

// TestIAMBodyOverTheLimit: a body over the IAM API's limit is refused as such, not cut and misread.
func TestIAMBodyOverTheLimit(t *testing.T) {
	_, base := newApp(t, server.Options{})
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"` + strings.Repeat("a", 2<<20) + `"}]}`
	body := []byte(url.Values{"Action": {"PutUserPolicy"}, "Version": {"2010-05-08"}, "UserName": {"admin"}, "PolicyName": {"big"}, "PolicyDocument": {doc}}.Encode())
	req, _ := http.NewRequest("POST", base+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: admin.AccessKeyID, SecretAccessKey: admin.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(data), "<Code>ValidationError</Code>") ||
		!strings.Contains(string(data), "exceeds the limit of 1048576 bytes") {
		t.Fatalf("%d %s", res.StatusCode, data)
	}
}

// TestCommandLineGoesThroughThePipeline: the command line's operations are authorized and run like any
// other call, as the root of their account, which may do everything there and nothing elsewhere.
func TestCommandLineGoesThroughThePipeline(t *testing.T) {
	app, _ := newApp(t, server.Options{AccountID: "111122223333"})
	ran := false
	run := func(ctx context.Context, c *pipeline.Call) error {
		ran = true
		if !c.Caller.Root || c.Caller.AccountID != "111122223333" || c.Protocol != "cli" {
			t.Errorf("called as %+v over %s", c.Caller, c.Protocol)
		}
		return nil
	}
	own := pipeline.Op{Action: "ecr:DeleteRepository", Run: run,
		Resolve: func(*pipeline.Call) ([]pipeline.Target, error) {
			return []pipeline.Target{pipeline.Repository("ecr:DeleteRepository", "111122223333", "app")}, nil
		}}
	if err := app.Do(context.Background(), "111122223333", own); err != nil || !ran {
		t.Fatalf("own account: %v, ran %v", err, ran)
	}
	ran = false
	other := own
	other.Resolve = func(*pipeline.Call) ([]pipeline.Target, error) {
		return []pipeline.Target{pipeline.Repository("ecr:DeleteRepository", "444455556666", "app")}, nil
	}
	if err := app.Do(context.Background(), "111122223333", other); err == nil || ran {
		t.Fatalf("another account's repository: %v, ran %v", err, ran)
	}
}

// TestDataFilesArePrivate: the metadata database holds policies and sealed keys: only its owner reads it.
func TestDataFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	st, err := server.OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	app, err := server.New(server.Options{DataDir: dir, Bootstrap: true}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	for _, name := range []string{"wharf.db", "server.key"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v", name, fi.Mode().Perm())
		}
	}
}

// syncBuffer is a log destination safe for concurrent writers.
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

// TestClientGoingAwayIsNotAnError: a client that drops its connection in the middle of a layer is the
// client's affair: its access log line is at info level, not an error or warning of Wharf's.
func TestClientGoingAwayIsNotAnError(t *testing.T) {
	logs := &syncBuffer{}
	app, base := newApp(t, server.Options{Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx := context.Background()
	if _, err := app.Service.CreateRepository(ctx, registry.Repository{RegistryID: "000000000000", Name: "app"}); err != nil {
		t.Fatal(err)
	}
	_, p, err := app.Identity.LookupKey(ctx, admin.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	token, _ := app.Identity.LoginToken(p, time.Hour)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("AWS:"+token))
	req, _ := http.NewRequest("POST", base+"/v2/app/blobs/uploads/", nil)
	req.Header.Set("Authorization", auth)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("start upload: %v %v", err, res)
	}
	res.Body.Close()
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n", res.Header.Get("Location"), host, auth, 8<<20)
	conn.Write(make([]byte, 256<<10))
	time.Sleep(100 * time.Millisecond)
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "method=PATCH") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if out := logs.String(); !strings.Contains(out, "level=INFO msg=request method=PATCH") || !strings.Contains(out, "error_code=BodyUnreadable") ||
		strings.Contains(out, "level=ERROR") || strings.Contains(out, "level=WARN") {
		t.Fatalf("logs:\n%s", out)
	}
}

// TestBodyMemoryHoldsTheLargestBody: a body budget whose half cannot hold a layer part is refused at
// start, not discovered as endless throttling.
func TestBodyMemoryHoldsTheLargestBody(t *testing.T) {
	dir := t.TempDir()
	st, err := server.OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Meta.Close()
	if _, err := server.New(server.Options{DataDir: dir, MaxBodyMemory: 16 << 20}, st); err == nil || !strings.Contains(err.Error(), "--max-body-memory") {
		t.Fatalf("16 MiB accepted: %v", err)
	}
}
