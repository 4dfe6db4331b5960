package oci

import (
	"net/http"
	"strings"
	"testing"

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
