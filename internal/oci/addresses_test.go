package oci_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/registry"
)

// asNewAccount makes c act as the admin of a new account.
func asNewAccount(c *client, id string) {
	c.t.Helper()
	creds, err := c.app.Identity.CreateAccount(context.Background(), id)
	if err != nil {
		c.t.Fatal(err)
	}
	_, p, err := c.app.Identity.LookupKey(context.Background(), creds.AccessKeyID)
	if err != nil {
		c.t.Fatal(err)
	}
	c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte("AWS:"+c.app.Identity.IssueToken(p, time.Now().Add(time.Hour))))
}

// TestListingsNameWhatLeadsBack: on one host for all accounts, the catalog and the tag list name a
// default-account repository whose name begins with an account id by its path, account prefix included:
// the bare name addresses that other account's repository. Following the catalog's Link works.
func TestListingsNameWhatLeadsBack(t *testing.T) {
	c := newServer(t, registry.Config{})
	c.repo("111122223333/app", "")
	c.repo("zz", "")
	c.pushImage("000000000000/111122223333/app", "v1")
	c.pushImage("000000000000/111122223333/app", "v2")

	r := c.do("GET", "/v2/_catalog?n=1", nil)
	c.expect(r, 200, "")
	if string(r.body) != `{"repositories":["000000000000/111122223333/app"]}` {
		t.Errorf("catalog: %s", r.body)
	}
	link := r.header.Get("Link")
	if want := `</v2/_catalog?last=000000000000%2F111122223333%2Fapp&n=1>; rel="next"`; link != want {
		t.Fatalf("catalog Link %q, want %q", link, want)
	}
	r = c.do("GET", link[1:len(link)-len(`>; rel="next"`)], nil)
	if string(r.body) != `{"repositories":["zz"]}` {
		t.Errorf("catalog page 2: %s", r.body)
	}

	r = c.do("GET", "/v2/000000000000/111122223333/app/tags/list?n=1", nil)
	var tl struct{ Name string }
	json.Unmarshal(r.body, &tl)
	if tl.Name != "000000000000/111122223333/app" {
		t.Errorf("tags/list name %q", tl.Name)
	}
	if link := r.header.Get("Link"); link != `</v2/000000000000/111122223333/app/tags/list?last=v1&n=1>; rel="next"` {
		t.Errorf("tags/list Link %q", link)
	}
}

// TestEmptyNameIsRefusedBeforeItRuns: a path whose repository name is empty once its account prefix is
// taken off is refused as an invalid name before authorization, for every route: it never reaches the
// operation unauthorized, whoever calls, create-on-push or not.
func TestEmptyNameIsRefusedBeforeItRuns(t *testing.T) {
	c := newServer(t, registry.Config{CreateOnPush: true})
	asNewAccount(c, "444455556666")
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	d := "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	for _, prefix := range []string{"/v2/", "/v2/000000000000/", "/v2/111122223333/"} {
		for _, rq := range []struct {
			method, path string
			body         []byte
		}{
			{"GET", "/tags/list", nil},
			{"PUT", "/manifests/v1", index},
			{"GET", "/manifests/v1", nil},
			{"DELETE", "/manifests/v1", nil},
			{"GET", "/referrers/" + d, nil},
			{"GET", "/blobs/" + d, nil},
			{"HEAD", "/blobs/" + d, nil},
			{"POST", "/blobs/uploads/?digest=" + d, []byte("{}")},
			{"POST", "/blobs/uploads/?mount=" + d + "&from=x", nil},
			{"PATCH", "/blobs/uploads/id", []byte("x")},
		} {
			path := prefix + rq.path
			r := c.do(rq.method, path, rq.body, "Content-Type", "application/vnd.oci.image.index.v1+json")
			if rq.method == "HEAD" {
				if r.status != 400 {
					t.Errorf("%s %s: %d", rq.method, path, r.status)
				}
				continue
			}
			if r.status != 400 || r.code() != "NAME_INVALID" {
				t.Errorf("%s %s: %d %s", rq.method, path, r.status, r.body)
			}
		}
	}
	if names, _, _ := c.app.Service.Catalog(context.Background(), "000000000000", "", 10); len(names) != 0 {
		t.Fatalf("repositories created: %q", names)
	}
}

// TestMalformedHostIsRefused: HTTP/2 requests reach handlers with any :authority (net/http checks the
// Host of HTTP/1 requests only), and the challenge realm, URIs and endpoints are built on it: a Host
// with a quote would write parameters into the WWW-Authenticate header. Such requests are refused.
func TestMalformedHostIsRefused(t *testing.T) {
	c := newServer(t, registry.Config{})
	for _, host := range []string{`registry.example", evil="1`, "a b", `111122223333.x\"`} {
		req := httptest.NewRequest("GET", "/v2/", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		c.app.Handler.ServeHTTP(rec, req)
		if rec.Code != 400 || rec.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("Host %q: %d, WWW-Authenticate %q", host, rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
	}
	req := httptest.NewRequest("GET", "/v2/", nil)
	req.Host = "[::1]:5000"
	rec := httptest.NewRecorder()
	c.app.Handler.ServeHTTP(rec, req)
	if want := `Basic realm="http://[::1]:5000/",service="ecr.amazonaws.com"`; rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != want {
		t.Errorf("IPv6 host: %d %q, want 401 %q", rec.Code, rec.Header().Get("WWW-Authenticate"), want)
	}
}
