package oci

import (
	"net/http"
	"reflect"
	"testing"
)

// TestAccepted reads Accept headers as clients send them: several headers, lists, parameters, q=0 and
// malformed entries.
func TestAccepted(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		want   []string
	}{
		{nil, []string{"application/vnd.docker.distribution.manifest.v1+prettyjws", "application/vnd.docker.distribution.manifest.v1+json"}},
		{[]string{"application/vnd.oci.image.manifest.v1+json"}, []string{"application/vnd.oci.image.manifest.v1+json"}},
		{[]string{"application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json;q=0.9", "*/*"},
			[]string{"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.v2+json", "*/*"}},
		{[]string{"Application/VND.OCI.Image.Manifest.v1+JSON"}, []string{"application/vnd.oci.image.manifest.v1+json"}},
		{[]string{"application/vnd.oci.image.manifest.v1+json; q=0, application/json ; Q = 0.0", "text/plain;charset=utf-8"}, []string{"text/plain"}},
		{[]string{"garbage, /json, application/, a b/c"}, nil},
	} {
		r := &http.Request{Header: http.Header{}}
		for _, a := range tc.accept {
			r.Header.Add("Accept", a)
		}
		if got := accepted(r); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Accept %q: %q, want %q", tc.accept, got, tc.want)
		}
	}
}
