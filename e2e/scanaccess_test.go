package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScanningAccess: who may start scans, read findings and change the registry's scanning
// configuration, with the aws CLI as IAM users of the account and as another account. StartImageScan and
// DescribeImageScanFindings are repository actions (the repository's policy may grant them to another
// account); Get/PutRegistryScanningConfiguration are registry actions, which a policy allows on "*".
func TestScanningAccess(t *testing.T) {
	s := startServer(t, t.TempDir())
	admin := s.awsEnv()
	s.aws("ecr", "create-repository", "--repository-name", "scan/app")
	push := filepath.Join(t.TempDir(), "push.py")
	os.WriteFile(push, []byte(boto3Push), 0o644)
	for _, tag := range []string{"v1", "v2"} {
		if out, err := runEnv(t, admin, nil, tool(t, "python3"), push, tag); err != nil {
			t.Fatalf("push %s: %v\n%s", tag, err, out)
		}
	}
	s.aws("ecr", "start-image-scan", "--repository-name", "scan/app", "--image-id", "imageTag=v1")
	s.aws("ecr", "wait", "image-scan-complete", "--repository-name", "scan/app", "--image-id", "imageTag=v1")
	v1 := []string{"--repository-name", "scan/app", "--image-id", "imageTag=v1"}
	v2 := []string{"--repository-name", "scan/app", "--image-id", "imageTag=v2"}
	const repoARN = "arn:aws:ecr:us-east-1:000000000000:repository/scan/app"
	config := []string{"--scan-type", "BASIC", "--rules", `[{"scanFrequency":"SCAN_ON_PUSH","repositoryFilters":[{"filter":"scan/*","filterType":"WILDCARD"}]}]`}

	// denied runs a call that must be refused with AWS's message naming the action and the resource.
	denied := func(who *actor, action, resource, why string, args ...string) {
		t.Helper()
		out, err := who.aws(args...)
		want := "User: arn:aws:iam::000000000000:user/" + who.name + " is not authorized to perform: " + action + " on resource: " + resource + " because " + why
		if err == nil || !strings.Contains(out, "(AccessDeniedException)") || !strings.Contains(out, want) {
			t.Errorf("%s %s: want AccessDeniedException %q, got %v\n%s", who.name, strings.Join(args, " "), want, err, out)
		}
	}
	allowed := func(who *actor, args ...string) string {
		t.Helper()
		out, err := who.aws(args...)
		if err != nil {
			t.Errorf("%s %s: %v\n%s", who.name, strings.Join(args, " "), err, out)
		}
		return out
	}
	noPolicy := func(action string) string { return "no identity-based policy allows the " + action + " action" }

	// A user who may read findings only.
	reader := newUser(t, s, admin, "reader", `{"Effect":"Allow","Action":"ecr:DescribeImageScanFindings","Resource":"`+repoARN+`"}`)
	if out := allowed(reader, append([]string{"ecr", "describe-image-scan-findings", "--query", "imageScanStatus.status", "--output", "text"}, v1...)...); strings.TrimSpace(out) != "COMPLETE" {
		t.Errorf("reader's findings: %q", out)
	}
	denied(reader, "ecr:StartImageScan", repoARN, noPolicy("ecr:StartImageScan"), append([]string{"ecr", "start-image-scan"}, v2...)...)
	denied(reader, "ecr:GetRegistryScanningConfiguration", "*", noPolicy("ecr:GetRegistryScanningConfiguration"), "ecr", "get-registry-scanning-configuration")
	denied(reader, "ecr:PutRegistryScanningConfiguration", "*", noPolicy("ecr:PutRegistryScanningConfiguration"),
		append([]string{"ecr", "put-registry-scanning-configuration"}, config...)...)

	// A user who may scan the repositories under scan/ and read the registry's configuration, but not set
	// it: a repository ARN does not name the registry; once a policy allows it on "*", it may.
	scanner := newUser(t, s, admin, "scanner",
		`{"Effect":"Allow","Action":["ecr:StartImageScan","ecr:DescribeImageScanFindings"],"Resource":"arn:aws:ecr:us-east-1:000000000000:repository/scan/*"}`,
		`{"Effect":"Allow","Action":"ecr:PutRegistryScanningConfiguration","Resource":"arn:aws:ecr:us-east-1:000000000000:repository/*"}`,
		`{"Effect":"Allow","Action":"ecr:GetRegistryScanningConfiguration","Resource":"*"}`)
	if out := allowed(scanner, append([]string{"ecr", "start-image-scan", "--query", "imageScanStatus.status", "--output", "text"}, v2...)...); strings.TrimSpace(out) != "IN_PROGRESS" {
		t.Errorf("scanner's scan: %q", out)
	}
	allowed(scanner, append([]string{"ecr", "wait", "image-scan-complete"}, v2...)...)
	if out, err := scanner.aws(append([]string{"ecr", "start-image-scan"}, v1...)...); err == nil || !strings.Contains(out, "(LimitExceededException)") {
		t.Errorf("scanner scanning v1 again the same day: %v\n%s", err, out)
	}
	if out := allowed(scanner, "ecr", "get-registry-scanning-configuration", "--query", "scanningConfiguration.scanType", "--output", "text"); strings.TrimSpace(out) != "BASIC" {
		t.Errorf("scanner's get-registry-scanning-configuration: %q", out)
	}
	denied(scanner, "ecr:PutRegistryScanningConfiguration", "*", noPolicy("ecr:PutRegistryScanningConfiguration"),
		append([]string{"ecr", "put-registry-scanning-configuration"}, config...)...)
	s.aws("iam", "put-user-policy", "--endpoint-url", "http://"+s.addr, "--user-name", "scanner", "--policy-name", "registry", "--policy-document",
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:PutRegistryScanningConfiguration","Resource":"*"}}`)
	allowed(scanner, append([]string{"ecr", "put-registry-scanning-configuration"}, config...)...)
	if out := s.aws("ecr", "get-registry-scanning-configuration", "--query", "scanningConfiguration.rules[0].repositoryFilters[0].filter", "--output", "text"); strings.TrimSpace(out) != "scan/*" {
		t.Errorf("the registry's configuration: %q", out)
	}

	// Another account, whose administrator may do anything in its own account, reads findings of this
	// account's repository only once the repository's policy allows it, and never starts scans there.
	var key struct{ AccessKeyId, SecretAccessKey string }
	jsonOf(t, s.wharf("admin", "create-account", "--account-id", "444455556666"), &key)
	other := accountEnv(key.AccessKeyId, key.SecretAccessKey, "http://"+s.addr)
	asOther := func(args ...string) (string, error) { return runEnv(t, other, nil, tool(t, "aws"), args...) }
	crossDenied := func(action string, args ...string) {
		t.Helper()
		out, err := asOther(args...)
		if err == nil || !strings.Contains(out, "(AccessDeniedException)") ||
			!strings.Contains(out, "is not authorized to perform: "+action+" on resource: "+repoARN) {
			t.Errorf("the other account's %s: want AccessDeniedException, got %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	theirV1 := append([]string{"--registry-id", "000000000000"}, v1...)
	crossDenied("ecr:DescribeImageScanFindings", append([]string{"ecr", "describe-image-scan-findings"}, theirV1...)...)
	crossDenied("ecr:StartImageScan", append([]string{"ecr", "start-image-scan", "--registry-id", "000000000000"}, v2...)...)
	setPolicy(s, "scan/app", `{"Version":"2012-10-17","Statement":[{"Sid":"ReadFindings","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"ecr:DescribeImageScanFindings"}]}`)
	if out, err := asOther(append([]string{"ecr", "describe-image-scan-findings", "--query", "[registryId, imageScanStatus.status]", "--output", "text"}, theirV1...)...); err != nil ||
		strings.Join(strings.Fields(out), " ") != "000000000000 COMPLETE" {
		t.Errorf("the other account's findings after the grant: %v\n%s", err, out)
	}
	crossDenied("ecr:StartImageScan", append([]string{"ecr", "start-image-scan", "--registry-id", "000000000000"}, v2...)...)
	// The other account's registry scanning configuration is its own.
	if out, err := asOther("ecr", "get-registry-scanning-configuration", "--query", "[registryId, length(scanningConfiguration.rules)]", "--output", "text"); err != nil ||
		strings.Join(strings.Fields(out), " ") != "444455556666 0" {
		t.Errorf("the other account's registry scanning configuration: %v\n%s", err, out)
	}
}
