package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// trailEvent is an event of `aws cloudtrail lookup-events`, with its record decoded.
type trailEvent struct {
	EventId, EventName, ReadOnly, AccessKeyId, EventSource, Username, CloudTrailEvent string
	Resources                                                                         []struct{ ResourceType, ResourceName string }
	record                                                                            map[string]any
}

// lookup runs `aws cloudtrail lookup-events` with a lookup attribute, waiting up to a few seconds for
// at least one event (reads are written in batches).
func lookup(t *testing.T, env []string, endpoint, key, value string) []trailEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var out struct{ Events []trailEvent }
		jsonOf(t, awsAs(t, env, "cloudtrail", "lookup-events", "--endpoint-url", endpoint,
			"--lookup-attributes", "AttributeKey="+key+",AttributeValue="+value), &out)
		if len(out.Events) > 0 || time.Now().After(deadline) {
			for i := range out.Events {
				jsonOf(t, out.Events[i].CloudTrailEvent, &out.Events[i].record)
			}
			return out.Events
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// member reads a member of a record by its path ("userIdentity.userName").
func member(rec map[string]any, path string) any {
	var v any = rec
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// checkRecord checks the members every record has, and the given ones' values.
func checkRecord(t *testing.T, e trailEvent, want map[string]any) {
	t.Helper()
	for _, k := range []string{"eventVersion", "userIdentity.type", "eventTime", "eventSource", "eventName", "awsRegion",
		"sourceIPAddress", "userAgent", "requestID", "eventID", "eventType", "recipientAccountId"} {
		if member(e.record, k) == nil || member(e.record, k) == "" {
			t.Errorf("%s record lacks %s: %s", e.EventName, k, e.CloudTrailEvent)
		}
	}
	for k, v := range want {
		if got := member(e.record, k); got != v {
			t.Errorf("%s record's %s is %v, want %v: %s", e.EventName, k, got, v, e.CloudTrailEvent)
		}
	}
}

// TestAuditTrailWithAWSCLI: the calls of an IAM user — a repository created, a deletion denied, a push and
// a pull with crane, a role assumed — appear in `aws cloudtrail lookup-events` with CloudTrail's members,
// no secret appears in any record, and the delivered log files hold every record once.
func TestAuditTrailWithAWSCLI(t *testing.T) {
	crane := tool(t, "crane")
	trailDir := t.TempDir()
	s := startServer(t, t.TempDir(), "--audit-delivery", trailDir, "--audit-delivery-interval", "1s")
	endpoint := "http://" + s.addr
	e := func(args ...string) []string { return append(args, "--endpoint-url", endpoint) }
	admin := s.awsEnv()

	s.aws(e("iam", "create-user", "--user-name", "carol")...)
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	jsonOf(t, s.aws(e("iam", "create-access-key", "--user-name", "carol")...), &key)
	s.aws(e("iam", "put-user-policy", "--user-name", "carol", "--policy-name", "push", "--policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:CreateRepository","ecr:GetAuthorizationToken",
		"ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability","ecr:PutImage","ecr:InitiateLayerUpload",
		"ecr:UploadLayerPart","ecr:CompleteLayerUpload"],"Resource":"*"}]}`)...)
	s.aws(e("iam", "create-role", "--role-name", "deployer", "--assume-role-policy-document",
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/carol"},"Action":"sts:AssumeRole"}}`)...)
	carol := accountEnv(key.AccessKey.AccessKeyId, key.AccessKey.SecretAccessKey, endpoint)

	awsAs(t, carol, "ecr", "create-repository", "--repository-name", "audited")
	if out, err := runEnv(t, carol, nil, tool(t, "aws"), "ecr", "delete-repository", "--repository-name", "audited"); err == nil || !strings.Contains(out, "AccessDeniedException") {
		t.Fatalf("carol deleted a repository: %v %s", err, out)
	}
	pw := awsAs(t, carol, "ecr", "get-login-password")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if out, err := runEnv(t, nil, strings.NewReader(pw), crane, "auth", "login", s.addr, "-u", "AWS", "--password-stdin"); err != nil {
		t.Fatalf("crane login: %v %s", err, out)
	}
	ref := s.addr + "/audited:v1"
	run(t, crane, "append", "--insecure", "-f", writeTar(t, t.TempDir(), "app", []byte("audited\n")), "-t", ref)
	run(t, crane, "pull", "--insecure", ref, filepath.Join(t.TempDir(), "image.tar"))
	var sess struct {
		Credentials struct{ SessionToken, SecretAccessKey string }
	}
	jsonOf(t, awsAs(t, carol, e("sts", "assume-role", "--role-arn", "arn:aws:iam::000000000000:role/deployer", "--role-session-name", "deploy-7")...), &sess)

	// Carol may not look the trail up; the admin may (AdministratorAccess).
	if out, err := runEnv(t, carol, nil, tool(t, "aws"), "cloudtrail", "lookup-events", "--endpoint-url", endpoint); err == nil || !strings.Contains(out, "AccessDeniedException") {
		t.Fatalf("carol looked the trail up: %v %s", err, out)
	}

	created := lookup(t, admin, endpoint, "EventName", "CreateRepository")
	if len(created) != 1 || created[0].Username != "carol" || created[0].ReadOnly != "false" || created[0].AccessKeyId != key.AccessKey.AccessKeyId ||
		len(created[0].Resources) != 1 || created[0].Resources[0].ResourceName != "audited" || created[0].Resources[0].ResourceType != "AWS::ECR::Repository" {
		t.Fatalf("CreateRepository events: %+v", created)
	}
	t.Logf("CreateRepository: %s", created[0].CloudTrailEvent)
	checkRecord(t, created[0], map[string]any{"eventSource": "ecr.amazonaws.com", "eventType": "AwsApiCall", "awsRegion": "us-east-1",
		"userIdentity.type": "IAMUser", "userIdentity.userName": "carol", "userIdentity.arn": "arn:aws:iam::000000000000:user/carol",
		"userIdentity.accountId": "000000000000", "userIdentity.accessKeyId": key.AccessKey.AccessKeyId, "sourceIPAddress": "127.0.0.1",
		"requestParameters.repositoryName": "audited", "responseElements.repository.repositoryArn": "arn:aws:ecr:us-east-1:000000000000:repository/audited",
		"recipientAccountId": "000000000000", "readOnly": false})
	if ua, _ := created[0].record["userAgent"].(string); !strings.HasPrefix(ua, "aws-cli/") {
		t.Errorf("userAgent %q", ua)
	}

	denied := lookup(t, admin, endpoint, "EventName", "DeleteRepository")
	if len(denied) != 1 {
		t.Fatalf("DeleteRepository events: %+v", denied)
	}
	checkRecord(t, denied[0], map[string]any{"errorCode": "AccessDeniedException", "userIdentity.userName": "carol",
		"requestParameters.repositoryName": "audited", "responseElements": nil})
	if msg, _ := denied[0].record["errorMessage"].(string); !strings.Contains(msg, "not authorized to perform: ecr:DeleteRepository") {
		t.Errorf("errorMessage %q", msg)
	}

	// The push and the pull, as the ECR actions ECR records registry traffic with.
	names := map[string]bool{}
	for _, ev := range lookup(t, admin, endpoint, "ResourceName", "audited") {
		names[ev.EventName] = true
		if ev.EventName == "PutImage" {
			checkRecord(t, ev, map[string]any{"requestParameters.repositoryName": "audited", "requestParameters.imageTag": "v1",
				"responseElements.image.imageId.imageTag": "v1", "userIdentity.userName": "carol", "readOnly": false})
		}
	}
	for _, n := range []string{"CreateRepository", "DeleteRepository", "PutImage", "InitiateLayerUpload", "CompleteLayerUpload", "BatchGetImage", "GetDownloadUrlForLayer"} {
		if !names[n] {
			t.Errorf("no %s event on the repository; events: %v", n, names)
		}
	}
	pulls := lookup(t, admin, endpoint, "EventName", "BatchGetImage")
	checkRecord(t, pulls[0], map[string]any{"readOnly": true, "requestParameters.repositoryName": "audited", "eventSource": "ecr.amazonaws.com"})

	t.Logf("BatchGetImage: %s", pulls[0].CloudTrailEvent)
	assumed := lookup(t, admin, endpoint, "EventName", "AssumeRole")
	if len(assumed) != 1 || assumed[0].Resources[0].ResourceType != "AWS::IAM::Role" || assumed[0].Resources[0].ResourceName != "deployer" {
		t.Fatalf("AssumeRole events: %+v", assumed)
	}
	t.Logf("AssumeRole: %s", assumed[0].CloudTrailEvent)
	checkRecord(t, assumed[0], map[string]any{"eventSource": "sts.amazonaws.com", "userIdentity.userName": "carol",
		"requestParameters.roleArn": "arn:aws:iam::000000000000:role/deployer", "requestParameters.roleSessionName": "deploy-7",
		"responseElements.credentials.sessionToken": "HIDDEN_DUE_TO_SECURITY_REASONS"})

	// Every event, page by page (the CLI follows NextToken): no secret in any record.
	var all struct{ Events []trailEvent }
	jsonOf(t, awsAs(t, admin, "cloudtrail", "lookup-events", "--endpoint-url", endpoint, "--max-items", "1000", "--page-size", "7"), &all)
	if len(all.Events) < 20 {
		t.Fatalf("%d events in all", len(all.Events))
	}
	seen := map[string]bool{}
	for _, ev := range all.Events {
		if seen[ev.EventId] {
			t.Fatalf("event %s listed twice across pages", ev.EventId)
		}
		seen[ev.EventId] = true
		for _, secret := range []string{key.AccessKey.SecretAccessKey, adminSecret, sess.Credentials.SessionToken, sess.Credentials.SecretAccessKey, pw} {
			if strings.Contains(ev.CloudTrailEvent, secret) {
				t.Fatalf("a %s record holds a secret: %s", ev.EventName, ev.CloudTrailEvent)
			}
		}
	}

	// The delivered log files: CloudTrail's layout, {"Records":[…]}, each record once, every looked-up one there.
	delivered := map[string]bool{}
	name := regexp.MustCompile(`^AWSLogs/000000000000/CloudTrail/us-east-1/\d{4}/\d{2}/\d{2}/000000000000_CloudTrail_us-east-1_\d{8}T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		clear(delivered)
		filepath.WalkDir(trailDir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(trailDir, path)
			if !name.MatchString(filepath.ToSlash(rel)) {
				t.Fatalf("log file %s is not in CloudTrail's layout", rel)
			}
			data, _ := os.ReadFile(path)
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			doc, _ := io.ReadAll(zr)
			var logFile struct{ Records []map[string]any }
			if err := json.Unmarshal(doc, &logFile); err != nil || len(logFile.Records) == 0 {
				t.Fatalf("%s: %v %s", rel, err, doc)
			}
			for _, r := range logFile.Records {
				id, _ := r["eventID"].(string)
				if delivered[id] {
					t.Fatalf("event %s delivered twice", id)
				}
				delivered[id] = true
				if r["eventVersion"] == nil || r["eventTime"] == nil || r["recipientAccountId"] != "000000000000" {
					t.Fatalf("%s holds %v", rel, r)
				}
			}
			return nil
		})
		missing := 0
		for id := range seen {
			if !delivered[id] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d looked-up events not delivered", missing, len(seen))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
