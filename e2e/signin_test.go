package e2e

import (
	"strings"
	"testing"
)

// TestConsolePasswordsWithAWSCLI: login profiles, the account's password policy and alias, and the IAM
// listings the console reads, through the real aws CLI.
func TestConsolePasswordsWithAWSCLI(t *testing.T) {
	s := startServer(t, t.TempDir())
	endpoint := "http://" + s.addr
	iam := func(args ...string) string {
		return s.aws(append(append([]string{"iam"}, args...), "--endpoint-url", endpoint)...)
	}
	iamFails := func(code string, args ...string) string {
		return s.awsFails(code, append(append([]string{"iam"}, args...), "--endpoint-url", endpoint)...)
	}
	carol := newUser(t, s, s.awsEnv(), "carol",
		`{"Effect":"Allow","Action":"iam:ChangePassword","Resource":"arn:aws:iam::000000000000:user/${aws:username}"}`)
	carolChanges := func(old, new string) (string, error) {
		return carol.aws("iam", "change-password", "--old-password", old, "--new-password", new, "--endpoint-url", endpoint)
	}

	// Without a policy of its own the account has AWS's default one.
	iamFails("NoSuchEntity", "get-account-password-policy")
	if out := iamFails("PasswordPolicyViolation", "create-login-profile", "--user-name", "carol", "--password", "alllowercase1"); !strings.Contains(out, "at least three of") {
		t.Fatalf("default policy: %s", out)
	}
	var lp struct {
		LoginProfile struct {
			UserName, CreateDate  string
			PasswordResetRequired bool
		}
	}
	jsonOf(t, iam("create-login-profile", "--user-name", "carol", "--password", "Start-Pass-1", "--password-reset-required"), &lp)
	if lp.LoginProfile.UserName != "carol" || !lp.LoginProfile.PasswordResetRequired || lp.LoginProfile.CreateDate == "" {
		t.Fatalf("create-login-profile: %+v", lp)
	}
	iamFails("EntityAlreadyExists", "create-login-profile", "--user-name", "carol", "--password", "Start-Pass-1")
	jsonOf(t, iam("get-login-profile", "--user-name", "carol"), &lp)
	if lp.LoginProfile.UserName != "carol" || !lp.LoginProfile.PasswordResetRequired {
		t.Fatalf("get-login-profile: %+v", lp)
	}
	if out := iamFails("NoSuchEntity", "get-login-profile", "--user-name", "admin"); !strings.Contains(out, "Login Profile for User admin cannot be found.") {
		t.Fatalf("get-login-profile of admin: %s", out)
	}
	iamFails("NoSuchEntity", "create-login-profile", "--user-name", "nobody", "--password", "Start-Pass-1")

	// The account's policy.
	iam("update-account-password-policy", "--minimum-password-length", "12", "--require-symbols", "--require-numbers",
		"--max-password-age", "90", "--password-reuse-prevention", "3")
	var pol struct {
		PasswordPolicy struct {
			MinimumPasswordLength, MaxPasswordAge, PasswordReusePrevention                                          int
			RequireSymbols, RequireNumbers, RequireUppercaseCharacters, ExpirePasswords, AllowUsersToChangePassword bool
		}
	}
	jsonOf(t, iam("get-account-password-policy"), &pol)
	if p := pol.PasswordPolicy; p.MinimumPasswordLength != 12 || p.MaxPasswordAge != 90 || p.PasswordReusePrevention != 3 ||
		!p.RequireSymbols || !p.RequireNumbers || p.RequireUppercaseCharacters || !p.ExpirePasswords || p.AllowUsersToChangePassword {
		t.Fatalf("get-account-password-policy: %+v", p)
	}
	out := iamFails("PasswordPolicyViolation", "update-login-profile", "--user-name", "carol", "--password", "short")
	for _, want := range []string{"minimum length of 12", "at least one symbol", "at least one number"} {
		if !strings.Contains(out, want) {
			t.Errorf("update-login-profile with a weak password does not say %q: %s", want, out)
		}
	}

	// carol changes her own password: the old one must be right, the new one must suit the policy and
	// not be one of her last three.
	if out, err := carolChanges("Wrong-Pass-1", "Carols-new-pass-2!"); err == nil || !strings.Contains(out, "(AccessDenied)") {
		t.Fatalf("a wrong old password: %v %s", err, out)
	}
	if out, err := carolChanges("Start-Pass-1", "weak"); err == nil || !strings.Contains(out, "(PasswordPolicyViolation)") {
		t.Fatalf("a weak new password: %v %s", err, out)
	}
	if out, err := carolChanges("Start-Pass-1", "Carols-new-pass-2!"); err != nil {
		t.Fatalf("change-password: %v %s", err, out)
	}
	if out, err := carolChanges("Carols-new-pass-2!", "Start-Pass-1"); err == nil || !strings.Contains(out, "3 previous passwords") {
		t.Fatalf("reusing a password: %v %s", err, out)
	}
	jsonOf(t, iam("get-login-profile", "--user-name", "carol"), &lp)
	if lp.LoginProfile.PasswordResetRequired {
		t.Fatalf("the reset is still required after the change: %+v", lp)
	}
	if out := iamFails("NoSuchEntity", "change-password", "--old-password", "a", "--new-password", "b"); !strings.Contains(out, "Login Profile for User admin cannot be found.") {
		t.Fatalf("change-password of a user without a password: %s", out)
	}
	iam("update-login-profile", "--user-name", "carol", "--no-password-reset-required")

	// The audit trail records the calls, never the passwords.
	for _, name := range []string{"CreateLoginProfile", "ChangePassword", "UpdateLoginProfile"} {
		for _, e := range lookup(t, s.awsEnv(), endpoint, "EventName", name) {
			for _, secret := range []string{"Start-Pass-1", "Carols-new-pass-2!", "Wrong-Pass-1", "short", "alllowercase1"} {
				if strings.Contains(e.CloudTrailEvent, secret) {
					t.Errorf("the %s record shows a password: %s", name, e.CloudTrailEvent)
				}
			}
		}
	}

	// The account's alias.
	iam("create-account-alias", "--account-alias", "acme-corp")
	iamFails("ValidationError", "create-account-alias", "--account-alias", "Not--Valid")
	var aliases struct{ AccountAliases []string }
	jsonOf(t, iam("list-account-aliases"), &aliases)
	if len(aliases.AccountAliases) != 1 || aliases.AccountAliases[0] != "acme-corp" {
		t.Fatalf("list-account-aliases: %+v", aliases)
	}
	iam("delete-account-alias", "--account-alias", "acme-corp")
	iamFails("NoSuchEntity", "delete-account-alias", "--account-alias", "acme-corp")
	jsonOf(t, iam("list-account-aliases"), &aliases)
	if len(aliases.AccountAliases) != 0 {
		t.Fatalf("list-account-aliases after delete: %+v", aliases)
	}

	// A user with a console password is not deleted until the password is.
	if out := iamFails("DeleteConflict", "delete-user", "--user-name", "carol"); !strings.Contains(out, "must delete login profile first") {
		t.Fatalf("delete-user: %s", out)
	}
	iam("delete-login-profile", "--user-name", "carol")
	iamFails("NoSuchEntity", "delete-login-profile", "--user-name", "carol")
	iam("delete-account-password-policy")
	iamFails("NoSuchEntity", "get-account-password-policy")
}

// TestIAMListingsWithAWSCLI: the IAM listings a console reads — groups and their members, roles, and the
// policies of groups and roles — through the real aws CLI.
func TestIAMListingsWithAWSCLI(t *testing.T) {
	s := startServer(t, t.TempDir())
	endpoint := "http://" + s.addr
	iam := func(args ...string) string {
		return s.aws(append(append([]string{"iam"}, args...), "--endpoint-url", endpoint)...)
	}
	iamFails := func(code string, args ...string) string {
		return s.awsFails(code, append(append([]string{"iam"}, args...), "--endpoint-url", endpoint)...)
	}
	for _, u := range []string{"dan", "erin"} {
		iam("create-user", "--user-name", u)
	}
	for _, g := range []string{"ops", "devs", "auditors"} {
		iam("create-group", "--group-name", g)
	}
	iam("add-user-to-group", "--group-name", "devs", "--user-name", "erin")
	iam("add-user-to-group", "--group-name", "devs", "--user-name", "dan")
	iam("add-user-to-group", "--group-name", "ops", "--user-name", "dan")
	iam("attach-group-policy", "--group-name", "devs", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")
	iam("put-group-policy", "--group-name", "devs", "--policy-name", "extra", "--policy-document",
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:ListImages","Resource":"*"}}`)
	trust := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/dan"},"Action":"sts:AssumeRole"}}`
	iam("create-role", "--role-name", "deployer", "--assume-role-policy-document", trust, "--max-session-duration", "7200")
	iam("create-role", "--role-name", "builder", "--assume-role-policy-document", trust)
	iam("attach-role-policy", "--role-name", "deployer", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser")
	iam("put-role-policy", "--role-name", "deployer", "--policy-name", "tags", "--policy-document",
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:TagResource","Resource":"*"}}`)

	text := func(args ...string) string {
		return strings.Join(strings.Fields(iam(append(args, "--output", "text")...)), " ")
	}
	if got := text("list-groups", "--query", "Groups[].GroupName"); got != "auditors devs ops" {
		t.Fatalf("list-groups: %q", got)
	}
	// The aws CLI pages through MaxItems-sized pages with the markers.
	if got := text("list-groups", "--page-size", "1", "--query", "Groups[].GroupName"); got != "auditors devs ops" {
		t.Fatalf("list-groups in pages of one: %q", got)
	}
	var one struct {
		Groups    []struct{ GroupName string }
		NextToken string
	}
	jsonOf(t, iam("list-groups", "--max-items", "1"), &one)
	if len(one.Groups) != 1 || one.Groups[0].GroupName != "auditors" || one.NextToken == "" {
		t.Fatalf("list-groups --max-items 1: %+v", one)
	}
	iamFails("ValidationError", "list-groups", "--page-size", "1001")
	var group struct {
		Group struct{ GroupName, Arn string }
		Users []struct{ UserName string }
	}
	jsonOf(t, iam("get-group", "--group-name", "devs"), &group)
	if group.Group.Arn != "arn:aws:iam::000000000000:group/devs" || len(group.Users) != 2 || group.Users[0].UserName != "dan" || group.Users[1].UserName != "erin" {
		t.Fatalf("get-group: %+v", group)
	}
	iamFails("NoSuchEntity", "get-group", "--group-name", "nope")
	if got := text("list-groups-for-user", "--user-name", "dan", "--query", "Groups[].GroupName"); got != "devs ops" {
		t.Fatalf("list-groups-for-user: %q", got)
	}
	iamFails("NoSuchEntity", "list-groups-for-user", "--user-name", "nobody")
	if got := text("list-roles", "--query", "Roles[].[RoleName,MaxSessionDuration]"); got != "builder 3600 deployer 7200" {
		t.Fatalf("list-roles: %q", got)
	}
	var role struct {
		Role struct {
			RoleName, Arn            string
			AssumeRolePolicyDocument map[string]any
		}
	}
	jsonOf(t, iam("get-role", "--role-name", "deployer"), &role)
	if role.Role.Arn != "arn:aws:iam::000000000000:role/deployer" || role.Role.AssumeRolePolicyDocument["Statement"] == nil {
		t.Fatalf("get-role: %+v", role)
	}
	iamFails("NoSuchEntity", "get-role", "--role-name", "nope")
	if got := text("list-attached-group-policies", "--group-name", "devs", "--query", "AttachedPolicies[].PolicyName"); got != "AmazonEC2ContainerRegistryReadOnly" {
		t.Fatalf("list-attached-group-policies: %q", got)
	}
	if got := text("list-group-policies", "--group-name", "devs", "--query", "PolicyNames"); got != "extra" {
		t.Fatalf("list-group-policies: %q", got)
	}
	if got := text("list-attached-role-policies", "--role-name", "deployer", "--query", "AttachedPolicies[].PolicyArn"); got != "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser" {
		t.Fatalf("list-attached-role-policies: %q", got)
	}
	if got := text("list-role-policies", "--role-name", "deployer", "--query", "PolicyNames"); got != "tags" {
		t.Fatalf("list-role-policies: %q", got)
	}
	iamFails("NoSuchEntity", "list-role-policies", "--role-name", "nope")
	if got := text("list-policies", "--scope", "AWS", "--query", "Policies[].PolicyName"); got !=
		"AdministratorAccess AmazonEC2ContainerRegistryFullAccess AmazonEC2ContainerRegistryPowerUser AmazonEC2ContainerRegistryPullOnly AmazonEC2ContainerRegistryReadOnly" {
		t.Fatalf("list-policies: %q", got)
	}
	// Attached: admin's AdministratorAccess, devs' ReadOnly, deployer's PowerUser.
	if got := text("list-policies", "--only-attached", "--query", "Policies[].[PolicyName,AttachmentCount]"); got !=
		"AdministratorAccess 1 AmazonEC2ContainerRegistryPowerUser 1 AmazonEC2ContainerRegistryReadOnly 1" {
		t.Fatalf("list-policies --only-attached: %q", got)
	}
	if got := text("list-policies", "--scope", "Local", "--query", "Policies"); got != "" {
		t.Fatalf("list-policies --scope Local: %q", got)
	}
}

// TestAdminConsolePasswords: `wharf admin` gives users console passwords, generated or read from stdin,
// and names the account.
func TestAdminConsolePasswords(t *testing.T) {
	s := startServer(t, t.TempDir())
	endpoint := "http://" + s.addr
	frank := newUser(t, s, s.awsEnv(), "frank",
		`{"Effect":"Allow","Action":"iam:ChangePassword","Resource":"arn:aws:iam::000000000000:user/${aws:username}"}`)
	var gen struct {
		UserName, Password    string
		PasswordResetRequired bool
	}
	jsonOf(t, s.wharf("admin", "create-login-profile", "--account-id", "000000000000", "--password-reset-required", "frank"), &gen)
	if gen.UserName != "frank" || len(gen.Password) < 20 || !gen.PasswordResetRequired {
		t.Fatalf("create-login-profile: %+v", gen)
	}
	var lp struct {
		LoginProfile struct{ PasswordResetRequired bool }
	}
	jsonOf(t, s.aws("iam", "get-login-profile", "--user-name", "frank", "--endpoint-url", endpoint), &lp)
	if !lp.LoginProfile.PasswordResetRequired {
		t.Fatalf("get-login-profile: %+v", lp)
	}
	// The generated password is frank's: he changes it with it.
	if out, err := frank.aws("iam", "change-password", "--old-password", gen.Password, "--new-password", "Franks-own-1", "--endpoint-url", endpoint); err != nil {
		t.Fatalf("change-password with the generated password: %v %s", err, out)
	}
	s.wharf("admin", "delete-login-profile", "--account-id", "000000000000", "frank")
	s.awsFails("NoSuchEntity", "iam", "get-login-profile", "--user-name", "frank", "--endpoint-url", endpoint)

	stdin := func(password string) (string, error) {
		args := append([]string{"admin", "create-login-profile", "--account-id", "000000000000", "--password-stdin", "frank", "--data-dir", s.dir}, s.storageArgs()...)
		return runEnv(t, s.env, strings.NewReader(password), wharfBin, args...)
	}
	if out, err := stdin("weak\n"); err == nil || !strings.Contains(out, "Password should have a minimum length of 8") {
		t.Fatalf("a weak password from stdin: %v %s", err, out)
	}
	if out, err := stdin("Given-Pass-1\n"); err != nil || strings.Contains(out, "Given-Pass-1") {
		t.Fatalf("a password from stdin: %v %s", err, out)
	}
	if out, err := frank.aws("iam", "change-password", "--old-password", "Given-Pass-1", "--new-password", "Franks-own-2", "--endpoint-url", endpoint); err != nil {
		t.Fatalf("change-password with the password from stdin: %v %s", err, out)
	}
	// An administrator sets a new, generated password and asks for a change; get-login-profile tells.
	var upd struct {
		UserName, Password    string
		PasswordResetRequired bool
	}
	jsonOf(t, s.wharf("admin", "update-login-profile", "--account-id", "000000000000", "--password-reset-required", "frank"), &upd)
	if upd.UserName != "frank" || len(upd.Password) < 20 || !upd.PasswordResetRequired {
		t.Fatalf("update-login-profile: %+v", upd)
	}
	var got struct {
		UserName, CreateDate  string
		PasswordResetRequired bool
	}
	jsonOf(t, s.wharf("admin", "get-login-profile", "--account-id", "000000000000", "frank"), &got)
	if got.UserName != "frank" || !got.PasswordResetRequired || got.CreateDate == "" {
		t.Fatalf("get-login-profile: %+v", got)
	}
	if out, err := frank.aws("iam", "change-password", "--old-password", "Franks-own-2", "--new-password", "Franks-own-3", "--endpoint-url", endpoint); err == nil {
		t.Fatalf("the replaced password still works: %s", out)
	}
	if out, err := frank.aws("iam", "change-password", "--old-password", upd.Password, "--new-password", "Franks-own-3", "--endpoint-url", endpoint); err != nil {
		t.Fatalf("change-password with the updated password: %v %s", err, out)
	}
	s.wharf("admin", "update-login-profile", "--account-id", "000000000000", "--keep-password", "--password-reset-required", "frank")
	jsonOf(t, s.wharf("admin", "get-login-profile", "--account-id", "000000000000", "frank"), &got)
	if !got.PasswordResetRequired {
		t.Fatalf("--keep-password --password-reset-required: %+v", got)
	}
	if out, err := frank.aws("iam", "change-password", "--old-password", "Franks-own-3", "--new-password", "Franks-own-4", "--endpoint-url", endpoint); err != nil {
		t.Fatalf("--keep-password changed the password: %v %s", err, out)
	}

	s.wharf("admin", "create-account-alias", "--account-id", "000000000000", "wharf-e2e")
	var aliases struct{ AccountAliases []string }
	jsonOf(t, s.aws("iam", "list-account-aliases", "--endpoint-url", endpoint), &aliases)
	if len(aliases.AccountAliases) != 1 || aliases.AccountAliases[0] != "wharf-e2e" {
		t.Fatalf("list-account-aliases: %+v", aliases)
	}
}
