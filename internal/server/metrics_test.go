package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/throttle"
)

// ecrCall sends a signed ECR API request as the admin and returns its status and body.
func ecrCall(t *testing.T, base, op, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921."+op)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: admin.AccessKeyID, SecretAccessKey: admin.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecr", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

// TestCallAndStoreMetrics: calls are counted by the error code their protocol answered (or success),
// timed by action, throttled ones counted apart; store operations are timed.
func TestCallAndStoreMetrics(t *testing.T) {
	limits, err := throttle.ParseLimits(`{"default": {"ecr:ListImages": {"rate": 0.001, "burst": 1}}}`)
	if err != nil {
		t.Fatal(err)
	}
	app, base := newApp(t, server.Options{Throttle: limits})
	if code, body := ecrCall(t, base, "CreateRepository", `{"repositoryName": "app"}`); code != 200 {
		t.Fatalf("CreateRepository: %d %s", code, body)
	}
	if code, body := ecrCall(t, base, "DescribeRepositories", `{"repositoryNames": ["nope"]}`); !strings.Contains(body, "RepositoryNotFoundException") {
		t.Fatalf("DescribeRepositories: %d %s", code, body)
	}
	ecrCall(t, base, "ListImages", `{"repositoryName": "app"}`)
	if code, body := ecrCall(t, base, "ListImages", `{"repositoryName": "app"}`); !strings.Contains(body, "ThrottlingException") {
		t.Fatalf("ListImages over its limit: %d %s", code, body)
	}
	_, body := ecrCall(t, base, "GetAuthorizationToken", `{}`)
	var tok struct {
		AuthorizationData []struct{ AuthorizationToken string }
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || len(tok.AuthorizationData) != 1 {
		t.Fatalf("GetAuthorizationToken: %v %s", err, body)
	}
	registry := func(method, path string, body []byte) int {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Basic "+tok.AuthorizationData[0].AuthorizationToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if code := registry("GET", "/v2/app/manifests/latest", nil); code != 404 {
		t.Fatalf("manifest GET: %d", code)
	}
	layer := []byte("a layer")
	if code := registry("POST", "/v2/app/blobs/uploads/?digest="+digest.FromBytes(layer).String(), layer); code != 201 {
		t.Fatalf("monolithic upload: %d", code)
	}

	// The command line's calls are named in the codes of their action's API.
	app.Do(context.Background(), "000000000000", pipeline.Op{Action: "iam:DeleteUser", Run: func(context.Context, *pipeline.Call) error {
		return fmt.Errorf("%w: user nobody", identity.ErrNotFound)
	}})

	rec := httptest.NewRecorder()
	app.Metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metrics := rec.Body.String()
	for _, want := range []string{
		`wharf_calls_total{action="ecr:CreateRepository",outcome="success",protocol="ecr"} 1`,
		`wharf_calls_total{action="ecr:DescribeRepositories",outcome="RepositoryNotFoundException",protocol="ecr"} 1`,
		`wharf_calls_total{action="ecr:ListImages",outcome="success",protocol="ecr"} 1`,
		`wharf_calls_total{action="ecr:ListImages",outcome="ThrottlingException",protocol="ecr"} 1`,
		`wharf_calls_total{action="ecr:BatchGetImage",outcome="MANIFEST_UNKNOWN",protocol="oci"} 1`,
		`wharf_throttled_calls_total{action="ecr:ListImages",protocol="ecr"} 1`,
		`wharf_calls_total{action="iam:DeleteUser",outcome="NoSuchEntity",protocol="cli"} 1`,
		`wharf_call_duration_seconds_count{action="ecr:ListImages",protocol="ecr"} 2`,
		`wharf_call_duration_seconds_bucket{action="ecr:CreateRepository",protocol="ecr",le="+Inf"} 1`,
		`wharf_blob_store_duration_seconds_count{op="commit"} 1`,
		`wharf_blob_store_duration_seconds_count{op="presign"} 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("no %s", want)
		}
	}
	for _, series := range []string{`wharf_metadata_store_duration_seconds_count{op="view"}`, `wharf_metadata_store_duration_seconds_count{op="update"}`} {
		if !regexp.MustCompile(regexp.QuoteMeta(series) + ` [1-9]`).MatchString(metrics) {
			t.Errorf("no %s above zero", series)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", metrics)
	}
}
