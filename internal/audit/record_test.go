package audit

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// guideSample is the user guide's CloudTrail record of CreateRepository (its "Understanding Amazon ECR Log
// File Entries"), with the guide's stray brace removed.
const guideSample = `{
  "eventVersion": "1.04",
  "userIdentity": {
    "type": "AssumedRole",
    "principalId": "AIDACKCEVSQ6C2EXAMPLE:account_name",
    "arn": "arn:aws:sts::123456789012:user/Mary_Major",
    "accountId": "123456789012",
    "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
    "sessionContext": {
      "attributes": {"mfaAuthenticated": "false", "creationDate": "2018-07-11T21:54:07Z"},
      "sessionIssuer": {"type": "Role", "principalId": "AIDACKCEVSQ6C2EXAMPLE", "arn": "arn:aws:iam::123456789012:role/Admin",
        "accountId": "123456789012", "userName": "Admin"}
    }
  },
  "eventTime": "2018-07-11T22:17:43Z",
  "eventSource": "ecr.amazonaws.com",
  "eventName": "CreateRepository",
  "awsRegion": "us-east-2",
  "sourceIPAddress": "203.0.113.12",
  "userAgent": "console.amazonaws.com",
  "requestParameters": {"repositoryName": "testrepo"},
  "responseElements": {
    "repository": {
      "repositoryArn": "arn:aws:ecr:us-east-2:123456789012:repository/testrepo",
      "repositoryName": "testrepo",
      "repositoryUri": "123456789012.dkr.ecr.us-east-2.amazonaws.com/testrepo",
      "createdAt": "Jul 11, 2018 10:17:44 PM",
      "registryId": "123456789012"
    }
  },
  "requestID": "cb8c167e-EXAMPLE",
  "eventID": "e3c6f4ce-EXAMPLE",
  "resources": [{"ARN": "arn:aws:ecr:us-east-2:123456789012:repository/testrepo", "accountId": "123456789012"}],
  "eventType": "AwsApiCall",
  "recipientAccountId": "123456789012"
}`

// paths lists the member paths of a JSON document ("userIdentity.sessionContext.attributes.creationDate").
func paths(prefix string, v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := prefix + k
			*out = append(*out, p)
			paths(p+".", x, out)
		}
	case []any:
		for _, x := range v {
			paths(prefix, x, out)
		}
	}
}

type repoInput struct {
	RegistryID     string `json:"registryId,omitempty"`
	RepositoryName string `json:"repositoryName"`
}

// sampleCall is the guide's CreateRepository, made by a session of the role Admin.
func sampleCall() *pipeline.Call {
	return &pipeline.Call{
		RequestID: "cb8c167e-EXAMPLE", Protocol: "ecr", SourceIP: "203.0.113.12", UserAgent: "console.amazonaws.com",
		RegistryID: "123456789012", Action: "ecr:CreateRepository",
		Caller: identity.Principal{AccountID: "123456789012", UserID: "AROACKCEVSQ6C2EXAMPLE:Mary_Major", AccessKeyID: "ASIAIOSFODNN7EXAMPLE",
			RoleName: "Admin", SessionName: "Mary_Major"},
		Input: &repoInput{RepositoryName: "testrepo"},
		Output: map[string]any{"repository": map[string]any{"repositoryArn": "arn:aws:ecr:us-east-2:123456789012:repository/testrepo",
			"repositoryName": "testrepo", "repositoryUri": "123456789012.dkr.ecr.us-east-2.amazonaws.com/testrepo",
			"createdAt": 1.531347464e9, "registryId": "123456789012"}},
		Targets: []pipeline.Target{pipeline.Repository("ecr:CreateRepository", "123456789012", "testrepo")},
		Start:   time.Date(2018, 7, 11, 22, 17, 43, 0, time.UTC),
	}
}

func record(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRecordHasTheGuidesShape(t *testing.T) {
	events := Events(sampleCall(), nil, "us-east-2")
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	got := record(t, events[0].Record)
	var want map[string]any
	if err := json.Unmarshal([]byte(guideSample), &want); err != nil {
		t.Fatal(err)
	}
	var gotPaths, wantPaths []string
	paths("", got, &gotPaths)
	paths("", want, &wantPaths)
	have := map[string]bool{}
	for _, p := range gotPaths {
		have[p] = true
	}
	var missing []string
	for _, p := range wantPaths {
		// The session's creation time is not kept with the session.
		if !have[p] && p != "userIdentity.sessionContext.attributes.creationDate" {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("members of the guide's record missing: %v\n%s", missing, events[0].Record)
	}
	// The values that do not depend on the call's time or randomness are the guide's.
	for _, p := range []string{"eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent", "requestID",
		"eventType", "recipientAccountId", "requestParameters", "resources"} {
		g, w := got[p], want[p]
		if p == "resources" {
			g.([]any)[0].(map[string]any)["type"] = nil // the guide's sample predates the member
			delete(g.([]any)[0].(map[string]any), "type")
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: got %v, want %v", p, g, w)
		}
	}
	id := got["userIdentity"].(map[string]any)
	issuer := id["sessionContext"].(map[string]any)["sessionIssuer"].(map[string]any)
	if id["type"] != "AssumedRole" || id["arn"] != "arn:aws:sts::123456789012:assumed-role/Admin/Mary_Major" ||
		issuer["arn"] != "arn:aws:iam::123456789012:role/Admin" || issuer["userName"] != "Admin" || issuer["principalId"] != "AROACKCEVSQ6C2EXAMPLE" {
		t.Errorf("userIdentity %v", id)
	}
	if got["readOnly"] != false || got["eventVersion"] != EventVersion || got["eventID"] == "" {
		t.Errorf("record %s", events[0].Record)
	}
	e := events[0]
	if e.Name != "CreateRepository" || e.Username != "Mary_Major" || e.AccessKeyID != "ASIAIOSFODNN7EXAMPLE" || e.ReadOnly ||
		len(e.Resources) != 1 || e.Resources[0].Name != "testrepo" || e.Resources[0].Type != "AWS::ECR::Repository" {
		t.Errorf("columns %+v", e)
	}
}

func TestIdentities(t *testing.T) {
	for _, tc := range []struct {
		p    identity.Principal
		want string
		user string
	}{
		{identity.Principal{AccountID: "111122223333", UserName: "carol", UserID: "AIDACAROL", AccessKeyID: "AKIACAROL"},
			`{"type":"IAMUser","principalId":"AIDACAROL","arn":"arn:aws:iam::111122223333:user/carol","accountId":"111122223333","accessKeyId":"AKIACAROL","userName":"carol"}`, "carol"},
		{identity.RootOf("111122223333"),
			`{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"}`, "root"},
		{identity.ServiceIn("111122223333"), `{"type":"AWSService","invokedBy":"ecr.amazonaws.com"}`, "ecr.amazonaws.com"},
	} {
		c := sampleCall()
		c.Caller = tc.p
		events := Events(c, nil, "us-east-1")
		got := record(t, events[0].Record)
		id, _ := json.Marshal(got["userIdentity"])
		var a, b any
		json.Unmarshal(id, &a)
		json.Unmarshal([]byte(tc.want), &b)
		if !reflect.DeepEqual(a, b) || events[0].Username != tc.user {
			t.Errorf("userIdentity %s (username %q), want %s", id, events[0].Username, tc.want)
		}
		if tc.p.Service != "" && (got["sourceIPAddress"] != "ecr.amazonaws.com" || got["userAgent"] != "ecr.amazonaws.com") {
			t.Errorf("background work's record: %v", got)
		}
	}
}

func TestFailuresAndReads(t *testing.T) {
	c := sampleCall()
	c.Action = "ecr:DeleteRepository"
	c.ErrorCode = func(err error) (string, string) { return "AccessDeniedException", err.Error() }
	events := Events(c, &registry.Error{Kind: registry.KindDenied, Message: "User: x is not authorized"}, "us-east-1")
	got := record(t, events[0].Record)
	if got["errorCode"] != "AccessDeniedException" || got["errorMessage"] != "User: x is not authorized" || got["responseElements"] != nil {
		t.Fatalf("a denied call: %s", events[0].Record)
	}
	// Without the protocol's code: the error's own, or its kind.
	c.ErrorCode = nil
	got = record(t, Events(c, &registry.Error{Kind: registry.KindRepositoryNotFound, Message: "no such repository"}, "us-east-1")[0].Record)
	if got["errorCode"] != registry.KindRepositoryNotFound.String() {
		t.Fatalf("kind as code: %v", got["errorCode"])
	}
	got = record(t, Events(c, errors.New("disk on fire"), "us-east-1")[0].Record)
	if got["errorCode"] != "InternalFailure" || strings.Contains(string(Events(c, errors.New("disk on fire"), "us-east-1")[0].Record), "fire") {
		t.Fatalf("an internal failure tells its cause: %v", got)
	}
	// A read records no response.
	c = sampleCall()
	c.Action = "ecr:BatchGetImage"
	got = record(t, Events(c, nil, "us-east-1")[0].Record)
	if got["readOnly"] != true || got["responseElements"] != nil {
		t.Fatalf("a read: %v", got)
	}
	// Anonymous calls and calls with no action have no record.
	c.Caller = identity.Principal{}
	if len(Events(c, errors.New("x"), "us-east-1")) != 0 {
		t.Fatal("an anonymous call was recorded")
	}
}

func TestCrossAccountCallIsRecordedForBoth(t *testing.T) {
	c := sampleCall()
	c.Action = "ecr:BatchGetImage"
	c.Caller = identity.Principal{AccountID: "111122223333", UserName: "carol"}
	c.Targets = []pipeline.Target{pipeline.Repository("ecr:BatchGetImage", "444455556666", "shared")}
	events := Events(c, nil, "us-east-1")
	if len(events) != 2 || events[0].Account != "111122223333" || events[1].Account != "444455556666" || events[0].EventID != events[1].EventID {
		t.Fatalf("%+v", events)
	}
	for _, e := range events {
		got := record(t, e.Record)
		res := got["resources"].([]any)[0].(map[string]any)
		if got["recipientAccountId"] != e.Account || res["accountId"] != "444455556666" ||
			res["ARN"] != "arn:aws:ecr:us-east-1:444455556666:repository/shared" {
			t.Fatalf("%s", e.Record)
		}
	}
	// An IAM target's account is in its ARN (AssumeRole of another account's role).
	c.Targets = []pipeline.Target{{Action: "sts:AssumeRole", Resource: "arn:aws:iam::444455556666:role/deploy"}}
	c.Action = "sts:AssumeRole"
	events = Events(c, nil, "us-east-1")
	if len(events) != 2 || events[1].Account != "444455556666" || events[0].Resources[0].Type != "AWS::IAM::Role" || events[0].Resources[0].Name != "deploy" {
		t.Fatalf("%+v", events)
	}
	if got := record(t, events[0].Record); got["eventSource"] != "sts.amazonaws.com" || got["eventName"] != "AssumeRole" {
		t.Fatalf("%v", got)
	}
}

func TestSecretsNeverRecorded(t *testing.T) {
	// A Query protocol call: its parameters by name, its XML result's members in camelCase, secrets hidden.
	c := sampleCall()
	c.Protocol, c.Action = "sts", "sts:AssumeRole"
	c.Input = url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {"arn:aws:iam::123456789012:role/Admin"},
		"RoleSessionName": {"s"}, "Password": {"hunter2"}}
	type creds struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
	c.Output = struct {
		Credentials creds
	}{creds{"ASIAX", "the-secret", "the-token", "2026-01-01T00:00:00Z"}}
	rec := string(Events(c, nil, "us-east-1")[0].Record)
	for _, secret := range []string{"hunter2", "the-secret", "the-token"} {
		if strings.Contains(rec, secret) {
			t.Fatalf("record holds %q: %s", secret, rec)
		}
	}
	got := record(t, []byte(rec))
	params := got["requestParameters"].(map[string]any)
	cred := got["responseElements"].(map[string]any)["credentials"].(map[string]any)
	if params["roleArn"] != "arn:aws:iam::123456789012:role/Admin" || params["action"] != nil || params["password"] != hidden ||
		cred["accessKeyId"] != "ASIAX" || cred["sessionToken"] != hidden || cred["secretAccessKey"] != hidden {
		t.Fatalf("%s", rec)
	}
	// GetAuthorizationToken's token, and a manifest summarised by digest and size.
	c = sampleCall()
	c.Action = "ecr:PutImage"
	c.Input = map[string]any{"repositoryName": "r", "imageManifest": `{"schemaVersion":2}`}
	c.Output = map[string]any{"authorizationData": []any{map[string]any{"authorizationToken": "QVdTOnNlY3JldA=="}}}
	rec = string(Events(c, nil, "us-east-1")[0].Record)
	got = record(t, []byte(rec))
	m := got["requestParameters"].(map[string]any)["imageManifest"].(map[string]any)
	if strings.Contains(rec, "QVdTOnNlY3JldA") || strings.Contains(rec, "schemaVersion") || m["size"] != 19.0 ||
		m["digest"] != digest.FromString(`{"schemaVersion":2}`).String() {
		t.Fatalf("%s", rec)
	}
	// Secrets Manager's values, string or binary; the secret is the record's resource.
	c = sampleCall()
	c.Action = "secretsmanager:PutSecretValue"
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/hub-AbC123"
	c.Targets = []pipeline.Target{{Action: c.Action, Resource: arn}}
	c.Input = map[string]any{"SecretId": "ecr-pullthroughcache/hub", "SecretString": `{"accessToken":"tok"}`, "SecretBinary": "c2VjcmV0"}
	c.Output = map[string]any{"ARN": arn}
	rec = string(Events(c, nil, "us-east-1")[0].Record)
	got = record(t, []byte(rec))
	params = got["requestParameters"].(map[string]any)
	if strings.Contains(rec, "tok") || strings.Contains(rec, "c2VjcmV0") || params["SecretString"] != hidden || params["SecretBinary"] != hidden ||
		got["eventSource"] != "secretsmanager.amazonaws.com" {
		t.Fatalf("%s", rec)
	}
	res := got["resources"].([]any)[0].(map[string]any)
	if res["ARN"] != arn || res["type"] != "AWS::SecretsManager::Secret" || res["accountId"] != "123456789012" {
		t.Fatalf("resources: %s", rec)
	}
}

type summarized struct{ Blob []byte }

func (s summarized) AuditSummary() any { return map[string]int{"blob": len(s.Blob)} }

func TestSummarizerDecides(t *testing.T) {
	if got, _ := json.Marshal(Summarize(summarized{make([]byte, 1<<20)}, "ecr")); string(got) != `{"blob":1048576}` {
		t.Fatalf("%s", got)
	}
	if Summarize(nil, "ecr") != nil {
		t.Fatal("nil input summarised")
	}
}
