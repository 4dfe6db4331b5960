package oci

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/pipeline"

	"github.com/wharf-dev/wharf/internal/registry"
)

func TestParseRoute(t *testing.T) {
	cases := map[string]route{
		"/v2/":                                {kind: "ping"},
		"/v2/_catalog":                        {kind: "catalog"},
		"/v2/a/b/tags/list":                   {kind: "tags", name: "a/b", action: "ecr:ListImages"},
		"/v2/team/blobs/manifests/v1":         {kind: "manifest", name: "team/blobs", ref: "v1", action: "ecr:BatchGetImage"},
		"/v2/x/blobs/sha256:ab":               {kind: "blob", name: "x", ref: "sha256:ab", action: "ecr:GetDownloadUrlForLayer"},
		"/v2/x/blobs/uploads/":                {kind: "uploads", name: "x", action: "ecr:InitiateLayerUpload"},
		"/v2/x/blobs/uploads/abc":             {kind: "upload", name: "x", ref: "abc", action: "ecr:UploadLayerPart"},
		"/v2/x/blobs/uploads/blobs/uploads/i": {kind: "upload", name: "x/blobs/uploads", ref: "i", action: "ecr:UploadLayerPart"},
		"/v2/x/referrers/sha256:ab":           {kind: "referrers", name: "x", ref: "sha256:ab", action: "ecr:BatchGetImage"},
		"/v2/x/blobs/sha256:a%2Fb":            {kind: "blob", name: "x", ref: "sha256:a/b", action: "ecr:GetDownloadUrlForLayer"},
	}
	for path, want := range cases {
		got, ok := parseRoute(http.MethodGet, path)
		if !ok || got != want {
			t.Errorf("%s: got %+v %v, want %+v", path, got, ok, want)
		}
	}
	for _, path := range []string{"/v3/", "/v2/x", "/v2/x/nothing", "/v2/x/blobs/%zz"} {
		if _, ok := parseRoute(http.MethodGet, path); ok {
			t.Errorf("%s: parsed", path)
		}
	}
}

// TestRouteActions is the registry API's table of ECR actions: every method of every route, writes
// included, needs the action ECR's API needs for the same thing.
func TestRouteActions(t *testing.T) {
	for _, c := range []struct{ method, path, action string }{
		{"GET", "/v2/", ""},
		{"GET", "/v2/_catalog", ""},
		{"GET", "/v2/a/b/tags/list", "ecr:ListImages"},
		{"GET", "/v2/a/manifests/v1", "ecr:BatchGetImage"},
		{"HEAD", "/v2/a/manifests/v1", "ecr:BatchGetImage"},
		{"PUT", "/v2/a/manifests/v1", "ecr:PutImage"},
		{"DELETE", "/v2/a/manifests/sha256:ab", "ecr:BatchDeleteImage"},
		{"GET", "/v2/a/referrers/sha256:ab", "ecr:BatchGetImage"},
		{"GET", "/v2/a/blobs/sha256:ab", "ecr:GetDownloadUrlForLayer"},
		{"HEAD", "/v2/a/blobs/sha256:ab", "ecr:BatchCheckLayerAvailability"},
		{"DELETE", "/v2/a/blobs/sha256:ab", "ecr:BatchDeleteImage"},
		{"POST", "/v2/a/blobs/uploads/", "ecr:InitiateLayerUpload"},
		{"GET", "/v2/a/blobs/uploads/id", "ecr:UploadLayerPart"},
		{"PATCH", "/v2/a/blobs/uploads/id", "ecr:UploadLayerPart"},
		{"PUT", "/v2/a/blobs/uploads/id", "ecr:CompleteLayerUpload"},
		{"DELETE", "/v2/a/blobs/uploads/id", "ecr:UploadLayerPart"},
	} {
		rt, ok := parseRoute(c.method, c.path)
		if !ok || rt.action != c.action {
			t.Errorf("%s %s: action %q (parsed %v), want %q", c.method, c.path, rt.action, ok, c.action)
		}
		if !slices.Contains(methods[rt.kind], c.method) {
			t.Errorf("%s %s: method not served", c.method, c.path)
		}
	}
}

// TestMountNeedsReadOnItsSource: a cross-repository mount is authorized on both repositories: pushing to
// the one, reading the other.
func TestMountNeedsReadOnItsSource(t *testing.T) {
	in := &request{route: route{kind: "uploads", name: "dst", action: "ecr:InitiateLayerUpload"}}
	same := func(from string) (string, bool) { return from, true }
	if err := in.decode("mount=sha256:ab&from=src", same); err != nil {
		t.Fatal(err)
	}
	ts, err := in.targets(&pipeline.Call{RegistryID: "000000000000"})
	if err != nil || !reflect.DeepEqual(ts, []pipeline.Target{pipeline.Repository("ecr:InitiateLayerUpload", "000000000000", "dst"),
		pipeline.Repository("ecr:BatchGetImage", "000000000000", "src")}) {
		t.Fatalf("targets %+v %v", ts, err)
	}
	// A source in another registry is not mounted from: the target registry's own holders are, if readable.
	in = &request{route: route{kind: "uploads", name: "dst", action: "ecr:InitiateLayerUpload"}}
	if err := in.decode("mount=sha256:ab&from=111122223333/src", func(string) (string, bool) { return "src", false }); err != nil || in.mount != "" {
		t.Fatalf("cross-registry mount source kept: %q %v", in.mount, err)
	}
}

// FuzzParseRoute checks that any path parses without panicking and that what it names is either refused
// by validation or free of path tricks.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/v2/", "/v2/a/b/manifests/latest", "/v2/a/blobs/uploads/x", "/v2/../x/tags/list", "/v2/a/blobs/sha256:%2e%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, ok := parseRoute(http.MethodGet, path)
		if !ok || rt.name == "" {
			return
		}
		if registry.ValidateRepositoryName(rt.name) == nil {
			for _, seg := range strings.Split(rt.name, "/") {
				if seg == "" || seg == "." || seg == ".." {
					t.Fatalf("valid name %q has segment %q", rt.name, seg)
				}
			}
		}
	})
}

func TestSatisfiableRange(t *testing.T) {
	for _, c := range []struct {
		header string
		size   int64
		want   bool
	}{
		{"bytes=0-99", 100, true}, {"bytes=500-", 1000, true}, {"bytes=-500", 1000, true}, {"bytes=2000-5000", 3000, true},
		{"bytes=500-0", 1000, false}, {"bytes=1000-", 1000, false}, {"bytes=-0", 1000, false}, {"bytes=0-0", 0, false},
		{"items=0-1", 10, false}, {"bytes=a-b", 10, false}, {"bytes=5", 10, false}, {"bytes=0-1, 3-2", 10, false}, {"bytes=0-1,4-5", 10, true},
	} {
		if got := satisfiable(c.header, c.size); got != c.want {
			t.Errorf("satisfiable(%q, %d) = %v", c.header, c.size, got)
		}
	}
}

// TestEveryRepositoryRouteNamesOne: a route on a repository with an empty name (/v2//tags/list, or
// /v2/<account>//tags/list once the account is taken off) is refused when decoded, before it is
// authorized: an empty name would leave it without targets, which lets any identified caller through.
func TestEveryRepositoryRouteNamesOne(t *testing.T) {
	for kind := range methods {
		in := &request{route: route{kind: kind}}
		err := in.decode("", nil)
		if want := kind == "ping" || kind == "catalog"; (err == nil) != want {
			t.Errorf("%s with no name: decode error %v", kind, err)
		}
	}
}

// TestAuditOfOverlongNames: a request's name and reference may be about a megabyte (a URL's length); what
// the audit trail keeps of them, its key and summary, is cut to what no valid one exceeds.
func TestAuditOfOverlongNames(t *testing.T) {
	long := strings.Repeat("a", 1<<20)
	for _, path := range []string{"/v2/" + long + "/manifests/v1", "/v2/x/manifests/" + long, "/v2/x/blobs/sha256:" + long,
		"/v2/x/blobs/uploads/" + long} {
		rt, ok := parseRoute(http.MethodGet, path)
		if !ok {
			rt, ok = parseRoute(http.MethodPatch, path)
		}
		if !ok {
			t.Fatalf("%.40s…: no route", path)
		}
		in := &request{route: rt, query: map[string][]string{"digest": {long}, "mount": {long}}}
		for _, s := range in.AuditKey() {
			if len(s) > 1024 {
				t.Fatalf("%.40s…: a key of %d bytes", path, len(s))
			}
		}
		data, err := json.Marshal(in.AuditSummary())
		if err != nil || len(data) > 2048 {
			t.Fatalf("%.40s…: a summary of %d bytes (%v)", path, len(data), err)
		}
	}
}
