package e2e

import (
	"strings"
	"testing"
)

// TestIAMGroupAndRoleChangesWithAWSCLI: the group and role operations of the web console's IAM pages,
// with the real aws CLI: reading, deleting and detaching their policies, deleting them (refused while
// they have members or policies), changing a role's trust policy, description and session length; and
// that a policy taken from a group no longer grants its members anything.
func TestIAMGroupAndRoleChangesWithAWSCLI(t *testing.T) {
	s := startServer(t, t.TempDir())
	endpoint := "http://" + s.addr
	iam := func(args ...string) string {
		return s.aws(append(append([]string{"iam"}, args...), "--endpoint-url", endpoint)...)
	}
	iamFails := func(code, message string, args ...string) {
		t.Helper()
		out := s.awsFails(code, append(append([]string{"iam"}, args...), "--endpoint-url", endpoint)...)
		if !strings.Contains(out, ": "+message) {
			t.Fatalf("iam %s: want %q\n%s", strings.Join(args, " "), message, out)
		}
	}
	const (
		readOnly = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
		describe = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:DescribeRepositories","Resource":"*"}}`
	)
	s.aws("ecr", "create-repository", "--repository-name", "kept")
	dan := newUser(t, s, s.awsEnv(), "dan")
	erin := newUser(t, s, s.awsEnv(), "erin", `{"Effect":"Allow","Action":["iam:GetRolePolicy","iam:DeleteGroup"],"Resource":"arn:aws:iam::000000000000:role/ci"}`)
	describes := func() bool {
		t.Helper()
		out, err := dan.aws("ecr", "describe-repositories", "--query", "repositories[].repositoryName", "--output", "text")
		if err != nil && !strings.Contains(out, "User: arn:aws:iam::000000000000:user/dan is not authorized to perform: ecr:DescribeRepositories") {
			t.Fatalf("dan's describe-repositories: %v %s", err, out)
		}
		return err == nil && strings.TrimSpace(out) == "kept"
	}

	// A group's inline policy: read, then deleted, and it no longer grants.
	iam("create-group", "--group-name", "devs")
	iam("add-user-to-group", "--group-name", "devs", "--user-name", "dan")
	expect(t, "dan in devs without policies", describes(), false)
	iam("put-group-policy", "--group-name", "devs", "--policy-name", "read", "--policy-document", describe)
	expect(t, "dan with devs' inline policy", describes(), true)
	var gp struct {
		GroupName, PolicyName string
		PolicyDocument        struct{ Statement struct{ Action string } }
	}
	jsonOf(t, iam("get-group-policy", "--group-name", "devs", "--policy-name", "read"), &gp)
	if gp.GroupName != "devs" || gp.PolicyName != "read" || gp.PolicyDocument.Statement.Action != "ecr:DescribeRepositories" {
		t.Fatalf("get-group-policy: %+v", gp)
	}
	iamFails("NoSuchEntity", "The group policy with name nope cannot be found.", "get-group-policy", "--group-name", "devs", "--policy-name", "nope")
	iamFails("NoSuchEntity", "The group with name nobody cannot be found.", "get-group-policy", "--group-name", "nobody", "--policy-name", "read")
	iam("delete-group-policy", "--group-name", "devs", "--policy-name", "read")
	expect(t, "dan after delete-group-policy", describes(), false)
	iamFails("NoSuchEntity", "The group policy with name read cannot be found.", "delete-group-policy", "--group-name", "devs", "--policy-name", "read")

	// A managed policy attached to the group, then detached: the member's call is denied again.
	iam("attach-group-policy", "--group-name", "devs", "--policy-arn", readOnly)
	expect(t, "dan with devs' attached policy", describes(), true)
	iam("detach-group-policy", "--group-name", "devs", "--policy-arn", readOnly)
	expect(t, "dan after detach-group-policy", describes(), false)
	iamFails("NoSuchEntity", "Policy "+readOnly+" was not found.", "detach-group-policy", "--group-name", "devs", "--policy-arn", readOnly)
	iamFails("NoSuchEntity", "The group with name nobody cannot be found.", "detach-group-policy", "--group-name", "nobody", "--policy-arn", readOnly)

	// DeleteGroup is refused while the group has members, inline policies or attached policies.
	iam("put-group-policy", "--group-name", "devs", "--policy-name", "read", "--policy-document", describe)
	iam("attach-group-policy", "--group-name", "devs", "--policy-arn", readOnly)
	iamFails("DeleteConflict", "Cannot delete entity, must remove users from group first.", "delete-group", "--group-name", "devs")
	iam("remove-user-from-group", "--group-name", "devs", "--user-name", "dan")
	iamFails("DeleteConflict", "Cannot delete entity, must delete policies first.", "delete-group", "--group-name", "devs")
	iam("delete-group-policy", "--group-name", "devs", "--policy-name", "read")
	iamFails("DeleteConflict", "Cannot delete entity, must detach all policies first.", "delete-group", "--group-name", "devs")
	iam("detach-group-policy", "--group-name", "devs", "--policy-arn", readOnly)
	if out, err := erin.aws("iam", "delete-group", "--group-name", "devs", "--endpoint-url", endpoint); err == nil ||
		!strings.Contains(out, "User: arn:aws:iam::000000000000:user/erin is not authorized to perform: iam:DeleteGroup on resource: arn:aws:iam::000000000000:group/devs") {
		t.Fatalf("erin's delete-group of a group her policy does not name: %v %s", err, out)
	}
	iam("delete-group", "--group-name", "devs")
	iamFails("NoSuchEntity", "The group with name devs cannot be found.", "get-group", "--group-name", "devs")
	iamFails("NoSuchEntity", "The group with name devs cannot be found.", "delete-group", "--group-name", "devs")
	if got := strings.TrimSpace(iam("list-groups-for-user", "--user-name", "dan", "--query", "Groups", "--output", "text")); got != "" {
		t.Fatalf("dan's groups after delete-group: %q", got)
	}

	// A role's description, kept and changed.
	trust := func(user string) string {
		return `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/` + user + `"},"Action":"sts:AssumeRole"}}`
	}
	var created struct{ Role struct{ Description string } }
	jsonOf(t, iam("create-role", "--role-name", "ci", "--assume-role-policy-document", trust("dan"), "--description", "builds images"), &created)
	if created.Role.Description != "builds images" {
		t.Fatalf("create-role: %+v", created)
	}
	iam("create-role", "--role-name", "plain", "--assume-role-policy-document", trust("dan"))
	text := func(args ...string) string {
		return strings.Join(strings.Fields(iam(append(args, "--output", "text")...)), " ")
	}
	if got := text("get-role", "--role-name", "ci", "--query", "Role.[Description,MaxSessionDuration]"); got != "builds images 3600" {
		t.Fatalf("get-role: %q", got)
	}
	if got := text("list-roles", "--query", "Roles[].[RoleName,Description]"); got != "ci builds images plain None" {
		t.Fatalf("list-roles: %q", got)
	}
	iam("update-role", "--role-name", "ci", "--max-session-duration", "7200")
	if got := text("get-role", "--role-name", "ci", "--query", "Role.[Description,MaxSessionDuration]"); got != "builds images 7200" {
		t.Fatalf("get-role after update-role --max-session-duration: %q", got)
	}
	iam("update-role", "--role-name", "ci", "--description", "pushes images")
	if got := text("get-role", "--role-name", "ci", "--query", "Role.[Description,MaxSessionDuration]"); got != "pushes images 7200" {
		t.Fatalf("get-role after update-role --description: %q", got)
	}
	iamFails("NoSuchEntity", "The role with name nope cannot be found.", "update-role", "--role-name", "nope", "--description", "x")
	if got := text("update-role-description", "--role-name", "ci", "--description", "ships images", "--query", "Role.Description"); got != "ships images" {
		t.Fatalf("update-role-description: %q", got)
	}

	// The trust policy, replaced: dan may assume ci, then no longer.
	assume := func() (string, error) {
		return dan.aws("sts", "assume-role", "--role-arn", "arn:aws:iam::000000000000:role/ci", "--role-session-name", "build", "--endpoint-url", endpoint)
	}
	if out, err := assume(); err != nil {
		t.Fatalf("dan assumes ci: %v %s", err, out)
	}
	iamFails("MalformedPolicyDocument", "", "update-assume-role-policy", "--role-name", "ci", "--policy-document", `{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}`)
	iamFails("NoSuchEntity", "The role with name nope cannot be found.", "update-assume-role-policy", "--role-name", "nope", "--policy-document", trust("erin"))
	iam("update-assume-role-policy", "--role-name", "ci", "--policy-document", trust("erin"))
	if out, err := assume(); err == nil || !strings.Contains(out, "(AccessDenied)") {
		t.Fatalf("dan assumes ci after its trust policy names erin only: %v %s", err, out)
	}
	var role struct {
		Role struct {
			AssumeRolePolicyDocument struct {
				Statement struct{ Principal struct{ AWS string } }
			}
		}
	}
	jsonOf(t, iam("get-role", "--role-name", "ci"), &role)
	if p := role.Role.AssumeRolePolicyDocument.Statement.Principal.AWS; p != "arn:aws:iam::000000000000:user/erin" {
		t.Fatalf("get-role after update-assume-role-policy: principal %q", p)
	}

	// A role's policies: read, deleted, detached; DeleteRole refused while it has any.
	iam("put-role-policy", "--role-name", "ci", "--policy-name", "p", "--policy-document", describe)
	iam("attach-role-policy", "--role-name", "ci", "--policy-arn", readOnly)
	var rp struct {
		RoleName, PolicyName string
		PolicyDocument       struct{ Statement struct{ Action string } }
	}
	out, err := erin.aws("iam", "get-role-policy", "--role-name", "ci", "--policy-name", "p", "--endpoint-url", endpoint)
	if err != nil {
		t.Fatalf("erin's get-role-policy: %v %s", err, out)
	}
	jsonOf(t, out, &rp)
	if rp.RoleName != "ci" || rp.PolicyName != "p" || rp.PolicyDocument.Statement.Action != "ecr:DescribeRepositories" {
		t.Fatalf("get-role-policy: %+v", rp)
	}
	if out, err := erin.aws("iam", "get-role-policy", "--role-name", "plain", "--policy-name", "p", "--endpoint-url", endpoint); err == nil ||
		!strings.Contains(out, "is not authorized to perform: iam:GetRolePolicy on resource: arn:aws:iam::000000000000:role/plain") {
		t.Fatalf("erin's get-role-policy of a role her policy does not name: %v %s", err, out)
	}
	iamFails("NoSuchEntity", "The role policy with name nope cannot be found.", "get-role-policy", "--role-name", "ci", "--policy-name", "nope")
	iamFails("NoSuchEntity", "The role with name nope cannot be found.", "get-role-policy", "--role-name", "nope", "--policy-name", "p")
	iamFails("DeleteConflict", "Cannot delete entity, must delete policies first.", "delete-role", "--role-name", "ci")
	iam("delete-role-policy", "--role-name", "ci", "--policy-name", "p")
	iamFails("NoSuchEntity", "The role policy with name p cannot be found.", "delete-role-policy", "--role-name", "ci", "--policy-name", "p")
	iamFails("DeleteConflict", "Cannot delete entity, must detach all policies first.", "delete-role", "--role-name", "ci")
	iam("detach-role-policy", "--role-name", "ci", "--policy-arn", readOnly)
	iamFails("NoSuchEntity", "Policy "+readOnly+" was not found.", "detach-role-policy", "--role-name", "ci", "--policy-arn", readOnly)
	iamFails("NoSuchEntity", "The role with name nope cannot be found.", "detach-role-policy", "--role-name", "nope", "--policy-arn", readOnly)
	iam("delete-role", "--role-name", "ci")
	iamFails("NoSuchEntity", "The role with name ci cannot be found.", "get-role", "--role-name", "ci")
	iamFails("NoSuchEntity", "The role with name ci cannot be found.", "delete-role", "--role-name", "ci")
	if got := text("list-roles", "--query", "Roles[].RoleName"); got != "plain" {
		t.Fatalf("list-roles after delete-role: %q", got)
	}
}
