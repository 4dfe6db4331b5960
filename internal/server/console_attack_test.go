package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/server"
)

// registryPassword gets a registry password through the console, as `aws ecr get-login-password` does.
func (b *browser) registryPassword() string {
	b.t.Helper()
	code, body := b.ecr("GetAuthorizationToken", `{}`)
	var out struct {
		AuthorizationData []struct{ AuthorizationToken string }
	}
	if json.Unmarshal([]byte(body), &out); code != 200 || len(out.AuthorizationData) != 1 {
		b.t.Fatalf("GetAuthorizationToken: %d %s", code, body)
	}
	raw, _ := base64.StdEncoding.DecodeString(out.AuthorizationData[0].AuthorizationToken)
	return strings.TrimPrefix(string(raw), "AWS:")
}

func catalog(t *testing.T, base, password string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v2/_catalog", nil)
	req.SetBasicAuth("AWS", password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestConsoleDeletedUserIsGone: a deleted user's console sessions (as itself or as a role it switched
// to) and the registry passwords it got through the console end with it, and a new user given the same
// name inherits none of them.
func TestConsoleDeletedUserIsGone(t *testing.T) {
	app, base := newApp(t, server.Options{})
	ctx := context.Background()
	keys := consoleUser(t, app, "alice", "Alice-pass-1", false, ecrAll)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`
	if _, err := app.Identity.CreateRole(ctx, acct, "ops", trust, time.Hour); err != nil {
		t.Fatal(err)
	}
	plain, switched := newBrowser(t, base), newBrowser(t, base)
	for _, b := range []*browser{plain, switched} {
		if code, body := b.signIn(acct, "alice", "Alice-pass-1"); code != 200 {
			t.Fatalf("sign-in: %d %s", code, body)
		}
	}
	if code, body := switched.do("POST", "/console/api/switch-role", "application/json", []byte(`{"roleArn":"arn:aws:iam::`+acct+`:role/ops"}`), "X-Wharf-Csrf", switched.csrf); code != 200 {
		t.Fatalf("switch role: %d %s", code, body)
	}
	password := plain.registryPassword()
	if code := catalog(t, base, password); code != 200 {
		t.Fatalf("registry password: %d", code)
	}

	for _, err := range []error{app.Identity.DeleteLoginProfile(ctx, acct, "alice"), app.Identity.DeleteAccessKey(ctx, keys.AccessKeyID),
		app.Identity.DeleteUserPolicy(ctx, acct, "alice", "p"), app.Identity.DeleteUser(ctx, acct, "alice")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := app.Identity.CreateUser(ctx, acct, "alice"); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*browser{"as the user": plain, "as the role": switched} {
		if code, body := b.do("GET", "/console/api/session", "", nil); code != 401 {
			t.Errorf("the deleted user's session %s: %d %s", name, code, body)
		}
	}
	if code := catalog(t, base, password); code != 401 {
		t.Errorf("the deleted user's registry password: %d", code)
	}
}

// TestConsoleConcurrentGuesses: guesses of a password sent all at once are limited as guesses sent one
// after another are: at most five are checked, the others wait for the window.
func TestConsoleConcurrentGuesses(t *testing.T) {
	app, base := newApp(t, server.Options{})
	consoleUser(t, app, "erin", "Erin-pass-1", false, ecrAll)
	const n = 24
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := newBrowser(t, base).signIn(acct, "erin", fmt.Sprintf("Guess-%d-pass", i))
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[401] > 5 || count[401]+count[429] != n {
		t.Errorf("%d guesses at once: %v answers; want at most 5 checked (401), the others refused (429)", n, count)
	}
	if code, body := newBrowser(t, base).signIn(acct, "erin", "Erin-pass-1"); code != 429 {
		t.Errorf("the right password after the guesses: %d %s", code, body)
	}
}

// TestConsoleLongLatin1Password: a password IAM accepts (up to 128 characters of Latin-1, two bytes each
// in UTF-8 above ASCII) signs in.
func TestConsoleLongLatin1Password(t *testing.T) {
	app, base := newApp(t, server.Options{})
	password := "Aa1!" + strings.Repeat("é", identity.MaxPasswordLength-4)
	consoleUser(t, app, "zoe", password, false, ecrAll)
	if code, body := newBrowser(t, base).signIn(acct, "zoe", password); code != 200 {
		t.Errorf("sign-in with a password of %d characters: %d %s", identity.MaxPasswordLength, code, body)
	}
	if code, body := newBrowser(t, base).signIn(acct, "zoe", password+"é"); code != 400 {
		t.Errorf("sign-in with a password of %d characters: %d %s", identity.MaxPasswordLength+1, code, body)
	}
}

// TestConsoleForgedRequests: what another site's page, or someone holding a guessed or altered cookie,
// can send is refused and changes nothing; a session that must change its password reaches nothing else
// by any of the console's endpoints.
func TestConsoleForgedRequests(t *testing.T) {
	app, base := newApp(t, server.Options{})
	consoleUser(t, app, "frank", "Frank-pass-1", false, ecrAll)
	b := newBrowser(t, base)
	if code, body := b.signIn(acct, "frank", "Frank-pass-1"); code != 200 {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	u, _ := url.Parse(base + "/console/")
	secret := b.c.Jar.Cookies(u)[0].Value
	for _, hdr := range [][]string{{"Origin", "null"}, {"Origin", base + ".evil.example"}, {"Origin", "http://127.0.0.1"}, {"Origin", "file://"},
		{"Sec-Fetch-Site", "same-site"}, {"X-Wharf-Csrf", strings.ToUpper(b.csrf)}} {
		if code, body := b.ecr("CreateRepository", `{"repositoryName":"forged"}`, hdr...); code != 403 {
			t.Errorf("%v: %d %s", hdr, code, body)
		}
	}
	for _, value := range []string{strings.ToUpper(secret), secret[:63], secret + "0", hashHex(secret)} {
		other := newBrowser(t, base)
		other.c.Jar.SetCookies(u, []*http.Cookie{{Name: "wharf_console", Value: value, Path: "/console/"}})
		other.csrf = b.csrf
		if code, body := other.ecr("CreateRepository", `{"repositoryName":"forged"}`); code != 401 {
			t.Errorf("cookie %q: %d %s", value, code, body)
		}
	}
	// A sign-in from a form of another site (login CSRF) is refused.
	for _, ctype := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"} {
		if code, body := newBrowser(t, base).do("POST", "/console/api/signin", ctype, []byte(`{"accountId":"`+acct+`","userName":"frank","password":"Frank-pass-1"}`)); code != 403 {
			t.Errorf("sign-in as %s: %d %s", ctype, code, body)
		}
	}
	code, body := signedCall(t, base, "ecr", "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories", admin, `{"repositoryNames":["forged"]}`)
	if code != 400 || !strings.Contains(body, "RepositoryNotFoundException") {
		t.Errorf("a forged request created a repository: %d %s", code, body)
	}

	consoleUser(t, app, "gina", "Gina-first-pass1", true, ecrAll)
	g := newBrowser(t, base)
	if code, body := g.signIn(acct, "gina", "Gina-first-pass1"); code != 200 {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	for _, c := range []struct{ path, ctype, body string }{
		{"/console/api/sts", "application/x-www-form-urlencoded", "Action=GetCallerIdentity&Version=2011-06-15"},
		{"/console/api/sts", "application/x-www-form-urlencoded", "Action=ChangePassword&Version=2010-05-08&OldPassword=Gina-first-pass1&NewPassword=Gina-other-pass2"},
		{"/console/api/switch-role", "application/json", `{"roleArn":"arn:aws:iam::` + acct + `:role/any"}`},
		{"/console/api/cloudtrail", "application/x-amz-json-1.1", `{}`},
		{"/console/api/iam", "application/x-www-form-urlencoded", "Action=ListUsers&Action=ChangePassword&Version=2010-05-08"},
		{"/console/api/iam", "application/x-www-form-urlencoded", "Action=ChangePassword&Action=ListUsers&Version=2010-05-08"},
		{"/console/api/iam", "application/x-www-form-urlencoded", "Action=UpdateLoginProfile&PasswordResetRequired=false&Version=2010-05-08"},
	} {
		code, body := g.do("POST", c.path, c.ctype, []byte(c.body), "X-Wharf-Csrf", g.csrf,
			"X-Amz-Target", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents")
		if code < 400 || code == 401 {
			t.Errorf("%s %s before the password is changed: %d %s", c.path, c.body, code, body)
		}
	}
	if _, body := g.do("GET", "/console/api/session", "", nil); !strings.Contains(body, `"passwordResetRequired":true`) {
		t.Errorf("the session no longer needs a password change: %s", body)
	}
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestConsoleGuessesByAlias: failures counted for a user signing in with the account's id hold back
// attempts with its alias too: they are the same user.
func TestConsoleGuessesByAlias(t *testing.T) {
	app, base := newApp(t, server.Options{})
	consoleUser(t, app, "hank", "Hank-pass-1", false, ecrAll)
	if err := app.Identity.CreateAccountAlias(context.Background(), acct, "acme"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // each from another address: only the user's count holds attempts back
		if code, _ := browserFrom(t, base, fmt.Sprintf("127.0.0.%d", 10+i)).signIn(acct, "hank", fmt.Sprintf("Guess-%d-pass", i)); code != 401 {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	if code, body := browserFrom(t, base, "127.0.0.20").signIn("acme", "hank", "Hank-pass-1"); code != 429 {
		t.Errorf("by the alias after 5 failures by the id: %d %s", code, body)
	}
}

// browserFrom is a browser whose requests come from another loopback address (Linux answers on all of
// 127.0.0.0/8; other systems may not).
func browserFrom(t *testing.T, base, ip string) *browser {
	t.Helper()
	if c, err := net.ListenPacket("udp", ip+":0"); err != nil {
		t.Skipf("no loopback address %s here: %v", ip, err)
	} else {
		c.Close()
	}
	b := newBrowser(t, base)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	b.c.Transport = &http.Transport{DialContext: d.DialContext}
	return b
}

// TestConsoleDeletedPasswordEndsSessions: deleting a user's password ends its access through the
// console — its sessions too, the way to shut out someone who learned the password — not its access keys.
func TestConsoleDeletedPasswordEndsSessions(t *testing.T) {
	app, base := newApp(t, server.Options{})
	keys := consoleUser(t, app, "ivy", "Ivy-pass-123", false, ecrAll)
	b := newBrowser(t, base)
	if code, body := b.signIn(acct, "ivy", "Ivy-pass-123"); code != 200 {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	if err := app.Identity.DeleteLoginProfile(context.Background(), acct, "ivy"); err != nil {
		t.Fatal(err)
	}
	if code, body := b.ecr("DescribeRepositories", `{}`); code != 401 {
		t.Errorf("the session after its password was deleted: %d %s", code, body)
	}
	if code, body := signedCall(t, base, "ecr", "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories", keys, `{}`); code != 200 {
		t.Errorf("the user's access key: %d %s", code, body)
	}
}
