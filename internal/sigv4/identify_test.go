package sigv4

import (
	"context"
	"crypto/sha256"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

// TestIdentifyReplay is the reported attack, end to end through Identify: an admin's IAM ListUsers, signed
// by botocore and captured, sent again as CreateAccessKey UserName=admin with an unsigned
// X-Amz-Content-Sha256 that states the hash of the body that was signed.
func TestIdentifyReplay(t *testing.T) {
	var listUsers botocoreCase
	for _, c := range loadBotocore(t) {
		if c.Name == "iam-list-users" {
			listUsers = c
		}
	}
	dir := t.TempDir()
	meta, err := sqlite.Open(filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	secret, err := identity.LoadOrCreateSecret(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := identity.NewKeyring(secret)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(listUsers.Time)
	ids := identity.New(meta, keys, clk, "us-east-1")
	if _, err := ids.Bootstrap(context.Background(), "000000000000",
		&identity.Credentials{AccessKeyID: listUsers.Key, SecretAccessKey: listUsers.Secret}); err != nil {
		t.Fatal(err)
	}
	s := NewIdentifier(ids, "us-east-1", clk, "iam", "sts")

	// The credential the handlers build: the request and the hash of the body they read.
	identify := func(r *http.Request, body []byte) (identity.Principal, error) {
		return Signed{Identifier: s, Request: r, BodySHA256: sha256.Sum256(body)}.Identify(context.Background())
	}
	body := []byte(listUsers.Body)
	r := listUsers.request(body)
	p, err := identify(r, body)
	if err != nil || p.AccountID != "000000000000" {
		t.Fatalf("Identify(ListUsers) = %+v, %v", p, err)
	}

	forged := []byte("Action=CreateAccessKey&UserName=admin&Version=2010-05-08")
	r = listUsers.request(forged)
	r.Header.Set("X-Amz-Content-Sha256", hexSHA256(body))
	if p, err := identify(r, forged); code(err) != "InvalidSignatureException" {
		t.Fatalf("replayed as CreateAccessKey: Identify = %+v, %v; want InvalidSignatureException", p, err)
	}
	r = listUsers.request(forged)
	if p, err := identify(r, forged); code(err) != "InvalidSignatureException" {
		t.Fatalf("replayed as CreateAccessKey without the header: Identify = %+v, %v; want InvalidSignatureException", p, err)
	}
}
