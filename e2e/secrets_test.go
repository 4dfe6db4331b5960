package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSecretsWithAWSCLI: the Secrets Manager calls a pull through cache's credentials need, with the real
// aws CLI: values and their versions, listing, deletion with and without a recovery window, IAM, and the
// audit trail, which never holds a value.
func TestSecretsWithAWSCLI(t *testing.T) {
	s := startServer(t, t.TempDir())
	endpoint := "http://" + s.addr
	sm := func(args ...string) []string {
		return append(append([]string{"secretsmanager"}, args...), "--endpoint-url", endpoint)
	}
	value := `{"username":"u","accessToken":"t0p-s3cret"}`

	var created struct{ ARN, Name, VersionId string }
	jsonOf(t, s.aws(sm("create-secret", "--name", "ecr-pullthroughcache/hub", "--secret-string", value,
		"--description", "Docker Hub", "--tags", "Key=team,Value=build")...), &created)
	arnRE := regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/hub-[A-Za-z0-9]{6}$`)
	if !arnRE.MatchString(created.ARN) || created.Name != "ecr-pullthroughcache/hub" || len(created.VersionId) != 36 {
		t.Fatalf("create-secret: %+v", created)
	}
	s.awsFails("ResourceExistsException", sm("create-secret", "--name", "ecr-pullthroughcache/hub", "--secret-string", "x")...)

	type secretValue struct {
		ARN, Name, VersionId, SecretString, SecretBinary string
		VersionStages                                    []string
	}
	get := func(args ...string) secretValue {
		t.Helper()
		var v secretValue
		jsonOf(t, s.aws(sm(append([]string{"get-secret-value"}, args...)...)...), &v)
		return v
	}
	for _, id := range []string{"ecr-pullthroughcache/hub", created.ARN} {
		if v := get("--secret-id", id); v.SecretString != value || v.ARN != created.ARN || v.VersionId != created.VersionId ||
			strings.Join(v.VersionStages, ",") != "AWSCURRENT" {
			t.Fatalf("get-secret-value --secret-id %s: %+v", id, v)
		}
	}
	if out := s.awsFails("ResourceNotFoundException", sm("get-secret-value", "--secret-id", "nope")...); !strings.Contains(out, "Secrets Manager can't find the specified secret.") {
		t.Fatalf("a missing secret: %s", out)
	}

	// A new version becomes AWSCURRENT, the old one AWSPREVIOUS.
	var put struct {
		VersionId     string
		VersionStages []string
	}
	value2 := `{"username":"u","accessToken":"n3w-s3cret"}`
	jsonOf(t, s.aws(sm("put-secret-value", "--secret-id", "ecr-pullthroughcache/hub", "--secret-string", value2)...), &put)
	if put.VersionId == created.VersionId || strings.Join(put.VersionStages, ",") != "AWSCURRENT" {
		t.Fatalf("put-secret-value: %+v", put)
	}
	if v := get("--secret-id", "ecr-pullthroughcache/hub"); v.SecretString != value2 || v.VersionId != put.VersionId {
		t.Fatalf("current after put: %+v", v)
	}
	if v := get("--secret-id", "ecr-pullthroughcache/hub", "--version-stage", "AWSPREVIOUS"); v.SecretString != value || v.VersionId != created.VersionId {
		t.Fatalf("AWSPREVIOUS: %+v", v)
	}
	if v := get("--secret-id", created.ARN, "--version-id", created.VersionId); v.SecretString != value {
		t.Fatalf("by version id: %+v", v)
	}

	var desc struct {
		ARN, Name, Description string
		Tags                   []struct{ Key, Value string }
		VersionIdsToStages     map[string][]string
		CreatedDate            float64
		DeletedDate            float64 // the aws CLI prints timestamps as seconds since the epoch
	}
	jsonOf(t, s.aws(sm("describe-secret", "--secret-id", "ecr-pullthroughcache/hub")...), &desc)
	if desc.ARN != created.ARN || desc.Description != "Docker Hub" || len(desc.Tags) != 1 || desc.Tags[0].Key != "team" ||
		len(desc.VersionIdsToStages) != 2 || desc.VersionIdsToStages[created.VersionId][0] != "AWSPREVIOUS" || desc.CreatedDate == 0 || desc.DeletedDate != 0 {
		t.Fatalf("describe-secret: %+v", desc)
	}

	// A binary secret, and listings.
	bin := filepath.Join(t.TempDir(), "value.bin")
	os.WriteFile(bin, []byte{0, 1, 2, 255}, 0o600)
	s.aws(sm("create-secret", "--name", "db/main", "--secret-binary", "fileb://"+bin)...)
	if v := get("--secret-id", "db/main"); v.SecretBinary != "AAEC/w==" || v.SecretString != "" {
		t.Fatalf("binary value: %+v", v)
	}
	list := func(args ...string) string {
		t.Helper()
		return strings.Join(strings.Fields(s.aws(sm(append([]string{"list-secrets", "--query", "SecretList[].Name", "--output", "text"}, args...)...)...)), " ")
	}
	if got := list("--page-size", "1"); got != "db/main ecr-pullthroughcache/hub" {
		t.Fatalf("list-secrets a page at a time: %q", got)
	}
	if got := list("--filters", "Key=name,Values=ecr-pullthroughcache/"); got != "ecr-pullthroughcache/hub" {
		t.Fatalf("list-secrets by name: %q", got)
	}
	if got := list("--filters", "Key=tag-key,Values=team"); got != "ecr-pullthroughcache/hub" {
		t.Fatalf("list-secrets by tag key: %q", got)
	}

	// A user without Secrets Manager rights is refused, naming the action and the secret's ARN; a policy
	// on the pull through cache's secrets lets it read them.
	iam := func(args ...string) []string { return append(args, "--endpoint-url", endpoint) }
	s.aws(iam("iam", "create-user", "--user-name", "puller")...)
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	jsonOf(t, s.aws(iam("iam", "create-access-key", "--user-name", "puller")...), &key)
	puller := accountEnv(key.AccessKey.AccessKeyId, key.AccessKey.SecretAccessKey, endpoint)
	asPuller := func(args ...string) (string, error) { return runEnv(t, puller, nil, tool(t, "aws"), sm(args...)...) }
	out, err := asPuller("get-secret-value", "--secret-id", "ecr-pullthroughcache/hub")
	if err == nil || !strings.Contains(out, "AccessDeniedException") ||
		!strings.Contains(out, "User: arn:aws:iam::000000000000:user/puller is not authorized to perform: secretsmanager:GetSecretValue on resource: "+created.ARN) {
		t.Fatalf("a user without rights: %v %s", err, out)
	}
	out, err = asPuller("create-secret", "--name", "ecr-pullthroughcache/ghcr", "--secret-string", "x")
	if err == nil || !strings.Contains(out, "AccessDeniedException") ||
		!regexp.MustCompile(`secretsmanager:CreateSecret on resource: arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/ghcr-[A-Za-z0-9]{6}`).MatchString(out) {
		t.Fatalf("a user without rights creating: %v %s", err, out)
	}
	s.aws(iam("iam", "put-user-policy", "--user-name", "puller", "--policy-name", "pull-through-cache", "--policy-document",
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue",
		  "Resource":"arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/*"}}`)...)
	deadline := time.Now().Add(15 * time.Second) // authorization facts are cached a second
	for {
		out, err = asPuller("get-secret-value", "--secret-id", "ecr-pullthroughcache/hub", "--query", "SecretString", "--output", "text")
		if err == nil && strings.TrimSpace(out) == value2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a user with a policy: %v %s", err, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if out, err := asPuller("get-secret-value", "--secret-id", "db/main"); err == nil || !strings.Contains(out, "AccessDeniedException") {
		t.Fatalf("a secret the policy does not name: %v %s", err, out)
	}
	// A secret that does not exist is refused as one that does: nothing tells which exist.
	if out, err := asPuller("get-secret-value", "--secret-id", "db/nope"); err == nil || !strings.Contains(out, "AccessDeniedException") ||
		!strings.Contains(out, "on resource: arn:aws:secretsmanager:us-east-1:000000000000:secret:db/nope") {
		t.Fatalf("a missing secret the policy does not name: %v %s", err, out)
	}

	// Deletion with a recovery window: the value is gone, the name stays taken.
	var del struct {
		ARN, Name    string
		DeletionDate float64
	}
	before := time.Now()
	jsonOf(t, s.aws(sm("delete-secret", "--secret-id", "ecr-pullthroughcache/hub", "--recovery-window-in-days", "7")...), &del)
	at := time.Unix(0, int64(del.DeletionDate*1e9))
	if del.ARN != created.ARN || at.Before(before.Add(7*24*time.Hour-time.Minute)) || at.After(before.Add(7*24*time.Hour+time.Minute)) {
		t.Fatalf("delete-secret: %+v", del)
	}
	if out := s.awsFails("InvalidRequestException", sm("get-secret-value", "--secret-id", "ecr-pullthroughcache/hub")...); !strings.Contains(out, "marked for deletion") {
		t.Fatalf("get-secret-value of a deleted secret: %s", out)
	}
	s.awsFails("InvalidRequestException", sm("create-secret", "--name", "ecr-pullthroughcache/hub", "--secret-string", "x")...)
	s.awsFails("InvalidParameterException", sm("delete-secret", "--secret-id", "db/main", "--recovery-window-in-days", "3")...)
	jsonOf(t, s.aws(sm("describe-secret", "--secret-id", "ecr-pullthroughcache/hub")...), &desc)
	if desc.DeletedDate == 0 {
		t.Fatalf("describe-secret of a deleted secret: %+v", desc)
	}
	if got := list(); got != "db/main" {
		t.Fatalf("list-secrets without planned deletions: %q", got)
	}
	if got := list("--include-planned-deletion"); got != "db/main ecr-pullthroughcache/hub" {
		t.Fatalf("list-secrets with planned deletions: %q", got)
	}

	// Forced: gone at once.
	s.aws(sm("delete-secret", "--secret-id", "db/main", "--force-delete-without-recovery")...)
	s.awsFails("ResourceNotFoundException", sm("get-secret-value", "--secret-id", "db/main")...)
	s.aws(sm("create-secret", "--name", "db/main", "--secret-string", "again")...)

	// The audit trail has the calls, never the values.
	env := s.awsEnv()
	for _, name := range []string{"CreateSecret", "GetSecretValue", "PutSecretValue", "DeleteSecret"} {
		events := lookup(t, env, endpoint, "EventName", name)
		if len(events) == 0 {
			t.Fatalf("no %s in the trail", name)
		}
		for _, e := range events {
			if e.EventSource != "secretsmanager.amazonaws.com" {
				t.Errorf("%s's source: %s", name, e.EventSource)
			}
			for _, secret := range []string{"t0p-s3cret", "n3w-s3cret", "AAEC/w==", "again"} {
				if strings.Contains(e.CloudTrailEvent, secret) {
					t.Errorf("a value in the trail: %s", e.CloudTrailEvent)
				}
			}
		}
	}
	events := lookup(t, env, endpoint, "ResourceName", strings.TrimPrefix(created.ARN, "arn:aws:secretsmanager:us-east-1:000000000000:secret:"))
	var sawValue, sawDenied bool
	for _, e := range events {
		if e.EventName == "PutSecretValue" && member(e.record, "requestParameters.SecretString") == "HIDDEN_DUE_TO_SECURITY_REASONS" {
			sawValue = true
		}
		if e.EventName == "GetSecretValue" && member(e.record, "responseElements") != nil { // reads record no response, as CloudTrail's
			t.Errorf("GetSecretValue's response: %s", e.CloudTrailEvent)
		}
		if e.EventName == "GetSecretValue" && member(e.record, "errorCode") == "AccessDeniedException" && member(e.record, "userIdentity.userName") == "puller" {
			sawDenied = true
		}
		if e.EventName == "CreateSecret" && member(e.record, "requestParameters.SecretString") != "HIDDEN_DUE_TO_SECURITY_REASONS" {
			t.Errorf("CreateSecret's request: %s", e.CloudTrailEvent)
		}
		if len(e.Resources) == 0 || e.Resources[0].ResourceType != "AWS::SecretsManager::Secret" {
			t.Errorf("resources of %s: %+v", e.EventName, e.Resources)
		}
	}
	if !sawValue || !sawDenied {
		t.Fatalf("the secret's events (value hidden %v, denial %v): %d events", sawValue, sawDenied, len(events))
	}
}
