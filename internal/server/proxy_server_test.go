package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/server"
)

// behindProxy is an App whose trusted proxy is the test's own address, 127.0.0.1 (and the network
// 10.0.0.0/8 of other proxies in the chain): the tests' requests are the proxy's.
func behindProxy(t *testing.T) (*server.App, string) {
	t.Helper()
	proxies, err := server.ParseTrustedProxies("127.0.0.1,10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	return newApp(t, server.Options{TrustedProxies: proxies})
}

// createFrom calls ECR's CreateRepository, signed, through client, with an X-Forwarded-For header (none
// when xff is ""), which SigV4 does not sign: a proxy adds it.
func createFrom(t *testing.T, client *http.Client, base string, creds identity.Credentials, xff, name string) (int, string) {
	t.Helper()
	body := `{"repositoryName":"` + name + `"}`
	req, _ := http.NewRequest("POST", base+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.CreateRepository")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "ecr", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

// TestTrustedProxySourceIP: behind a trusted proxy, the audit trail records the client X-Forwarded-For
// names, and an aws:SourceIp condition is decided on it; a client cannot pass for another by writing the
// header itself, to the proxy (the proxy appends the real address) or straight to Wharf (not a proxy).
func TestTrustedProxySourceIP(t *testing.T) {
	app, base := behindProxy(t)
	const policy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:CreateRepository","Resource":"*",
		"Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}]}`
	pat := consoleUser(t, app, "pat", "Pat-pass-123", false, policy)
	direct := http.DefaultClient

	for i, c := range []struct {
		xff     string
		allowed bool
	}{
		{"203.0.113.7", true},
		{"203.0.113.7:51234", true},
		{"203.0.113.7, 10.1.2.3", true},      // through a second proxy
		{"198.51.100.1", false},              // a client outside the network
		{"203.0.113.7, 198.51.100.1", false}, // ... which wrote the header itself: the proxy appended its address
		{"", false},                          // no header: the proxy's own address
	} {
		code, body := createFrom(t, direct, base, pat, c.xff, fmt.Sprint("r", i))
		if c.allowed != (code == 200) || !c.allowed && !strings.Contains(body, "AccessDenied") {
			t.Errorf("X-Forwarded-For %q: %d %s; allowed %v", c.xff, code, body, c.allowed)
		}
	}
	if code, body := createFrom(t, direct, base, admin, "2001:db8::42", "admin1"); code != 200 {
		t.Fatalf("admin: %d %s", code, body)
	}
	// An untrusted peer's header is not read.
	untrusted := browserFrom(t, base, "127.0.0.9").c
	if code, body := createFrom(t, untrusted, base, pat, "203.0.113.7", "u1"); code == 200 || !strings.Contains(body, "AccessDenied") {
		t.Errorf("from an untrusted peer naming an allowed client: %d %s", code, body)
	}
	if code, body := createFrom(t, untrusted, base, admin, "203.0.113.99", "admin2"); code != 200 {
		t.Fatalf("admin from an untrusted peer: %d %s", code, body)
	}

	var got []string
	for _, r := range events(t, base, "CreateRepository") {
		got = append(got, fmt.Sprint(r["sourceIPAddress"]))
	}
	want := []string{"203.0.113.7", "203.0.113.7", "203.0.113.7", "198.51.100.1", "198.51.100.1", "127.0.0.1", "2001:db8::42", "127.0.0.9", "127.0.0.9"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the trail's source addresses: %v, want %v", got, want)
	}
}

// TestTrustedProxySignInLimits: behind a trusted proxy the console's sign-in limit per address counts
// each client's failures (an IPv6 client's /64), not the proxy's: a client that failed five times waits,
// another signs in. The proxy's X-Forwarded-Proto https makes the session cookie Secure.
func TestTrustedProxySignInLimits(t *testing.T) {
	app, base := behindProxy(t)
	consoleUser(t, app, "quinn", "Quinn-pass-1", false, ecrAll)
	signIn := func(xff, user, password string) (int, *http.Response) {
		t.Helper()
		in, _ := json.Marshal(map[string]string{"accountId": acct, "userName": user, "password": password})
		req, _ := http.NewRequest("POST", base+"/console/api/signin", strings.NewReader(string(in)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", xff)
		req.Header.Set("X-Forwarded-Proto", "https")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res
	}
	for _, attacker := range []string{"198.51.100.66", "2001:db8:1:2::66"} {
		for i := range 5 { // each for another user: only the address's count holds the client back
			if code, _ := signIn(attacker, fmt.Sprintf("nobody%d", i), "Guess-pass-1"); code != 401 {
				t.Fatalf("%s's guess %d: %d", attacker, i, code)
			}
		}
	}
	for _, c := range []struct {
		xff  string
		code int
	}{
		{"198.51.100.66", 429},
		{"2001:db8:1:2::77", 429}, // the same /64
		{"198.51.100.67", 200},
		{"2001:db8:1:3::66", 200},
	} {
		code, res := signIn(c.xff, "quinn", "Quinn-pass-1")
		if code != c.code {
			t.Errorf("quinn's right password from %s: %d, want %d", c.xff, code, c.code)
		}
		if code == 200 && !strings.Contains(res.Header.Get("Set-Cookie"), "Secure") {
			t.Errorf("the session cookie through an https proxy: %q", res.Header.Get("Set-Cookie"))
		}
	}
}

// TestForwardedHeadersIgnoredByDefault: without trusted proxies, X-Forwarded-For is nobody's word.
func TestForwardedHeadersIgnoredByDefault(t *testing.T) {
	_, base := newApp(t, server.Options{})
	if code, body := createFrom(t, http.DefaultClient, base, admin, "203.0.113.7", "app"); code != 200 {
		t.Fatalf("CreateRepository: %d %s", code, body)
	}
	recs := events(t, base, "CreateRepository")
	if len(recs) != 1 || recs[0]["sourceIPAddress"] != "127.0.0.1" {
		t.Errorf("the record's source address: %v", recs)
	}
}
