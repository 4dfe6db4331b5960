package secretsapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/server"
)

var admin = identity.Credentials{AccessKeyID: "AKIAUNITADMIN0000001", SecretAccessKey: "unit-secret"}

type api struct {
	t     *testing.T
	url   string
	app   *server.App
	clock *clock.Fake
}

func newAPI(t *testing.T) *api {
	t.Helper()
	dir := t.TempDir()
	st, err := server.OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	app, err := server.New(server.Options{DataDir: dir, Bootstrap: true, AdminCredentials: &admin, Clock: clk,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(func() { srv.Close(); app.Close() })
	return &api{t: t, url: srv.URL, app: app, clock: clk}
}

type result struct {
	status int
	body   map[string]any
	raw    string
}

// raw sends a body signed as the AWS SDK signs it for Secrets Manager, at the server's time.
func (a *api) raw(op string, body []byte) result {
	a.t.Helper()
	req, _ := http.NewRequest("POST", a.url+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager."+op)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: admin.AccessKeyID, SecretAccessKey: admin.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "secretsmanager", "us-east-1", a.clock.Now()); err != nil {
		a.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var m map[string]any
	json.Unmarshal(data, &m)
	return result{res.StatusCode, m, string(data)}
}

func (a *api) call(op string, in any) result {
	a.t.Helper()
	body, _ := json.Marshal(in)
	return a.raw(op, body)
}

func (a *api) ok(op string, in any) map[string]any {
	a.t.Helper()
	r := a.call(op, in)
	if r.status != 200 {
		a.t.Fatalf("%s: %d %s", op, r.status, r.raw)
	}
	return r.body
}

func (a *api) fails(r result, code string) {
	a.t.Helper()
	if r.status != 400 || r.body["__type"] != code {
		a.t.Fatalf("got %d %s, want 400 %s", r.status, r.raw, code)
	}
}

// TestScheduledDeletionIsPurged: the hourly pass deletes a secret once its recovery window has passed on
// the injected clock, not before; its name is then free.
func TestScheduledDeletionIsPurged(t *testing.T) {
	a := newAPI(t)
	arn := a.ok("CreateSecret", map[string]any{"Name": "ecr-pullthroughcache/hub", "SecretString": `{"username":"u","accessToken":"t"}`})["ARN"]
	t0 := a.clock.Now()
	del := a.ok("DeleteSecret", map[string]any{"SecretId": arn, "RecoveryWindowInDays": 7})
	if del["DeletionDate"] != float64(t0.Add(7*24*time.Hour).Unix()) {
		t.Fatalf("DeleteSecret: %v", del)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.app.Jobs.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	gone := func() bool {
		r := a.call("DescribeSecret", map[string]any{"SecretId": arn})
		return r.body["__type"] == "ResourceNotFoundException"
	}
	for step := 1; !gone(); step++ {
		if step > 8*24 {
			t.Fatalf("still there at %s", a.clock.Now())
		}
		if err := a.clock.WaitForWaiters(ctx, 1); err != nil {
			t.Fatal(err)
		}
		a.clock.Advance(time.Hour)
		for i := 0; i < 20 && a.clock.Now().Sub(t0) >= 7*24*time.Hour && !gone(); i++ { // the job runs in the background
			time.Sleep(10 * time.Millisecond)
		}
	}
	if took := a.clock.Now().Sub(t0); took < 7*24*time.Hour || took > 7*24*time.Hour+3*time.Hour {
		t.Fatalf("purged %s after the deletion", took)
	}
	a.ok("CreateSecret", map[string]any{"Name": "ecr-pullthroughcache/hub", "SecretString": "again"})
}

// TestInputs: what the API refuses, with Secrets Manager's codes.
func TestInputs(t *testing.T) {
	a := newAPI(t)
	if r := a.call("RotateSecret", map[string]any{"SecretId": "x"}); r.body["__type"] != "UnknownOperationException" {
		t.Fatalf("an unsupported operation: %s", r.raw)
	}
	a.fails(a.raw("CreateSecret", []byte(`{"Name":"a","name":"b"}`)), "SerializationException")
	a.fails(a.raw("CreateSecret", []byte(`{"Name":"a"} {}`)), "SerializationException")
	a.fails(a.call("CreateSecret", map[string]any{"Name": "a", "KmsKeyId": "alias/x"}), "InvalidParameterException")
	a.fails(a.call("CreateSecret", map[string]any{"Name": "a b"}), "InvalidParameterException")
	a.fails(a.call("CreateSecret", map[string]any{"Name": "a", "SecretString": "s", "SecretBinary": "YQ=="}), "InvalidParameterException")
	a.fails(a.call("GetSecretValue", map[string]any{}), "InvalidParameterException")
	a.fails(a.call("GetSecretValue", map[string]any{"SecretId": "arn:aws:secretsmanager:us-east-1:999999999999:secret:x-AbCdEf"}), "ResourceNotFoundException")

	// Listing by pages: NextToken is signed.
	for _, n := range []string{"c", "a", "b"} {
		a.ok("CreateSecret", map[string]any{"Name": n, "SecretString": "v"})
	}
	page := a.ok("ListSecrets", map[string]any{"MaxResults": 2})
	if list := page["SecretList"].([]any); len(list) != 2 || list[0].(map[string]any)["Name"] != "a" || page["NextToken"] == nil {
		t.Fatalf("first page: %v", page)
	}
	next := page["NextToken"].(string)
	page = a.ok("ListSecrets", map[string]any{"MaxResults": 2, "NextToken": next})
	if list := page["SecretList"].([]any); len(list) != 1 || list[0].(map[string]any)["Name"] != "c" || page["NextToken"] != nil {
		t.Fatalf("second page: %v", page)
	}
	a.fails(a.call("ListSecrets", map[string]any{"NextToken": "x" + next}), "InvalidNextTokenException")
	a.fails(a.call("ListSecrets", map[string]any{"MaxResults": 101}), "InvalidParameterException")
	a.fails(a.call("ListSecrets", map[string]any{"SortBy": "created-date"}), "InvalidParameterException")

	// Unsigned calls are refused before anything is read.
	req, _ := http.NewRequest("POST", a.url+"/", bytes.NewReader([]byte(`{"SecretId":"a"}`)))
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == 200 {
		t.Fatal("an unsigned call succeeded")
	}
}
