package peer

import (
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/registry"
)

func TestEndpoints(t *testing.T) {
	e := Endpoints{}
	for _, v := range []string{"us-west-2=https://wharf-west.example.com/", "eu-west-1=http://10.0.0.1:5000,ap-south-1=https://south.example.com",
		`["ca-central-1=https://ca.example.com"]`, `{"sa-east-1":"https://sa.example.com"}`} {
		if err := e.Set(v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
	}
	want := "ap-south-1=https://south.example.com,ca-central-1=https://ca.example.com,eu-west-1=http://10.0.0.1:5000,sa-east-1=https://sa.example.com,us-west-2=https://wharf-west.example.com"
	if e.String() != want {
		t.Fatalf("peers: %s", e)
	}
	for _, bad := range []string{"us-west-2", "=https://x", "US_WEST=https://x", "us-west-2=ftp://x", "us-west-2=https://x/path"} {
		if err := (Endpoints{}).Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAnswers(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   error
	}{
		{201, "", nil},
		{503, "", registry.ErrPeerUnavailable},
		{429, "", registry.ErrPeerUnavailable},
		{401, "", registry.ErrPeerUnauthorized},
		{400, `{"__type":"UnrecognizedClientException"}`, registry.ErrPeerUnauthorized},
		{403, `{"errors":[{"code":"DENIED"}]}`, registry.ErrPeerDenied},
		{403, `{"errors":[{"code":"DENIED","message":"User: arn:aws:iam::000000000000:user/r is not authorized to perform: ecr:CreateRepository on resource: …"}]}`, registry.ErrPeerCreateDenied},
	} {
		err := answer(&http.Response{StatusCode: c.status}, []byte(c.body), "put")
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("HTTP %d %s: %v, want %v", c.status, c.body, err, c.want)
		}
	}
	if err := answer(&http.Response{StatusCode: 400}, []byte("MANIFEST_INVALID"), "put"); err == nil || errors.Is(err, registry.ErrPeerUnavailable) {
		t.Errorf("a bad request: %v", err)
	}
}

// TestEndpointsFromTheEnvironmentAndAConfigFile: the flags as wharf serve declares them, set by
// WHARF_REPLICATION_PEERS and by a config file's list.
func TestEndpointsFromTheEnvironmentAndAConfigFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "wharf.json")
	if err := os.WriteFile(file, []byte(`{"replication-peer": ["eu-west-1=https://eu.example.com"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WHARF_REPLICATION_PEERS", "us-west-2=https://west.example.com,ap-south-1=https://south.example.com")
	e := Endpoints{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.String("config", "", "")
	fs.Var(e, "replication-peer", "")
	fs.Var(e, "replication-peers", "")
	if _, err := config.Parse(fs, []string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	if want := "ap-south-1=https://south.example.com,eu-west-1=https://eu.example.com,us-west-2=https://west.example.com"; e.String() != want {
		t.Fatalf("peers: %s", e)
	}
}
