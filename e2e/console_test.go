package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// consoleUser is an IAM user of the console test: a password to sign in with, and an access key for the
// aws CLI.
type consoleUser struct {
	name, password string
	env            []string
}

// newConsoleUser creates an IAM user with a console password (aws iam create-login-profile), an access
// key and the managed policies given.
func newConsoleUser(t *testing.T, s *wharfProc, name, password string, policies ...string) consoleUser {
	t.Helper()
	endpoint := []string{"--endpoint-url", "http://" + s.addr}
	s.aws(append([]string{"iam", "create-user", "--user-name", name}, endpoint...)...)
	s.aws(append([]string{"iam", "create-login-profile", "--user-name", name, "--password", password, "--no-password-reset-required"}, endpoint...)...)
	for _, p := range policies {
		s.aws(append([]string{"iam", "attach-user-policy", "--user-name", name, "--policy-arn", p}, endpoint...)...)
	}
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	jsonOf(t, s.aws(append([]string{"iam", "create-access-key", "--user-name", name}, endpoint...)...), &key)
	return consoleUser{name: name, password: password, env: accountEnv(key.AccessKey.AccessKeyId, key.AccessKey.SecretAccessKey, "http://"+s.addr)}
}

// signIn signs in on the console's sign-in page.
func (b *browser) signIn(t *testing.T, user, password string) {
	t.Helper()
	b.waitText(t, "Sign in as IAM user")
	b.fill(t, "Account ID", "000000000000")
	b.fill(t, "IAM user name", user)
	b.fill(t, "Password", password)
	b.click(t, "Sign in")
}

// TestConsole drives the web console in a headless Chromium against wharf serve, with the state checked
// through the aws CLI: sign in with a login profile, create a repository with the form, see an image
// pushed with crane, its push commands, a lifecycle rule previewed and applied, a repository policy
// statement added, scan findings, a pull through cache rule, a repository creation template and a
// replication rule added with their forms (and an image's replication status); signing out ends the
// session; a read-only user is refused in the aws CLI's words; a wrong password is refused and audited;
// the console's calls are audited as wharf-console.
// Every page visited passes an accessibility check, and the main pages are saved as screenshots
// (WHARF_SCREENSHOTS; `WHARF_SCREENSHOTS=docs/console WHARF_E2E=1 go test ./e2e -run TestConsole`
// refreshes the README's).
func TestConsole(t *testing.T) {
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir())
	base := "http://" + s.addr
	const (
		ecrFull     = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess"
		ecrReadOnly = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
	)
	dana := newConsoleUser(t, s, "dana", "Dana-console-pw-1", ecrFull)
	s.aws("iam", "put-user-policy", "--endpoint-url", base, "--user-name", "dana", "--policy-name", "console", "--policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudtrail:LookupEvents","iam:Get*","iam:List*"],"Resource":"*"}]}`)
	viewer := newConsoleUser(t, s, "viewer", "Viewer-console-pw-1", ecrReadOnly)

	// A scanned image with findings, set up with the CLI: the Alpine fixture of TestScanAlpineImage.
	work := t.TempDir()
	advisories := filepath.Join(work, "alpine")
	os.MkdirAll(advisories, 0o755)
	os.WriteFile(filepath.Join(advisories, "ALPINE-CVE-2099-40001.json"), []byte(alpineAdvisory("ALPINE-CVE-2099-40001", "openssl", cvssCritical,
		map[string]string{"Alpine:v3.19": "3.1.4-r5"})), 0o644)
	s.wharf("scan-db", "import", advisories)
	s.aws("ecr", "create-repository", "--repository-name", "scan/alpine")
	s.login()
	run(t, crane, "append", "--insecure", "-t", s.addr+"/scan/alpine:3.19", "-f", writeLayer(t, work, "alpine319", map[string][]byte{
		"etc/os-release":       []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.0\nPRETTY_NAME=\"Alpine Linux v3.19\"\n"),
		"lib/apk/db/installed": apkInstalled("3.1.4-r1", "1.36.1-r15"),
	}))
	scanned := strings.TrimSpace(run(t, crane, "digest", "--insecure", s.addr+"/scan/alpine:3.19"))
	s.aws("ecr", "start-image-scan", "--repository-name", "scan/alpine", "--image-id", "imageTag=3.19")
	s.aws("ecr", "wait", "image-scan-complete", "--repository-name", "scan/alpine", "--image-id", "imageTag=3.19")

	started := time.Now()
	b := newBrowser(t, base)
	t.Logf("screenshots in %s", b.shots)
	var v1, v2 string

	t.Run("the accessibility check finds what it looks for", func(t *testing.T) {
		b.navigate(t, "data:text/html,<h1>one</h1><h1>two</h1><input id=x><button></button><img src=y><label>Name <input></label>")
		got := eval[[]string](t, b, a11yCheck)
		if len(got) != 4 || !strings.Contains(strings.Join(got, "\n"), "2 h1 elements") {
			t.Fatalf("violations found: %q", got)
		}
	})

	t.Run("sign in", func(t *testing.T) {
		b.navigate(t, base+"/console/")
		b.waitText(t, "Sign in as IAM user")
		if h := b.hash(t); !strings.HasPrefix(h, "#/signin") {
			t.Fatalf("a visitor is at %s, not the sign-in page", h)
		}
		b.a11y(t)
		b.shot(t, "signin")
		b.signIn(t, dana.name, dana.password)
		b.waitText(t, "Private repositories", "scan/alpine")
		if who := eval[string](t, b, `norm(document.getElementById('who').innerText)`); !strings.Contains(who, "dana @ 000000000000") {
			t.Fatalf("signed in as %q", who)
		}
		b.a11y(t)
	})

	t.Run("create a repository", func(t *testing.T) {
		b.open(t, "/repositories")
		b.click(t, "Create repository")
		b.waitText(t, "Create repository", "Repository name")
		b.a11y(t)
		b.fill(t, "Repository name", "web/app")
		b.check(t, "Scan on push", false)
		b.fill(t, "Resource tags", "team=web")
		b.click(t, "Create")
		b.waitFor(t, "the new repository's page", `location.hash === '#/repository/images/web/app'`)
		var got struct{ Repositories []map[string]any }
		jsonOf(t, s.aws("ecr", "describe-repositories", "--repository-names", "web/app"), &got)
		if len(got.Repositories) != 1 || got.Repositories[0]["imageTagMutability"] != "MUTABLE" {
			t.Fatalf("describe-repositories: %+v", got)
		}
		if tags := s.aws("ecr", "list-tags-for-resource", "--resource-arn", got.Repositories[0]["repositoryArn"].(string), "--query", "tags[0].[Key,Value]", "--output", "text"); strings.Join(strings.Fields(tags), "=") != "team=web" {
			t.Fatalf("the repository's tags: %s", tags)
		}
	})

	// Two images pushed with crane, v1 before v2.
	ref := s.addr + "/web/app"
	run(t, crane, "append", "--insecure", "-f", writeTar(t, work, "one", []byte("one\n")), "-t", ref+":v1")
	time.Sleep(1100 * time.Millisecond) // ECR's push times are in seconds: v1 is older
	run(t, crane, "append", "--insecure", "-f", writeTar(t, work, "two", []byte("two\n")), "-t", ref+":v2")
	v1 = strings.TrimSpace(run(t, crane, "digest", "--insecure", ref+":v1"))
	v2 = strings.TrimSpace(run(t, crane, "digest", "--insecure", ref+":v2"))

	t.Run("repositories list", func(t *testing.T) {
		b.open(t, "/repositories")
		b.waitText(t, "web/app", s.addr+"/web/app", "scan/alpine")
		b.a11y(t)
		b.shot(t, "repositories")
		b.typeInto(t, "Search", "alpine")
		b.waitFor(t, "only scan/alpine listed", `(() => { const names = [...document.querySelectorAll('main tbody tr td:first-child')].map(td => norm(td.textContent));
			return names.length === 1 && names[0] === 'scan/alpine'; })()`)
		b.viewport(t, 390, 844)
		eval[chromedp.Void](t, b, `void location.reload()`)
		b.waitText(t, "Private repositories", "web/app")
		b.a11y(t)
		b.shot(t, "repositories-narrow")
		b.viewport(t, 1280, 860)
		eval[chromedp.Void](t, b, `void location.reload()`)
		b.waitText(t, "Private repositories", "web/app")
	})

	t.Run("images of a repository", func(t *testing.T) {
		b.page(t, "/repository/images/web/app")
		b.waitText(t, "v1", "v2", shortHex(v2))
		for _, tab := range []string{"Images", "Tags", "Permissions", "Lifecycle", "Settings"} {
			b.waitFor(t, "the "+tab+" tab", `find('nav.tabs a', `+q(tab)+`)`)
		}
		b.a11y(t)
		b.shot(t, "repository-images")

		b.click(t, "View push commands")
		b.waitText(t, s.addr+"/web/app", "get-login-password")
		b.a11y(t)
		b.click(t, "Close")
		b.waitFor(t, "the dialog to close", `!document.querySelector('dialog[open]')`)
	})

	t.Run("image page", func(t *testing.T) {
		b.page(t, "/repository/images/web/app")
		b.waitText(t, "v2")
		b.waitFor(t, "a link to the image", `document.querySelector('main a[href^="#/image/"]')`)
		eval[chromedp.Void](t, b, `void [...document.querySelectorAll('main a[href^="#/image/'+`+q(v2)+`+'/"]')][0].click()`)
		b.waitFor(t, "the image's page", `location.hash.startsWith('#/image/'+`+q(v2)+`)`)
		b.settled(t)
		b.waitText(t, v2, "v2")
		b.a11y(t)
		// The image's config, which the page downloads through GetDownloadUrlForLayer's URL.
		b.waitText(t, "Config")
		b.waitText(t, "Config JSON") // shown once the config is downloaded
		if cfg := eval[string](t, b, `[...document.querySelectorAll('main details')].find(d => norm(d.querySelector('summary').textContent) === 'Config JSON').textContent`); !strings.Contains(cfg, `"rootfs"`) {
			t.Fatalf("the image's config: %s", cfg)
		}
		if err := eval[string](t, b, `norm([...document.querySelectorAll('main [role=alert]')].map(e => e.innerText).join(' '))`); err != "" {
			t.Fatalf("the image page shows an error: %s", err)
		}
	})

	t.Run("lifecycle preview and apply", func(t *testing.T) {
		b.tab(t, "lifecycle", "web/app")
		b.a11y(t)
		b.fillLifecycleRule(t)
		b.click(t, "Save and test rules")
		b.waitText(t, "would expire", shortHex(v1))
		if preview := b.mainText(t); strings.Contains(preview, shortHex(v2)) {
			t.Fatalf("the preview shows v2 expiring too:\n%s", preview)
		}
		b.a11y(t)
		b.shotAt(t, "lifecycle-preview", "Image matches for test lifecycle rules")
		b.click(t, "Apply as lifecycle policy")
		b.confirmIfAsked(t)
		var policy struct{ LifecyclePolicyText string }
		for deadline := time.Now().Add(stepTimeout); ; time.Sleep(200 * time.Millisecond) {
			out, err := runEnv(t, s.awsEnv(), nil, tool(t, "aws"), "ecr", "get-lifecycle-policy", "--repository-name", "web/app")
			if err == nil {
				jsonOf(t, out, &policy)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no lifecycle policy applied: %s\nthe page:\n%s", out, b.mainText(t))
			}
		}
		b.waitText(t, "Applied")
		var doc struct {
			Rules []struct {
				Selection struct {
					TagStatus, CountType string
					CountNumber          int
				}
				Action struct{ Type string }
			}
		}
		jsonOf(t, policy.LifecyclePolicyText, &doc)
		if len(doc.Rules) != 1 || doc.Rules[0].Selection.CountType != "imageCountMoreThan" || doc.Rules[0].Selection.CountNumber != 1 ||
			doc.Rules[0].Action.Type != "expire" {
			t.Fatalf("the applied policy: %s", policy.LifecyclePolicyText)
		}
	})

	t.Run("permissions statement", func(t *testing.T) {
		b.tab(t, "permissions", "web/app")
		b.a11y(t)
		b.addPolicyStatement(t)
		var policy struct{ PolicyText string }
		for deadline := time.Now().Add(stepTimeout); ; time.Sleep(200 * time.Millisecond) {
			out, err := runEnv(t, s.awsEnv(), nil, tool(t, "aws"), "ecr", "get-repository-policy", "--repository-name", "web/app")
			if err == nil {
				jsonOf(t, out, &policy)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no repository policy saved: %s\nthe page:\n%s", out, b.mainText(t))
			}
		}
		if !strings.Contains(policy.PolicyText, `"Sid" : "ViewerPull"`) && !strings.Contains(policy.PolicyText, `"Sid":"ViewerPull"`) ||
			!strings.Contains(policy.PolicyText, "ecr:BatchGetImage") || !strings.Contains(policy.PolicyText, "arn:aws:iam::000000000000:user/viewer") {
			t.Fatalf("the saved policy: %s", policy.PolicyText)
		}
		b.waitText(t, "ViewerPull")
		b.shot(t, "permissions")
	})

	t.Run("scan findings", func(t *testing.T) {
		b.page(t, "/image/"+scanned+"/scan/alpine")
		b.waitText(t, "CVE-2099-40001", "CRITICAL", "libcrypto3")
		b.a11y(t)
		b.shotAt(t, "image-findings", "Vulnerabilities")
	})

	t.Run("event history", func(t *testing.T) {
		b.page(t, "/events?attr=Username&value=dana")
		b.waitText(t, "Event history", "CreateRepository", "PutLifecyclePolicy", "SetRepositoryPolicy")
		b.a11y(t)
		b.shot(t, "events")
	})

	for range 3 { // pulls for the usage page
		run(t, crane, "manifest", "--insecure", ref+":v2")
	}
	t.Run("usage", func(t *testing.T) {
		b.page(t, "/usage")
		b.waitText(t, "web/app", "scan/alpine", "Pulls per day", "data transfer")
		b.a11y(t)
		b.shot(t, "usage")
	})

	t.Run("pull through cache rule", func(t *testing.T) {
		b.page(t, "/registry/pull-through-cache")
		b.waitText(t, "No pull through cache rules.")
		b.click(t, "Add rule")
		b.fill(t, "Cache repository prefix", "ecr-public")
		b.fill(t, "Upstream registry", "ECR Public (public.ecr.aws)")
		b.a11y(t)
		b.click(t, "Create rule")
		b.waitFor(t, "the rule listed", `find('button', 'Validate ecr-public')`)
		var got struct {
			PullThroughCacheRules []struct{ EcrRepositoryPrefix, UpstreamRegistryUrl, UpstreamRegistry string }
		}
		jsonOf(t, s.aws("ecr", "describe-pull-through-cache-rules"), &got)
		if r := got.PullThroughCacheRules; len(r) != 1 || r[0].EcrRepositoryPrefix != "ecr-public" || r[0].UpstreamRegistryUrl != "public.ecr.aws" ||
			r[0].UpstreamRegistry != "ecr-public" {
			t.Fatalf("describe-pull-through-cache-rules: %+v", got)
		}
		b.waitText(t, "public.ecr.aws")
		b.a11y(t)
		b.shot(t, "pull-through-cache")

		// ECR Public takes no credential: the page says so in the aws CLI's words.
		const secret = "arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/none-AbCdEf"
		cli, err := runEnv(t, s.awsEnv(), nil, tool(t, "aws"), "ecr", "update-pull-through-cache-rule", "--ecr-repository-prefix", "ecr-public",
			"--credential-arn", secret)
		if err == nil {
			t.Fatalf("aws ecr update-pull-through-cache-rule with a credential for ECR Public: %s", cli)
		}
		b.click(t, "Edit ecr-public")
		b.fill(t, "Credential ARN", secret)
		b.click(t, "Save changes")
		if got, want := b.alert(t), strings.Join(strings.Fields(cli), " "); got != want {
			t.Errorf("the page says\n%s\nthe aws CLI says\n%s", got, want)
		}
		b.click(t, "Cancel")

		// An upstream that cannot be reached: Validate says why, as validate-pull-through-cache-rule does.
		b.click(t, "Add rule")
		b.fill(t, "Cache repository prefix", "down")
		b.fill(t, "Upstream registry", "Another OCI registry")
		b.fill(t, "Upstream registry URL", "127.0.0.1:1")
		b.click(t, "Create rule")
		b.click(t, "Validate down")
		b.waitText(t, "The rule down is not valid")
		var v struct {
			IsValid bool
			Failure string
		}
		jsonOf(t, s.aws("ecr", "validate-pull-through-cache-rule", "--ecr-repository-prefix", "down"), &v)
		if v.IsValid || v.Failure == "" || !strings.Contains(b.mainText(t), v.Failure) {
			t.Errorf("validate-pull-through-cache-rule: %+v; the page:\n%s", v, b.mainText(t))
		}
		b.click(t, "Delete down")
		b.confirmIfAsked(t)
		b.waitFor(t, "the rule deleted", `!find('button', 'Validate down')`)

		b.click(t, "Delete ecr-public")
		b.confirmIfAsked(t)
		b.waitText(t, "No pull through cache rules.")
		if out := s.aws("ecr", "describe-pull-through-cache-rules"); strings.Contains(out, "ecr-public") {
			t.Fatalf("the rule deleted in the console is still there: %s", out)
		}
	})

	t.Run("creation template", func(t *testing.T) {
		b.page(t, "/registry/templates")
		b.click(t, "Create template")
		b.waitFor(t, "the template form", `location.hash === '#/registry/templates/new'`)
		b.settled(t)
		b.fill(t, "Prefix", "team-a")
		b.fill(t, "Description", "Team A's repositories")
		b.check(t, "Replication", true)
		b.fill(t, "Tag mutability", "IMMUTABLE")
		b.fill(t, "Resource tags", "team=a")
		b.fill(t, "Lifecycle policy JSON", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}`)
		b.a11y(t)
		b.click(t, "Create template")
		b.waitFor(t, "the templates list", `location.hash === '#/registry/templates'`)
		b.waitText(t, "team-a", "Team A's repositories", "REPLICATION")
		var got struct {
			RepositoryCreationTemplates []struct {
				Prefix, Description, ImageTagMutability, LifecyclePolicy string
				AppliedFor                                               []string
				ResourceTags                                             []struct{ Key, Value string }
			}
		}
		jsonOf(t, s.aws("ecr", "describe-repository-creation-templates"), &got)
		if ts := got.RepositoryCreationTemplates; len(ts) != 1 || ts[0].Prefix != "team-a" || ts[0].ImageTagMutability != "IMMUTABLE" ||
			strings.Join(ts[0].AppliedFor, ",") != "CREATE_ON_PUSH,REPLICATION" && strings.Join(ts[0].AppliedFor, ",") != "REPLICATION,CREATE_ON_PUSH" ||
			len(ts[0].ResourceTags) != 1 || ts[0].ResourceTags[0].Key != "team" || !strings.Contains(ts[0].LifecyclePolicy, "sinceImagePushed") {
			t.Fatalf("describe-repository-creation-templates: %+v", got)
		}
		b.a11y(t)
		b.shot(t, "creation-templates")

		b.click(t, "Edit team-a")
		b.waitFor(t, "the template's form", `location.hash === '#/registry/templates/edit/team-a'`)
		b.settled(t)
		b.fill(t, "Description", "Team A")
		b.check(t, "Pull through cache", true)
		b.click(t, "Save changes")
		b.waitFor(t, "the templates list", `location.hash === '#/registry/templates'`)
		b.waitText(t, "PULL_THROUGH_CACHE")
		if out := s.aws("ecr", "describe-repository-creation-templates", "--prefixes", "team-a", "--query", "repositoryCreationTemplates[0].[description,length(appliedFor),imageTagMutability]", "--output", "text"); strings.Join(strings.Fields(out), " ") != "Team A 3 IMMUTABLE" {
			t.Fatalf("the template edited in the console: %s", out)
		}
	})

	t.Run("replication rule", func(t *testing.T) {
		b.page(t, "/registry/replication")
		b.waitText(t, "No replication rules")
		b.click(t, "Add rule")
		b.fill(t, "Destination registry ID", "444455556666")
		b.fill(t, "Repository name prefixes", "prod")
		b.a11y(t)
		b.click(t, "Save rules")
		b.waitText(t, "444455556666 in us-east-1", "prod (PREFIX_MATCH)")
		var got struct {
			ReplicationConfiguration struct {
				Rules []struct {
					Destinations      []struct{ Region, RegistryId string }
					RepositoryFilters []struct{ Filter, FilterType string }
				}
			}
		}
		jsonOf(t, s.aws("ecr", "describe-registry"), &got)
		if r := got.ReplicationConfiguration.Rules; len(r) != 1 || len(r[0].Destinations) != 1 || r[0].Destinations[0].RegistryId != "444455556666" ||
			r[0].Destinations[0].Region != "us-east-1" || len(r[0].RepositoryFilters) != 1 || r[0].RepositoryFilters[0].Filter != "prod" ||
			r[0].RepositoryFilters[0].FilterType != "PREFIX_MATCH" {
			t.Fatalf("describe-registry: %+v", got)
		}
		b.a11y(t)
		b.shot(t, "replication")

		// An image pushed to a repository the rule matches shows where it is replicated to: the destination
		// account does not exist, so the copy fails.
		s.aws("ecr", "create-repository", "--repository-name", "prod/app")
		run(t, crane, "append", "--insecure", "-f", writeTar(t, work, "prod", []byte("prod\n")), "-t", s.addr+"/prod/app:v1")
		d := strings.TrimSpace(run(t, crane, "digest", "--insecure", s.addr+"/prod/app:v1"))
		b.page(t, "/image/"+d+"/prod/app")
		b.waitText(t, "Replication", "444455556666", "us-east-1")
		b.a11y(t)

		b.page(t, "/registry/replication")
		b.click(t, "Remove all rules")
		b.confirmIfAsked(t)
		b.waitText(t, "No replication rules")
		if out := s.aws("ecr", "describe-registry"); strings.Contains(out, "444455556666") {
			t.Fatalf("the replication rules removed in the console are still there: %s", out)
		}
	})

	for _, route := range []string{"/repository/tags/web/app", "/repository/settings/web/app", "/registry/permissions",
		"/registry/scanning", "/iam/users", "/iam/users/viewer", "/iam/groups", "/iam/roles",
		"/registry/templates/new", "/registry/templates/edit/team-a"} {
		t.Run("accessibility of "+route, func(t *testing.T) {
			b.page(t, route)
			b.a11y(t)
		})
	}

	t.Run("narrow screens", func(t *testing.T) {
		b.viewport(t, 390, 844)
		defer b.viewport(t, 1280, 860)
		for _, route := range []string{"/repositories", "/repositories/new", "/repository/images/web/app", "/repository/tags/web/app",
			"/repository/permissions/web/app", "/repository/lifecycle/web/app", "/repository/settings/web/app", "/image/" + v2 + "/web/app",
			"/image/" + scanned + "/scan/alpine", "/registry/permissions", "/registry/scanning", "/registry/replication",
			"/registry/pull-through-cache", "/registry/templates", "/registry/templates/edit/team-a", "/events", "/iam/users", "/iam/users/viewer",
			"/iam/groups", "/iam/roles", "/usage", "/switch-role", "/change-password"} {
			b.page(t, route)
			if w := eval[[]int](t, b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
				t.Errorf("%s is %dpx wide on a %dpx screen: %s", route, w[0], w[1], eval[string](t, b, `[...document.querySelectorAll('main *')]
					.filter(el => el.getBoundingClientRect().right > window.innerWidth + 1 && !el.closest('.table-wrap, pre'))
					.slice(0, 5).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '') + ' ' + Math.round(el.getBoundingClientRect().right) + 'px').join(', ')`))
			}
		}
	})

	t.Run("sign out ends the session", func(t *testing.T) {
		b.open(t, "/repositories")
		old := b.cookie(t, "wharf_console")
		if old == "" {
			t.Fatal("no session cookie while signed in")
		}
		b.click(t, "Sign out")
		b.waitText(t, "Sign in as IAM user")
		if st := eval[int](t, b, `fetch('/console/api/session', { credentials: 'same-origin' }).then(r => r.status)`); st != http.StatusUnauthorized {
			t.Fatalf("GET /console/api/session after signing out: %d", st)
		}
		// The old cookie, sent again, no longer works either: the server ended the session.
		req, _ := http.NewRequest("GET", base+"/console/api/session", nil)
		req.AddCookie(&http.Cookie{Name: "wharf_console", Value: old})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("the signed-out session's cookie: %d", res.StatusCode)
		}
	})

	t.Run("a read-only user is refused in the CLI's words", func(t *testing.T) {
		// With the keyboard: the account is remembered from the last sign-in, Enter signs in.
		b.open(t, "/signin")
		if account := eval[string](t, b, `control('Account ID').value`); account != "000000000000" {
			t.Errorf("the sign-in page's account is %q, not the last one signed in to", account)
		}
		b.typeInto(t, "IAM user name", viewer.name)
		b.typeInto(t, "Password", viewer.password+"\r")
		b.waitText(t, "Private repositories", "web/app")
		cli, err := runEnv(t, viewer.env, nil, tool(t, "aws"), "ecr", "delete-repository", "--repository-name", "web/app", "--force")
		if err == nil || !strings.Contains(cli, "AccessDeniedException") {
			t.Fatalf("aws ecr delete-repository as viewer: %v %s", err, cli)
		}
		b.tab(t, "settings", "web/app")
		b.click(t, "Delete repository")
		b.confirmIfAsked(t)
		if got, want := b.alert(t), strings.Join(strings.Fields(cli), " "); got != want {
			t.Errorf("the page says\n%s\nthe aws CLI says\n%s", got, want)
		}
		s.aws("ecr", "describe-repositories", "--repository-names", "web/app")
	})

	t.Run("a wrong password is refused and audited", func(t *testing.T) {
		b.open(t, "/repositories")
		if b.heading(t) != "Sign in as IAM user" {
			b.click(t, "Sign out")
		}
		b.signIn(t, viewer.name, "not-the-password")
		if got := b.alert(t); !strings.Contains(got, "Your authentication information is incorrect. Please try again.") {
			t.Fatalf("a wrong password: %q", got)
		}
		b.a11y(t)
		var failed, signedIn *trailEvent
		for deadline := time.Now().Add(15 * time.Second); failed == nil && time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
			for _, ev := range lookup(t, s.awsEnv(), base, "EventName", "ConsoleLogin") {
				switch {
				case ev.Username == "viewer" && ev.record["errorMessage"] != nil:
					failed = &ev
				case ev.Username == "dana":
					signedIn = &ev
				}
			}
		}
		if failed == nil || signedIn == nil {
			t.Fatalf("ConsoleLogin events of dana's sign-in and viewer's failed one: %v, %v", signedIn, failed)
		}
		checkRecord(t, *signedIn, map[string]any{"eventSource": "signin.amazonaws.com", "responseElements.ConsoleLogin": "Success", "errorCode": nil})
		checkRecord(t, *failed, map[string]any{"eventSource": "signin.amazonaws.com", "userIdentity.userName": "viewer",
			"errorMessage": "Failed authentication"})
	})

	t.Run("console calls are audited as wharf-console", func(t *testing.T) {
		var found bool
		for _, ev := range lookup(t, s.awsEnv(), base, "EventName", "CreateRepository") {
			if member(ev.record, "requestParameters.repositoryName") == "web/app" {
				found = true
				checkRecord(t, ev, map[string]any{"userAgent": "wharf-console", "userIdentity.userName": "dana",
					"userIdentity.type": "IAMUser", "errorCode": nil})
			}
		}
		if !found {
			t.Fatal("no CreateRepository event of web/app")
		}
	})
	t.Logf("the browser's steps took %s", time.Since(started).Round(100*time.Millisecond))
}

// shortHex is a digest as the console shortens it: its first 12 hex digits.
func shortHex(digest string) string { return strings.TrimPrefix(digest, "sha256:")[:12] }

// fillLifecycleRule fills the lifecycle tab's rule form: keep the newest image, expire the rest.
func (b *browser) fillLifecycleRule(t *testing.T) {
	t.Helper()
	b.click(t, "Add rule")
	b.fill(t, "Rule priority", "1")
	b.fill(t, "Rule description", "Keep the newest image")
	b.fill(t, "Image status", "any")
	b.fill(t, "Count type", "imageCountMoreThan")
	b.fill(t, "Count number", "1")
	b.fill(t, "Rule action", "expire")
}

// addPolicyStatement adds a statement to the permissions tab's policy (viewer may pull) and saves it.
func (b *browser) addPolicyStatement(t *testing.T) {
	t.Helper()
	b.click(t, "Add statement")
	b.fill(t, "Statement ID", "ViewerPull")
	b.fill(t, "AWS accounts and IAM entities", "arn:aws:iam::000000000000:user/viewer")
	b.click(t, "Select pull actions")
	b.click(t, "Save")
}
