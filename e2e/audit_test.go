package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
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

// TestAuditTrailWithAWSCLI: the audit trail of one node on SQLite, delivered to a directory.
func TestAuditTrailWithAWSCLI(t *testing.T) {
	trailDir := t.TempDir()
	metrics := freeAddr(t)
	s := startServer(t, t.TempDir(), "--audit-delivery", trailDir, "--audit-delivery-interval", "1s", "--lifecycle-interval", "1s",
		"--throttle", throttledDescribe, "--metrics-addr", metrics)
	auditScenario(t, []*wharfProc{s}, func() string { return trailDir })

	// The trail's metrics: records written, delivered, and waiting for delivery.
	values := map[string]float64{}
	for _, line := range strings.Split(get(t, "http://"+metrics+"/metrics"), "\n") {
		var name string
		var v float64
		if _, err := fmt.Sscan(line, &name, &v); err == nil && strings.HasPrefix(name, "wharf_audit_") {
			values[name] = v
		}
	}
	written, delivered, pending := values["wharf_audit_records_written_total"], values["wharf_audit_records_delivered_total"], values["wharf_audit_records_pending"]
	if _, ok := values["wharf_audit_records_pending"]; !ok || written < 30 || delivered < 30 || delivered > written || pending > written-delivered {
		t.Fatalf("audit metrics %v", values)
	}
}

// TestAuditTrailOnThreeNodes: the audit trail of three nodes on PostgreSQL, delivered to S3: every node
// looks up every node's records, and each record is delivered once.
func TestAuditTrailOnThreeNodes(t *testing.T) {
	_, env, _ := sharedStorage(t) // for the bucket's credentials
	s3 := os.Getenv("WHARF_TEST_S3")
	i := strings.LastIndex(s3, "/")
	endpoint, bucket := s3[:i], s3[i+1:]
	prefix := fmt.Sprintf("audit-%d-%d", os.Getpid(), time.Now().UnixNano())
	nodes, _, _ := startCluster(t, 3, "--audit-delivery", "s3://"+bucket+"/"+prefix, "--audit-delivery-interval", "1s",
		"--lifecycle-interval", "1s", "--throttle", throttledDescribe)
	auditScenario(t, nodes, func() string {
		dir := t.TempDir()
		if out, err := runEnv(t, append(env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"), nil, tool(t, "aws"),
			"s3", "cp", "--recursive", "--only-show-errors", "--endpoint-url", endpoint, "s3://"+bucket+"/"+prefix+"/", dir); err != nil {
			t.Fatalf("aws s3 cp: %v %s", err, out)
		}
		return dir
	})
}

// throttledDescribe are the limits of the audit tests' servers: DescribeImages throttled after one call.
const throttledDescribe = `{"default": {"*": {"rate": 0}, "ecr:DescribeImages": {"rate": 0.001, "burst": 1}}}`

// auditScenario: the calls of an IAM user — a repository created, a deletion denied, a push and a pull with
// crane, a role assumed — a lifecycle expiry, a throttled call and a call across accounts appear in
// `aws cloudtrail lookup-events` on every node with CloudTrail's members, no secret appears in any record,
// and the delivered log files (fetched into the directory delivered returns) hold every record once. Calls
// go to the nodes in turn.
func auditScenario(t *testing.T, nodes []*wharfProc, delivered func() string) {
	crane := tool(t, "crane")
	turn := 0
	next := func() *wharfProc { turn++; return nodes[turn%len(nodes)] }
	endpointOf := func(n *wharfProc) string { return "http://" + n.addr }
	s := nodes[0]
	e := func(args ...string) []string { return append(args, "--endpoint-url", endpointOf(next())) }

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
	carolOn := func(n *wharfProc) []string {
		return accountEnv(key.AccessKey.AccessKeyId, key.AccessKey.SecretAccessKey, endpointOf(n))
	}

	awsAs(t, carolOn(next()), "ecr", "create-repository", "--repository-name", "audited")
	if out, err := runEnv(t, carolOn(next()), nil, tool(t, "aws"), "ecr", "delete-repository", "--repository-name", "audited"); err == nil || !strings.Contains(out, "AccessDeniedException") {
		t.Fatalf("carol deleted a repository: %v %s", err, out)
	}
	pw := awsAs(t, carolOn(next()), "ecr", "get-login-password")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	for _, n := range nodes {
		if out, err := runEnv(t, nil, strings.NewReader(pw), crane, "auth", "login", n.addr, "-u", "AWS", "--password-stdin"); err != nil {
			t.Fatalf("crane login: %v %s", err, out)
		}
	}
	run(t, crane, "append", "--insecure", "-f", writeTar(t, t.TempDir(), "app", []byte("audited\n")), "-t", next().addr+"/audited:v1")
	run(t, crane, "pull", "--insecure", next().addr+"/audited:v1", filepath.Join(t.TempDir(), "image.tar"))
	var sess struct {
		Credentials struct{ SessionToken, SecretAccessKey string }
	}
	jsonOf(t, awsAs(t, carolOn(next()), e("sts", "assume-role", "--role-arn", "arn:aws:iam::000000000000:role/deployer", "--role-session-name", "deploy-7")...), &sess)

	// Lifecycle expires v1 once v2 is pushed: Wharf's own work, recorded as ECR's lifecycle records it.
	run(t, crane, "append", "--insecure", "-f", writeTar(t, t.TempDir(), "app", []byte("audited 2\n")), "-t", next().addr+"/audited:v2")
	s.aws(e("ecr", "put-lifecycle-policy", "--repository-name", "audited", "--lifecycle-policy-text",
		`{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`)...)

	// A throttled call (on one node: each node holds a share of the limit, at least a call).
	throttled := false
	n1, n2 := next(), next()
	n := n1
	for range 3 {
		out, err := runEnv(t, append(n.awsEnv(), "AWS_MAX_ATTEMPTS=1"), nil, tool(t, "aws"), "ecr", "describe-images", "--repository-name", "audited")
		throttled = throttled || err != nil && strings.Contains(out, "ThrottlingException")
	}
	if !throttled {
		t.Fatal("describe-images was never throttled")
	}

	// A call across accounts: the default account's admin describes a repository of another account
	// whose policy lets it; both accounts see the call.
	var other struct{ AccessKeyId, SecretAccessKey string }
	jsonOf(t, s.wharf("admin", "create-account", "--account-id", "111122223333"), &other)
	otherOn := func(n *wharfProc) []string {
		return accountEnv(other.AccessKeyId, other.SecretAccessKey, endpointOf(n))
	}
	awsAs(t, otherOn(next()), "ecr", "create-repository", "--repository-name", "shared")
	awsAs(t, otherOn(next()), "ecr", "set-repository-policy", "--repository-name", "shared", "--policy-text",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"ecr:DescribeRepositories"}]}`)
	awsAs(t, next().awsEnv(), "ecr", "describe-repositories", "--registry-id", "111122223333", "--repository-names", "shared")

	// Carol may not look the trail up; the admin may (AdministratorAccess).
	if out, err := runEnv(t, carolOn(next()), nil, tool(t, "aws"), "cloudtrail", "lookup-events", "--endpoint-url", endpointOf(next())); err == nil || !strings.Contains(out, "AccessDeniedException") {
		t.Fatalf("carol looked the trail up: %v %s", err, out)
	}
	lookupOn := func(key, value string) []trailEvent {
		n := next()
		return lookup(t, n.awsEnv(), endpointOf(n), key, value)
	}

	created := lookupOn("EventName", "CreateRepository")
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

	denied := lookupOn("EventName", "DeleteRepository")
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
	for _, ev := range lookupOn("ResourceName", "audited") {
		names[ev.EventName] = true
		if ev.EventName == "PutImage" && member(ev.record, "requestParameters.imageTag") == "v1" {
			checkRecord(t, ev, map[string]any{"requestParameters.repositoryName": "audited",
				"responseElements.image.imageId.imageTag": "v1", "userIdentity.userName": "carol", "readOnly": false})
		}
	}
	for _, n := range []string{"CreateRepository", "DeleteRepository", "PutImage", "InitiateLayerUpload", "CompleteLayerUpload", "BatchGetImage", "GetDownloadUrlForLayer"} {
		if !names[n] {
			t.Errorf("no %s event on the repository; events: %v", n, names)
		}
	}
	var pull *trailEvent
	for _, ev := range lookupOn("EventName", "BatchGetImage") {
		if ids, _ := member(ev.record, "requestParameters.imageIds").([]any); ev.record["errorCode"] == nil && len(ids) == 1 &&
			member(ids[0].(map[string]any), "imageTag") == "v1" {
			pull = &ev
		}
	}
	if pull == nil {
		t.Fatal("no BatchGetImage event of v1")
	}
	checkRecord(t, *pull, map[string]any{"readOnly": true, "requestParameters.repositoryName": "audited", "eventSource": "ecr.amazonaws.com",
		"userIdentity.userName": "carol", "responseElements": nil})
	t.Logf("BatchGetImage: %s", pull.CloudTrailEvent)

	assumed := lookupOn("EventName", "AssumeRole")
	if len(assumed) != 1 || assumed[0].Resources[0].ResourceType != "AWS::IAM::Role" || assumed[0].Resources[0].ResourceName != "deployer" {
		t.Fatalf("AssumeRole events: %+v", assumed)
	}
	t.Logf("AssumeRole: %s", assumed[0].CloudTrailEvent)
	checkRecord(t, assumed[0], map[string]any{"eventSource": "sts.amazonaws.com", "userIdentity.userName": "carol",
		"requestParameters.roleArn": "arn:aws:iam::000000000000:role/deployer", "requestParameters.roleSessionName": "deploy-7",
		"responseElements.credentials.sessionToken": "HIDDEN_DUE_TO_SECURITY_REASONS"})

	expired := lookupOn("EventName", "PolicyExecutionEvent")
	if len(expired) != 1 {
		t.Fatalf("PolicyExecutionEvent events: %+v", expired)
	}
	t.Logf("PolicyExecutionEvent: %s", expired[0].CloudTrailEvent)
	checkRecord(t, expired[0], map[string]any{"userIdentity.type": "AWSService", "userIdentity.invokedBy": "ecr.amazonaws.com",
		"requestParameters.repositoryName": "audited", "readOnly": false, "recipientAccountId": "000000000000"})
	if ids, _ := member(expired[0].record, "responseElements.imageIds").([]any); len(ids) != 1 || member(ids[0].(map[string]any), "imageTag") != "v1" {
		t.Errorf("lifecycle expired %v, want v1", ids)
	} else if rules, _ := member(expired[0].record, "requestParameters.rulePriorities").(map[string]any); len(rules) != 1 || rules[member(ids[0].(map[string]any), "imageDigest").(string)] == nil {
		t.Errorf("the record does not tell which rule expired the image: %v", rules)
	}

	var sawThrottled bool
	for _, ev := range lookupOn("EventName", "DescribeImages") {
		sawThrottled = sawThrottled || ev.record["errorCode"] == "ThrottlingException"
	}
	if !sawThrottled {
		t.Error("no throttled DescribeImages event")
	}

	// Both accounts see the call across accounts, each as its recipient.
	n1, n2 = next(), next()
	for _, c := range []struct {
		env               []string
		endpoint, account string
	}{{n1.awsEnv(), endpointOf(n1), "000000000000"}, {otherOn(n2), endpointOf(n2), "111122223333"}} {
		found := false
		for _, ev := range lookup(t, c.env, c.endpoint, "EventName", "DescribeRepositories") {
			if ev.record["recipientAccountId"] == c.account && member(ev.record, "userIdentity.accountId") == "000000000000" &&
				len(ev.Resources) == 1 && ev.Resources[0].ResourceName == "shared" {
				found = true
			}
		}
		if !found {
			t.Errorf("account %s does not see the call across accounts", c.account)
		}
	}

	// Every event, page by page (the CLI follows NextToken): no secret in any record.
	var all struct{ Events []trailEvent }
	jsonOf(t, awsAs(t, next().awsEnv(), "cloudtrail", "lookup-events", "--endpoint-url", endpointOf(next()), "--max-items", "1000", "--page-size", "7"), &all)
	if len(all.Events) < 20 {
		t.Fatalf("%d events in all", len(all.Events))
	}
	seen := map[string]bool{}
	secrets := []string{key.AccessKey.SecretAccessKey, adminSecret, sess.Credentials.SessionToken, sess.Credentials.SecretAccessKey, pw, other.SecretAccessKey}
	for _, ev := range all.Events {
		if seen[ev.EventId] {
			t.Fatalf("event %s listed twice across pages", ev.EventId)
		}
		seen[ev.EventId] = true
		for _, secret := range secrets {
			if strings.Contains(ev.CloudTrailEvent, secret) {
				t.Fatalf("a %s record holds a secret: %s", ev.EventName, ev.CloudTrailEvent)
			}
		}
	}

	// The delivered log files: CloudTrail's layout, {"Records":[…]}, each record once, every looked-up one there.
	name := regexp.MustCompile(`^AWSLogs/(\d{12})/CloudTrail/us-east-1/\d{4}/\d{2}/\d{2}/(\d{12})_CloudTrail_us-east-1_\d{8}T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		inFiles := map[string]bool{}
		dir := delivered()
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			m := name.FindStringSubmatch(filepath.ToSlash(rel))
			if m == nil || m[1] != m[2] {
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
			for _, secret := range secrets {
				if bytes.Contains(doc, []byte(secret)) {
					t.Fatalf("log file %s holds a secret", rel)
				}
			}
			for _, r := range logFile.Records {
				id := fmt.Sprint(r["recipientAccountId"], "/", r["eventID"])
				if inFiles[id] {
					t.Fatalf("event %s delivered twice", id)
				}
				inFiles[id] = true
				if r["eventVersion"] == nil || r["eventTime"] == nil || r["recipientAccountId"] != m[1] {
					t.Fatalf("%s holds %v", rel, r)
				}
			}
			return nil
		})
		missing := 0
		for id := range seen {
			if !inFiles["000000000000/"+id] {
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
