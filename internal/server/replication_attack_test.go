package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/store"
)

// registryPassword is the registry API's password of creds (GetAuthorizationToken).
func registryPassword(t *testing.T, base string, creds identity.Credentials) string {
	t.Helper()
	code, body := signedCall(t, base, "ecr", "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken", creds, `{}`)
	var out struct {
		AuthorizationData []struct{ AuthorizationToken string }
	}
	if json.Unmarshal([]byte(body), &out); code != 200 || len(out.AuthorizationData) == 0 {
		t.Fatalf("GetAuthorizationToken: %d %s", code, body)
	}
	raw, _ := base64.StdEncoding.DecodeString(out.AuthorizationData[0].AuthorizationToken)
	return strings.TrimPrefix(string(raw), "AWS:")
}

// TestReplicationHeaderGivesNothing: the X-Wharf-Replication header, which any client may send, lets a user
// of an account another account's registry policy lets replicate into it push there, and nothing else: no
// pull, listing, delete or mount of what is there; a user whose own policies do not allow ecr:ReplicateImage
// may not even push; an anonymous client is refused.
func TestReplicationHeaderGivesNothing(t *testing.T) {
	const dest = "444455556666"
	app, base := newApp(t, server.Options{AccountID: acct})
	ctx := context.Background()
	if _, err := app.Identity.CreateAccount(ctx, dest); err != nil {
		t.Fatal(err)
	}
	if err := app.Service.PutRegistryPolicy(ctx, dest, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::`+acct+`:root"},"Action":["ecr:ReplicateImage","ecr:CreateRepository"],"Resource":"arn:aws:ecr:us-east-1:`+dest+`:repository/*"}]}`); err != nil {
		t.Fatal(err)
	}
	// An image of the destination account, which the replicating account may not read.
	if _, err := app.Service.CreateRepository(ctx, store.Repository{RegistryID: dest, Name: "secret"}); err != nil {
		t.Fatal(err)
	}
	layer := "the destination's own layer"
	ld := digest.FromString(layer)
	if _, err := app.Service.PutBlob(ctx, dest, "secret", ld, strings.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	cd := digest.FromString("{}")
	if _, err := app.Service.PutBlob(ctx, dest, "secret", cd, strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}
	mf := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}`,
		cd, ld, len(layer))
	if _, err := app.Service.PutManifest(ctx, dest, "secret", "v1", "application/vnd.oci.image.manifest.v1+json", []byte(mf)); err != nil {
		t.Fatal(err)
	}

	replicator := registryPassword(t, base, consoleUser(t, app, "replicator", "Passw0rd!Passw0rd", false, ecrAll))
	pusher := registryPassword(t, base, consoleUser(t, app, "pusher", "Passw0rd!Passw0rd", false,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:InitiateLayerUpload",
		"ecr:UploadLayerPart","ecr:CompleteLayerUpload","ecr:PutImage","ecr:CreateRepository"],"Resource":"*"}]}`))
	call := func(password, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set(oci.ReplicationHeader, "us-west-2")
		if password != "" {
			req.SetBasicAuth("AWS", password)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	secret := "/v2/" + dest + "/secret"
	for _, c := range []struct{ method, path string }{
		{"GET", secret + "/manifests/v1"},
		{"HEAD", secret + "/manifests/v1"},
		{"GET", secret + "/blobs/" + ld.String()},
		{"GET", secret + "/tags/list"},
		{"GET", secret + "/referrers/" + ld.String()},
		{"DELETE", secret + "/manifests/v1"},
		{"DELETE", secret + "/blobs/" + ld.String()},
	} {
		if code, body := call(replicator, c.method, c.path, ""); code != http.StatusForbidden {
			t.Errorf("%s %s marked: %d %s", c.method, c.path, code, body)
		}
	}
	if code, body := call(replicator, "GET", "/v2/_catalog", ""); strings.Contains(body, "secret") {
		t.Errorf("the catalog lists the destination's repository: %d %s", code, body)
	}
	// A mount of the destination's blob into a repository the replication may push to: not mounted, an
	// upload session instead.
	code, body := call(replicator, "POST", "/v2/"+dest+"/mine/blobs/uploads/?mount="+ld.String()+"&from="+dest+"/secret", "")
	if code == http.StatusCreated {
		t.Fatalf("the destination's blob mounted by a replication: %d %s", code, body)
	}
	if _, err := app.Service.StatBlob(ctx, dest, "mine", ld); err == nil {
		t.Fatal("the destination's blob is in the replication's repository")
	}
	// What a replication does: push, into the repository it creates.
	blob := "replicated layer"
	if code, body := call(replicator, "POST", "/v2/"+dest+"/mine/blobs/uploads/?digest="+digest.FromString(blob).String(), blob); code != http.StatusCreated {
		t.Fatalf("a replication's upload: %d %s", code, body)
	}
	// Not for a user whose own policies do not allow ecr:ReplicateImage, nor for anyone anonymous.
	for _, password := range []string{pusher, ""} {
		if code, body := call(password, "POST", "/v2/"+dest+"/other/blobs/uploads/?digest="+digest.FromString(blob).String(), blob); code/100 != 4 {
			t.Errorf("an upload by a caller who may not replicate: %d %s", code, body)
		}
	}
	if _, err := app.Service.Repository(ctx, dest, "other"); err == nil {
		t.Error("a caller who may not replicate created a repository")
	}
}
