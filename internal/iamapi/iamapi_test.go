package iamapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
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

const account = "000000000000"

var admin = identity.Credentials{AccessKeyID: "AKIAIAMTESTADMIN0001", SecretAccessKey: "iam-test-secret"}

type api struct {
	t   *testing.T
	url string
	app *server.App
	// clock is the server's: requests are signed at its time, and a test advances it past the time that
	// changes made outside the API take to show.
	clock *clock.Fake
}

func newAPI(t *testing.T) *api {
	dir := t.TempDir()
	st, err := server.OpenStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now())
	app, err := server.New(server.Options{DataDir: dir, Bootstrap: true, AdminCredentials: &admin, Clock: clk}, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(func() { srv.Close(); app.Close() })
	return &api{t: t, url: srv.URL, app: app, clock: clk}
}

type answer struct {
	status int
	code   string
	body   string
}

// call sends an IAM (or STS) Query request signed as the AWS CLI signs it.
func (a *api) call(creds identity.Credentials, service string, params url.Values) answer {
	a.t.Helper()
	return a.send(aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey}, service, params)
}

// callSession sends an IAM request signed with a role session's temporary credentials.
func (a *api) callSession(s *identity.Session, params url.Values) answer {
	a.t.Helper()
	return a.send(aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: s.SessionToken}, "iam", params)
}

func (a *api) send(creds aws.Credentials, service string, params url.Values) answer {
	a.t.Helper()
	if params.Get("Version") == "" {
		params.Set("Version", "2010-05-08")
		if service == "sts" {
			params.Set("Version", "2011-06-15")
		}
	}
	body := []byte(params.Encode())
	req, _ := http.NewRequest("POST", a.url+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", a.clock.Now()); err != nil {
		a.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var e struct {
		Code string `xml:"Error>Code"`
	}
	xml.Unmarshal(data, &e)
	return answer{res.StatusCode, e.Code, string(data)}
}

func (a *api) user(name, policy string) identity.Credentials {
	a.t.Helper()
	ctx := context.Background()
	if _, err := a.app.Identity.CreateUser(ctx, account, name); err != nil {
		a.t.Fatal(err)
	}
	if policy != "" {
		if err := a.app.Identity.PutUserPolicy(ctx, account, name, "p", policy); err != nil {
			a.t.Fatal(err)
		}
	}
	c, err := a.app.Identity.CreateAccessKey(ctx, account, name)
	if err != nil {
		a.t.Fatal(err)
	}
	return *c
}

func expect(t *testing.T, what string, got answer, status int, code string) {
	t.Helper()
	if got.status != status || got.code != code {
		t.Fatalf("%s: got %d %s, want %d %s\n%s", what, got.status, got.code, status, code, got.body)
	}
}

// TestCallsWithoutUserNameAreAuthorizedOnTheCaller: an IAM call that names no user acts on the caller,
// and is authorized on the caller's own ARN — not on "user/" as before, which refused the standard
// self-service policy and let a caller escape a Deny on its own ARN by leaving UserName out.
func TestCallsWithoutUserNameAreAuthorizedOnTheCaller(t *testing.T) {
	a := newAPI(t)
	carol := a.user("carol", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Action":["iam:CreateAccessKey","iam:ListAccessKeys","iam:UpdateAccessKey","iam:DeleteAccessKey","iam:GetUser"],
		"Resource":"arn:aws:iam::000000000000:user/${aws:username}"}]}`)
	dave := a.user("dave", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iam:*","Resource":"*"},
		{"Effect":"Deny","Action":["iam:CreateAccessKey","iam:DeleteAccessKey"],"Resource":"arn:aws:iam::000000000000:user/dave"}]}`)
	a.clock.Advance(1100 * time.Millisecond) // policies set outside the API are seen within a second

	// Self-service: carol manages her own keys without naming herself, and nobody else's.
	r := a.call(carol, "iam", url.Values{"Action": {"CreateAccessKey"}})
	expect(t, "carol creates her own key", r, 200, "")
	if !strings.Contains(r.body, "<UserName>carol</UserName>") {
		t.Fatalf("the key is not carol's: %s", r.body)
	}
	expect(t, "carol lists her keys", a.call(carol, "iam", url.Values{"Action": {"ListAccessKeys"}}), 200, "")
	expect(t, "carol names herself", a.call(carol, "iam", url.Values{"Action": {"CreateAccessKey"}, "UserName": {"carol"}}), 200, "")
	expect(t, "carol creates dave's key", a.call(carol, "iam", url.Values{"Action": {"CreateAccessKey"}, "UserName": {"dave"}}), 403, "AccessDenied")
	expect(t, "carol creates the admin's key", a.call(carol, "iam", url.Values{"Action": {"CreateAccessKey"}, "UserName": {"admin"}}), 403, "AccessDenied")

	// A Deny on dave's own ARN holds whether or not he names himself.
	expect(t, "dave, named", a.call(dave, "iam", url.Values{"Action": {"CreateAccessKey"}, "UserName": {"dave"}}), 403, "AccessDenied")
	r = a.call(dave, "iam", url.Values{"Action": {"CreateAccessKey"}})
	expect(t, "dave, unnamed", r, 403, "AccessDenied")
	if !strings.Contains(r.body, "arn:aws:iam::000000000000:user/dave") {
		t.Fatalf("the denial does not name dave's ARN: %s", r.body)
	}
	keys, _ := a.app.Identity.AccessKeys(context.Background(), account, "dave")
	if len(keys) != 1 {
		t.Fatalf("dave has %d keys", len(keys))
	}
	// A key of another user is not found through one's own name.
	expect(t, "dave deletes carol's key as his", a.call(dave, "iam", url.Values{"Action": {"UpdateAccessKey"}, "AccessKeyId": {carol.AccessKeyID}, "Status": {"Inactive"}}), 404, "NoSuchEntity")
}

// TestQueryBodyDecodedOnce: a parameter given twice could be read differently by two readers; it is
// refused.
func TestQueryBodyDecodedOnce(t *testing.T) {
	a := newAPI(t)
	r := a.call(admin, "iam", url.Values{"Action": {"CreateAccessKey"}, "UserName": {"carol", "admin"}})
	expect(t, "UserName twice", r, 400, "MalformedQueryString")
	if keys, _ := a.app.Identity.AccessKeys(context.Background(), account, "admin"); len(keys) != 1 {
		t.Fatalf("admin has %d keys", len(keys))
	}
}

// TestRoleSessionMustNameTheUser: temporary credentials have no user to default to.
func TestRoleSessionMustNameTheUser(t *testing.T) {
	a := newAPI(t)
	ctx := context.Background()
	if _, err := a.app.Identity.CreateRole(ctx, account, "ops", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}`, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.app.Identity.AttachOwnerPolicy(ctx, account, identity.RolePolicies, "ops", "arn:aws:iam::aws:policy/AdministratorAccess"); err != nil {
		t.Fatal(err)
	}
	sess, err := a.app.Identity.AssumeRole(ctx, account, "ops", "s1", 0)
	if err != nil {
		t.Fatal(err)
	}
	r := a.callSession(sess, url.Values{"Action": {"CreateAccessKey"}})
	expect(t, "session without UserName", r, 400, "ValidationError")
}

// TestEntityNamesCannotSplitTheTarget: a name with a '/' (or anything else IAM's pattern refuses) is
// refused before it becomes part of the ARN authorized. Before, UserName=contractors/admin was authorized
// on user/contractors/admin and acted on admin.
func TestEntityNamesCannotSplitTheTarget(t *testing.T) {
	a := newAPI(t)
	carol := a.user("carol", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["iam:CreateAccessKey","iam:AttachUserPolicy","iam:PutGroupPolicy","iam:PutRolePolicy"],
		 "Resource":["arn:aws:iam::000000000000:user/contractors/*","arn:aws:iam::000000000000:group/contractors/*","arn:aws:iam::000000000000:role/contractors/*"]}]}`)
	a.clock.Advance(1100 * time.Millisecond)
	for _, tc := range []url.Values{
		{"Action": {"CreateAccessKey"}, "UserName": {"contractors/admin"}},
		{"Action": {"CreateAccessKey"}, "UserName": {"contractors/../admin"}},
		{"Action": {"AttachUserPolicy"}, "UserName": {"contractors/carol"}, "PolicyArn": {"arn:aws:iam::aws:policy/AdministratorAccess"}},
		{"Action": {"PutGroupPolicy"}, "GroupName": {"contractors/admins"}, "PolicyName": {"p"}, "PolicyDocument": {`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`}},
		{"Action": {"PutRolePolicy"}, "RoleName": {"contractors/ops"}, "PolicyName": {"p"}, "PolicyDocument": {`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`}},
	} {
		expect(t, tc.Encode(), a.call(carol, "iam", tc), 400, "ValidationError")
	}
	if keys, _ := a.app.Identity.AccessKeys(context.Background(), account, "admin"); len(keys) != 1 {
		t.Fatalf("admin has %d keys", len(keys))
	}
	if _, attached, _ := a.app.Identity.UserPolicies(context.Background(), account, "carol"); len(attached) != 0 {
		t.Fatalf("carol got %v", attached)
	}
}

// TestPolicyARNCondition: a Deny on attaching one managed policy (iam:PolicyARN) holds. Before, the key
// was never given, so such a Deny never matched and a user could make himself an administrator.
func TestPolicyARNCondition(t *testing.T) {
	a := newAPI(t)
	pat := a.user("pat", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["iam:AttachUserPolicy","iam:ListUsers"],"Resource":"*"},
		{"Effect":"Deny","Action":"iam:AttachUserPolicy","Resource":"*","Condition":{"ArnEquals":{"iam:PolicyARN":"arn:aws:iam::aws:policy/AdministratorAccess"}}}]}`)
	a.clock.Advance(1100 * time.Millisecond)
	expect(t, "attach AdministratorAccess", a.call(pat, "iam", url.Values{"Action": {"AttachUserPolicy"}, "UserName": {"pat"},
		"PolicyArn": {"arn:aws:iam::aws:policy/AdministratorAccess"}}), 403, "AccessDenied")
	expect(t, "attach ReadOnly", a.call(pat, "iam", url.Values{"Action": {"AttachUserPolicy"}, "UserName": {"pat"},
		"PolicyArn": {"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"}}), 200, "")
}
