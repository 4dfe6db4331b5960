package ecrapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TestOneDecodeOneTarget: a body that one reader takes for one repository and another reader for another
// is refused outright. Before, `{"repositoryName":"prod","force":true} x` was authorized against
// repository/* (the authorizer's decode failed on the trailing data and was ignored) and run on prod,
// bypassing a Deny in carol's policy, a Deny in prod's repository policy and a resource-tag condition.
func TestOneDecodeOneTarget(t *testing.T) {
	a := newAPIAt(t, registry.Config{}, clock.NewFake(time.Now()))
	ctx := context.Background()
	a.ok("CreateRepository", map[string]any{"repositoryName": "dev"})
	a.ok("CreateRepository", map[string]any{"repositoryName": "prod", "tags": []map[string]string{{"Key": "env", "Value": "prod"}}})
	a.pushLayer("prod", []byte("prod layer"))
	carol := a.user("carol")
	if err := a.app.Identity.PutUserPolicy(ctx, "000000000000", "carol", "dev-only", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ecr:*","Resource":"*"},
		{"Effect":"Deny","Action":"ecr:DeleteRepository","Resource":"arn:aws:ecr:us-east-1:000000000000:repository/prod"},
		{"Effect":"Deny","Action":"ecr:PutImageTagMutability","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/env":"prod"}}}]}`); err != nil {
		t.Fatal(err)
	}
	a.ok("SetRepositoryPolicy", map[string]any{"repositoryName": "prod", "force": true, "policyText": `{"Version":"2012-10-17","Statement":[
		{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:user/carol"},"Action":"ecr:BatchDeleteImage"}]}`})
	a.clock.Advance(1100 * time.Millisecond) // policies set outside the API are seen within a second

	// Sent plainly, each is denied.
	a.fails(a.as(carol, "DeleteRepository", map[string]any{"repositoryName": "prod", "force": true}), 400, "AccessDeniedException")
	a.fails(a.as(carol, "BatchDeleteImage", map[string]any{"repositoryName": "prod", "imageIds": []map[string]string{{"imageTag": "x"}}}), 400, "AccessDeniedException")
	a.fails(a.as(carol, "PutImageTagMutability", map[string]any{"repositoryName": "prod", "imageTagMutability": "IMMUTABLE"}), 400, "AccessDeniedException")

	for _, tc := range []struct{ op, body string }{
		{"DeleteRepository", `{"repositoryName":"prod","force":true} x`},
		{"DeleteRepository", `{"repositoryName":"prod","force":true}{"repositoryName":"dev"}`},
		{"DeleteRepository", `{"repositoryName":"dev","repositoryName":"prod","force":true}`},
		{"DeleteRepository", `{"repositoryName":"dev","RepositoryName":"prod","force":true}`},
		{"DeleteRepository", `{"RepositoryName":"prod","force":true}`},
		{"BatchDeleteImage", `{"repositoryName":"prod","imageIds":[{"imageTag":"x"}]} []`},
		{"PutImageTagMutability", `{"repositoryName":"prod","imageTagMutability":"IMMUTABLE"} 1`},
	} {
		r := a.raw(tc.op, []byte(tc.body), a.now(), carol)
		if r.status != 400 || r.errCode() != "SerializationException" {
			t.Errorf("%s %s: %d %s, want SerializationException", tc.op, tc.body, r.status, r.raw)
		}
	}
	d := a.ok("DescribeRepositories", map[string]any{"repositoryNames": []string{"prod"}})
	if repos := d["repositories"].([]any); len(repos) != 1 || repos[0].(map[string]any)["imageTagMutability"] != "MUTABLE" {
		t.Fatalf("prod changed: %v", d)
	}
}

// TestDescribeRepositoriesByName: each named repository is authorized on its own ARN. Before, the call
// was authorized against repository/*: a user denied on prod read prod's details, and a grant in another
// account's repository policy was refused.
func TestDescribeRepositoriesByName(t *testing.T) {
	a := newAPIAt(t, registry.Config{}, clock.NewFake(time.Now()))
	ctx := context.Background()
	a.ok("CreateRepository", map[string]any{"repositoryName": "dev"})
	a.ok("CreateRepository", map[string]any{"repositoryName": "prod"})
	dave := a.user("dave")
	if err := a.app.Identity.PutUserPolicy(ctx, "000000000000", "dave", "not-prod", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ecr:*","Resource":"*"},
		{"Effect":"Deny","Action":"ecr:DescribeRepositories","Resource":"arn:aws:ecr:us-east-1:000000000000:repository/prod"}]}`); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond)
	if r := a.as(dave, "DescribeRepositories", map[string]any{"repositoryNames": []string{"dev"}}); r.status != 200 {
		t.Fatalf("dev: %s", r.raw)
	}
	a.fails(a.as(dave, "DescribeRepositories", map[string]any{"repositoryNames": []string{"prod"}}), 400, "AccessDeniedException")
	r := a.as(dave, "DescribeRepositories", map[string]any{"repositoryNames": []string{"dev", "prod"}})
	a.fails(r, 400, "AccessDeniedException")
	if !strings.Contains(r.message(), "repository/prod") {
		t.Fatalf("denial names %q", r.message())
	}

	// Another account's repository, opened to this account by its repository policy.
	other, err := a.app.Identity.CreateAccount(ctx, "111122223333")
	if err != nil {
		t.Fatal(err)
	}
	b := *other
	a.fails(a.as(b, "DescribeRepositories", map[string]any{"registryId": "000000000000", "repositoryNames": []string{"dev"}}), 400, "AccessDeniedException")
	a.ok("SetRepositoryPolicy", map[string]any{"repositoryName": "dev", "policyText": `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"ecr:DescribeRepositories"}]}`})
	r = a.as(b, "DescribeRepositories", map[string]any{"registryId": "000000000000", "repositoryNames": []string{"dev"}})
	if r.status != 200 || !strings.Contains(r.raw, `"repositoryName":"dev"`) {
		t.Fatalf("cross-account grant: %s", r.raw)
	}
	a.fails(a.as(b, "DescribeRepositories", map[string]any{"registryId": "000000000000", "repositoryNames": []string{"prod"}}), 400, "AccessDeniedException")
}

// TestSignedRequestsCannotBeReplayedWithAnotherBody: a captured request signed for one body is refused
// with any other, whatever X-Amz-Content-Sha256 says, and with its operation changed. Before, the header
// was trusted as the body's hash: a signed DescribeImages of test became one of prod.
func TestSignedRequestsCannotBeReplayedWithAnotherBody(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "test"})
	a.ok("CreateRepository", map[string]any{"repositoryName": "prod"})
	// The same length as the replayed body, so a signed Content-Length does not give the change away.
	signed := []byte(`{"repositoryName":"test"}`)
	capture := func() *http.Request {
		req, _ := http.NewRequest("POST", a.url+"/", bytes.NewReader(signed))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.DescribeImages")
		sum := sha256.Sum256(signed)
		req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: admin.AccessKeyID, SecretAccessKey: admin.SecretAccessKey},
			req, hex.EncodeToString(sum[:]), "ecr", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		return req
	}
	send := func(req *http.Request) (int, string) {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(data)
	}
	if code, body := send(capture()); code != 200 {
		t.Fatalf("the request as signed: %d %s", code, body)
	}
	for _, tc := range []struct {
		name   string
		change func(*http.Request)
	}{
		{"another body, the signed hash header kept", func(r *http.Request) {}},
		{"another body, the hash header dropped", func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }},
		{"another body, its own hash in the header", func(r *http.Request) {
			sum := sha256.Sum256([]byte(`{"repositoryName":"prod"}`))
			r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
		}},
		{"another body, UNSIGNED-PAYLOAD", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") }},
	} {
		req := capture()
		tc.change(req)
		body := []byte(`{"repositoryName":"prod"}`)
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		if code, body := send(req); code != 400 || !strings.Contains(body, "InvalidSignatureException") {
			t.Errorf("%s: %d %s", tc.name, code, body)
		}
	}
	// The operation is chosen by X-Amz-Target: it must be signed, so the same body cannot be sent to
	// another operation.
	req, _ := http.NewRequest("POST", a.url+"/", bytes.NewReader([]byte(`{"repositoryName":"prod","force":true}`)))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sum := sha256.Sum256([]byte(`{"repositoryName":"prod","force":true}`))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: admin.AccessKeyID, SecretAccessKey: admin.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "ecr", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.DeleteRepository")
	if code, body := send(req); code != 400 || !strings.Contains(body, "InvalidSignatureException") {
		t.Errorf("an unsigned X-Amz-Target: %d %s", code, body)
	}
	a.ok("DescribeRepositories", map[string]any{"repositoryNames": []string{"prod"}})
}

// TestTagKeysDifferingInCase: tag keys that differ only in letter case are refused, on create and on
// TagResource. Policies read tag keys regardless of case; with both "team" and "TEAM" a condition on
// aws:RequestTag/team had two values, and which one it saw changed from call to call.
func TestTagKeysDifferingInCase(t *testing.T) {
	a := newAPIAt(t, registry.Config{}, clock.NewFake(time.Now()))
	dave := a.user("dave")
	if err := a.app.Identity.PutUserPolicy(context.Background(), "000000000000", "dave", "no-prod", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["ecr:CreateRepository","ecr:TagResource"],"Resource":"*"},
		{"Effect":"Deny","Action":["ecr:CreateRepository","ecr:TagResource"],"Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/team":"prod"}}}]}`); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(1100 * time.Millisecond)
	for i := 0; i < 10; i++ { // the old answer depended on map order: try it more than once
		r := a.as(dave, "CreateRepository", map[string]any{"repositoryName": fmt.Sprintf("app%d", i), "tags": []map[string]string{{"Key": "team", "Value": "prod"}, {"Key": "TEAM", "Value": "x"}}})
		if r.status == 200 {
			t.Fatalf("created with tags team=prod and TEAM=x: %s", r.raw)
		}
	}
	a.ok("CreateRepository", map[string]any{"repositoryName": "app", "tags": []map[string]string{{"Key": "Team", "Value": "dev"}}})
	arn := "arn:aws:ecr:us-east-1:000000000000:repository/app"
	a.fails(a.call("TagResource", map[string]any{"resourceArn": arn, "tags": []map[string]string{{"Key": "team", "Value": "prod"}}}), 400, "InvalidTagParameterException")
	a.ok("TagResource", map[string]any{"resourceArn": arn, "tags": []map[string]string{{"Key": "Team", "Value": "qa"}}}) // the same key: a new value
}
