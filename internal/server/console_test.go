package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/server"
)

const acct = "000000000000"

// browser is a console session as a browser holds it: the cookie jar, and the CSRF token the page got.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar}}
}

func (b *browser) do(method, path, ctype string, body []byte, hdr ...string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.base+path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

func (b *browser) signIn(account, user, password string) (int, string) {
	b.t.Helper()
	in, _ := json.Marshal(map[string]string{"accountId": account, "userName": user, "password": password})
	code, body := b.do("POST", "/console/api/signin", "application/json", in)
	if code == 200 {
		_, info := b.do("GET", "/console/api/session", "", nil)
		var s struct{ CsrfToken string }
		json.Unmarshal([]byte(info), &s)
		b.csrf = s.CsrfToken
	}
	return code, body
}

// ecr calls an ECR operation as the console's page does.
func (b *browser) ecr(op, input string, hdr ...string) (int, string) {
	b.t.Helper()
	h := append([]string{"X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921." + op, "X-Wharf-Csrf", b.csrf}, hdr...)
	return b.do("POST", "/console/api/ecr", "application/x-amz-json-1.1", []byte(input), h...)
}

func (b *browser) iam(params url.Values) (int, string) {
	b.t.Helper()
	params.Set("Version", "2010-05-08")
	return b.do("POST", "/console/api/iam", "application/x-www-form-urlencoded", []byte(params.Encode()), "X-Wharf-Csrf", b.csrf)
}

// signedCall calls an AWS JSON API with a SigV4 signature.
func signedCall(t *testing.T, base, service, target string, creds identity.Credentials, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
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

// events looks up the account's audit records of an event name, as `aws cloudtrail lookup-events` would.
func events(t *testing.T, base, name string) []map[string]any {
	t.Helper()
	code, body := signedCall(t, base, "cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents", admin,
		`{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"`+name+`"}]}`)
	if code != 200 {
		t.Fatalf("LookupEvents: %d %s", code, body)
	}
	var out struct {
		Events []struct{ CloudTrailEvent string }
	}
	json.Unmarshal([]byte(body), &out)
	var recs []map[string]any
	for _, e := range out.Events {
		var r map[string]any
		json.Unmarshal([]byte(e.CloudTrailEvent), &r)
		recs = append(recs, r)
	}
	return recs
}

func consoleUser(t *testing.T, app *server.App, name, password string, reset bool, policy string) identity.Credentials {
	t.Helper()
	ctx := context.Background()
	if _, err := app.Identity.CreateUser(ctx, acct, name); err != nil {
		t.Fatal(err)
	}
	if policy != "" {
		if err := app.Identity.PutUserPolicy(ctx, acct, name, "p", policy); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := app.Identity.CreateLoginProfile(ctx, acct, name, password, reset); err != nil {
		t.Fatal(err)
	}
	creds, err := app.Identity.CreateAccessKey(ctx, acct, name)
	if err != nil {
		t.Fatal(err)
	}
	return *creds
}

const ecrAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:*","iam:ChangePassword","sts:AssumeRole"],"Resource":"*"}]}`
const ecrRead = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:Describe*","ecr:List*","ecr:Get*"],"Resource":"*"}]}`

// TestConsoleSessions: a user signs in with a password; the console's calls are the ECR API's, as that
// user, and need the session's CSRF token from the console's own origin; sign-out ends the session.
func TestConsoleSessions(t *testing.T) {
	app, base := newApp(t, server.Options{})
	consoleUser(t, app, "alice", "Alice-pass-1", false, ecrAll)
	b := newBrowser(t, base)

	if code, body := b.signIn(acct, "alice", "wrong-Pass-1"); code != 401 || !strings.Contains(body, "Your authentication information is incorrect") {
		t.Fatalf("wrong password: %d %s", code, body)
	}
	if code, body := b.signIn(acct, "alice", "Alice-pass-1"); code != 200 || !strings.Contains(body, `"passwordResetRequired":false`) {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	u, _ := url.Parse(base + "/console/")
	cookies := b.c.Jar.Cookies(u)
	if len(cookies) != 1 || len(cookies[0].Value) != 64 {
		t.Fatalf("session cookie: %v", cookies)
	}
	stolen := cookies[0].Value

	// Without the CSRF token, or from another site, nothing runs.
	for _, hdr := range [][]string{{"X-Wharf-Csrf", ""}, {"X-Wharf-Csrf", strings.Repeat("0", 64)}, {"Origin", "http://evil.example"}, {"Sec-Fetch-Site", "cross-site"}} {
		if code, body := b.ecr("CreateRepository", `{"repositoryName":"csrf"}`, hdr...); code != 403 || !strings.Contains(body, "CSRF") && !strings.Contains(body, "page") {
			t.Errorf("%v: %d %s", hdr, code, body)
		}
	}
	if code, body := b.ecr("CreateRepository", `{"repositoryName":"from-console"}`, "Origin", base); code != 200 || !strings.Contains(body, `"repositoryName":"from-console"`) {
		t.Fatalf("CreateRepository from the console: %d %s", code, body)
	}
	code, body := signedCall(t, base, "ecr", "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories", admin, `{"repositoryNames":["from-console","csrf"]}`)
	if code != 400 || !strings.Contains(body, "csrf") {
		t.Errorf("the refused calls created a repository: %d %s", code, body)
	}
	// The audit trail has the call, by alice, from the console.
	var found bool
	for _, r := range events(t, base, "CreateRepository") {
		id := r["userIdentity"].(map[string]any)
		if r["userAgent"] == "wharf-console" && id["userName"] == "alice" && id["type"] == "IAMUser" {
			found = true
		}
	}
	if !found {
		t.Errorf("no CreateRepository record by alice with userAgent wharf-console: %v", events(t, base, "CreateRepository"))
	}
	// Sign-ins are recorded, failed ones too, in the account, as CloudTrail's ConsoleLogin.
	logins := events(t, base, "ConsoleLogin")
	var ok, failed int
	for _, r := range logins {
		id := r["userIdentity"].(map[string]any)
		if r["eventSource"] != "signin.amazonaws.com" || id["userName"] != "alice" {
			continue
		}
		if r["errorMessage"] != nil {
			if resp, _ := r["responseElements"].(map[string]any); resp["ConsoleLogin"] != "Failure" || r["errorMessage"] != "Failed authentication" {
				t.Errorf("a failed sign-in's record: %v", r)
			}
			failed++
		} else if resp, _ := r["responseElements"].(map[string]any); resp["ConsoleLogin"] == "Success" {
			ok++
		}
	}
	if ok != 1 || failed != 1 {
		t.Errorf("ConsoleLogin records: %d successful, %d failed, want 1 and 1: %v", ok, failed, logins)
	}

	if code, _ := b.do("POST", "/console/api/signout", "", nil, "X-Wharf-Csrf", b.csrf); code != 200 {
		t.Fatalf("sign-out: %d", code)
	}
	if code, _ := b.do("GET", "/console/api/session", "", nil); code != 401 {
		t.Errorf("session after sign-out: %d", code)
	}
	// The cookie, kept by someone, no longer works.
	replay := newBrowser(t, base)
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: "wharf_console", Value: stolen, Path: "/console/"}})
	replay.csrf = b.csrf
	if code, body := replay.ecr("DescribeRepositories", `{}`); code != 401 {
		t.Errorf("a signed-out session's cookie: %d %s", code, body)
	}
}

// TestConsoleDenialsAreTheAPIs: a limited user gets, in the console, the denial the aws CLI gets.
func TestConsoleDenialsAreTheAPIs(t *testing.T) {
	app, base := newApp(t, server.Options{})
	keys := consoleUser(t, app, "reader", "Reader-pass-1", false, ecrRead)
	signedCall(t, base, "ecr", "AmazonEC2ContainerRegistry_V20150921.CreateRepository", admin, `{"repositoryName":"app"}`)
	b := newBrowser(t, base)
	if code, body := b.signIn(acct, "reader", "Reader-pass-1"); code != 200 {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	code, viaConsole := b.ecr("DeleteRepository", `{"repositoryName":"app"}`)
	code2, viaCLI := signedCall(t, base, "ecr", "AmazonEC2ContainerRegistry_V20150921.DeleteRepository", keys, `{"repositoryName":"app"}`)
	if code != code2 || viaConsole != viaCLI || !strings.Contains(viaConsole, "AccessDeniedException") || !strings.Contains(viaConsole, "user/reader is not authorized to perform: ecr:DeleteRepository") {
		t.Errorf("console: %d %s\nsigned: %d %s", code, viaConsole, code2, viaCLI)
	}
	if code, body := b.ecr("DescribeRepositories", `{}`); code != 200 || !strings.Contains(body, `"repositoryName":"app"`) {
		t.Errorf("the repository is gone, or the reader cannot list it: %d %s", code, body)
	}
}

// TestConsolePasswordReset: a user whose password must be changed can do nothing else first.
func TestConsolePasswordReset(t *testing.T) {
	app, base := newApp(t, server.Options{})
	consoleUser(t, app, "bob", "Bob-first-pass1", true, ecrAll)
	b := newBrowser(t, base)
	if code, body := b.signIn(acct, "bob", "Bob-first-pass1"); code != 200 || !strings.Contains(body, `"passwordResetRequired":true`) {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	if code, body := b.ecr("DescribeRepositories", `{}`); code != 403 || !strings.Contains(body, "change your password") {
		t.Errorf("before the change: %d %s", code, body)
	}
	if code, body := b.iam(url.Values{"Action": {"ChangePassword"}, "OldPassword": {"Bob-first-pass1"}, "NewPassword": {"short"}}); code != 400 {
		t.Errorf("a password the policy refuses: %d %s", code, body)
	}
	if code, body := b.iam(url.Values{"Action": {"ChangePassword"}, "OldPassword": {"Bob-first-pass1"}, "NewPassword": {"Bob-second-pass2"}}); code != 200 {
		t.Fatalf("ChangePassword: %d %s", code, body)
	}
	if code, body := b.ecr("DescribeRepositories", `{}`); code != 200 {
		t.Errorf("after the change: %d %s", code, body)
	}
	if code, _ := newBrowser(t, base).signIn(acct, "bob", "Bob-second-pass2"); code != 200 {
		t.Errorf("signing in with the new password: %d", code)
	}
}

// TestConsoleSessionLimits: sessions end after 12 hours; repeated failures hold off further attempts,
// even with the right password, until the window passes.
func TestConsoleSessionLimits(t *testing.T) {
	clk := clock.NewFake(time.Now())
	app, base := newApp(t, server.Options{Clock: clk})
	consoleUser(t, app, "carol", "Carol-pass-1", false, ecrAll)
	b := newBrowser(t, base)
	if code, _ := b.signIn(acct, "carol", "Carol-pass-1"); code != 200 {
		t.Fatal("sign-in failed")
	}
	clk.Advance(11 * time.Hour)
	if code, body := b.ecr("DescribeRepositories", `{}`); code != 200 {
		t.Errorf("after 11 hours: %d %s", code, body)
	}
	clk.Advance(time.Hour)
	if code, body := b.ecr("DescribeRepositories", `{}`); code != 401 || !strings.Contains(body, "session has ended") {
		t.Errorf("after 12 hours: %d %s", code, body)
	}

	other := newBrowser(t, base)
	for i := 0; i < 5; i++ {
		if code, _ := other.signIn(acct, "carol", "not-Her-pass-1"); code != 401 {
			t.Fatalf("attempt %d: %d", i, code)
		}
	}
	if code, body := other.signIn(acct, "carol", "Carol-pass-1"); code != 429 || !strings.Contains(body, "Too many failed sign-in attempts") {
		t.Errorf("after 5 failures: %d %s", code, body)
	}
	clk.Advance(5*time.Minute + time.Second)
	if code, body := other.signIn(acct, "carol", "Carol-pass-1"); code != 200 {
		t.Errorf("after the window: %d %s", code, body)
	}
}

// TestConsoleSwitchRole: a user switches to a role its trust policy lets it assume, acts with the role's
// permissions, and switches back.
func TestConsoleSwitchRole(t *testing.T) {
	clk := clock.NewFake(time.Now())
	app, base := newApp(t, server.Options{Clock: clk})
	ctx := context.Background()
	consoleUser(t, app, "dave", "Dave-pass-1", false, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","ecr:DescribeRepositories"],"Resource":"*"}]}`)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/dave"},"Action":"sts:AssumeRole"}]}`
	if _, err := app.Identity.CreateRole(ctx, acct, "builder", trust, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := app.Identity.PutOwnerPolicy(ctx, acct, identity.RolePolicies, "builder", "p", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:CreateRepository","Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, base)
	b.signIn(acct, "dave", "Dave-pass-1")
	if code, body := b.ecr("CreateRepository", `{"repositoryName":"by-role"}`); code != 400 || !strings.Contains(body, "AccessDenied") {
		t.Fatalf("dave alone: %d %s", code, body)
	}
	sw := func(role string) (int, string) {
		in, _ := json.Marshal(map[string]string{"roleArn": "arn:aws:iam::" + acct + ":role/" + role})
		return b.do("POST", "/console/api/switch-role", "application/json", in, "X-Wharf-Csrf", b.csrf)
	}
	if code, body := sw("nosuchrole"); code == 200 {
		t.Errorf("switching to a role that does not exist: %d %s", code, body)
	}
	if code, body := sw("builder"); code != 200 {
		t.Fatalf("switch role: %d %s", code, body)
	}
	_, info := b.do("GET", "/console/api/session", "", nil)
	if !strings.Contains(info, `"roleName":"builder"`) || !strings.Contains(info, "assumed-role/builder/dave") {
		t.Errorf("session as the role: %s", info)
	}
	if code, body := b.ecr("CreateRepository", `{"repositoryName":"by-role"}`); code != 200 {
		t.Errorf("as the role: %d %s", code, body)
	}
	clk.Advance(time.Hour) // the role's session ends: the user acts as itself again
	if code, body := b.ecr("CreateRepository", `{"repositoryName":"by-role-later"}`); code != 400 || !strings.Contains(body, "user/dave is not authorized") {
		t.Errorf("after the role's session: %d %s", code, body)
	}
	if code, body := sw("builder"); code != 200 {
		t.Fatalf("switch role again: %d %s", code, body)
	}
	if code, _ := b.do("POST", "/console/api/switch-back", "", nil, "X-Wharf-Csrf", b.csrf); code != 200 {
		t.Fatal("switch back failed")
	}
	if code, body := b.ecr("CreateRepository", `{"repositoryName":"by-dave"}`); code != 400 || !strings.Contains(body, "user/dave is not authorized") {
		t.Errorf("after switching back: %d %s", code, body)
	}
}
