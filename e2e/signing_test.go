package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestManagedSigning puts a signing configuration with the aws CLI, pushes an image with crane to a
// repository its rule matches, and waits for DescribeImageSigningStatus to say COMPLETE. The signature is
// the image's referrer (oras discover), and notation verifies it with the CA certificate of wharf signing
// certificate in its trust store. notation rejects an image pushed where no rule applies, and the same
// image with the first image's signature attached to it.
func TestManagedSigning(t *testing.T) {
	crane, oras, notation := tool(t, "crane"), tool(t, "oras"), tool(t, "notation")
	s := startServer(t, t.TempDir())
	work := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(work, "config")) // notation's trust store and policy
	const profile = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/wharf_ci"

	out := s.aws("ecr", "put-signing-configuration", "--signing-configuration",
		`{"rules":[{"signingProfileArn":"`+profile+`","repositoryFilters":[{"filter":"signed/*","filterType":"WILDCARD_MATCH"}]}]}`)
	var cfg struct {
		RegistryID           string
		SigningConfiguration struct {
			Rules []struct {
				SigningProfileArn string
				RepositoryFilters []struct{ Filter, FilterType string }
			}
		}
	}
	jsonOf(t, s.aws("ecr", "get-signing-configuration"), &cfg)
	if rules := cfg.SigningConfiguration.Rules; cfg.RegistryID != "000000000000" || len(rules) != 1 || rules[0].SigningProfileArn != profile ||
		len(rules[0].RepositoryFilters) != 1 || rules[0].RepositoryFilters[0].Filter != "signed/*" {
		t.Fatalf("get-signing-configuration: %+v (put answered %s)", cfg, out)
	}
	s.aws("ecr", "create-repository", "--repository-name", "signed/app")
	s.aws("ecr", "create-repository", "--repository-name", "plain/app")
	s.login()
	signed, plain := s.addr+"/signed/app", s.addr+"/plain/app"
	run(t, crane, "append", "--insecure", "-f", writeLayer(t, work, "app", map[string][]byte{"app": []byte("the app")}), "-t", signed+":v1")
	digest := strings.TrimSpace(run(t, crane, "digest", "--insecure", signed+":v1"))

	type status struct {
		ImageID         struct{ ImageDigest, ImageTag string }
		SigningStatuses []struct{ SigningProfileArn, Status, FailureCode, FailureReason string }
	}
	var st status
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		jsonOf(t, s.aws("ecr", "describe-image-signing-status", "--repository-name", "signed/app", "--image-id", "imageTag=v1"), &st)
		if len(st.SigningStatuses) != 1 {
			t.Fatalf("describe-image-signing-status: %+v", st)
		}
		if st.SigningStatuses[0].Status != "IN_PROGRESS" || time.Now().After(deadline) {
			break
		}
	}
	if got := st.SigningStatuses[0]; got.Status != "COMPLETE" || got.SigningProfileArn != profile || got.FailureCode != "" || st.ImageID.ImageDigest != digest {
		t.Fatalf("signing status: %+v", st)
	}

	// The signature is the image's referrer, a Notary Project signature.
	disc := run(t, oras, "discover", "--plain-http", "--format", "json", "--artifact-type", "application/vnd.cncf.notary.signature", signed+"@"+digest)
	var found struct {
		Referrers []struct{ Digest, ArtifactType string }
	}
	jsonOf(t, disc, &found)
	if len(found.Referrers) != 1 || found.Referrers[0].ArtifactType != "application/vnd.cncf.notary.signature" {
		t.Fatalf("oras discover:\n%s", disc)
	}

	// notation verifies it, trusting the CA certificate wharf prints.
	ca := filepath.Join(work, "wharf-ca.pem")
	if err := os.WriteFile(ca, []byte(s.wharf("signing", "certificate")), 0o644); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(work, "trustpolicy.json")
	if err := os.WriteFile(policy, []byte(`{"version":"1.0","trustPolicies":[{"name":"wharf","registryScopes":["*"],
		"signatureVerification":{"level":"strict"},"trustStores":["ca:wharf"],"trustedIdentities":["*"]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, notation, "cert", "add", "--type", "ca", "--store", "wharf", ca)
	run(t, notation, "policy", "import", "--force", policy)
	if out := run(t, notation, "verify", "--insecure-registry", signed+"@"+digest); !strings.Contains(out, "Successfully verified signature for "+signed+"@"+digest) {
		t.Fatalf("notation verify:\n%s", out)
	}

	// An image pushed where no rule applies is not signed, and notation says so.
	run(t, crane, "append", "--insecure", "-f", writeLayer(t, work, "other", map[string][]byte{"app": []byte("another app")}), "-t", plain+":v1")
	other := strings.TrimSpace(run(t, crane, "digest", "--insecure", plain+":v1"))
	jsonOf(t, s.aws("ecr", "describe-image-signing-status", "--repository-name", "plain/app", "--image-id", "imageDigest="+other), &st)
	if len(st.SigningStatuses) != 0 {
		t.Fatalf("an image no rule matches: %+v", st)
	}
	if out, err := runEnv(t, nil, nil, notation, "verify", "--insecure-registry", plain+"@"+other); err == nil || !strings.Contains(out, "no signature is associated") {
		t.Fatalf("notation verify of an unsigned image: %v\n%s", err, out)
	}
	// The signed image's signature attached to the other image does not verify it.
	sigManifest := run(t, crane, "manifest", "--insecure", signed+"@"+found.Referrers[0].Digest)
	envelope := filepath.Join(work, "signature.jws")
	if err := os.WriteFile(envelope, []byte(run(t, crane, "blob", "--insecure", signed+"@"+layerDigest(t, sigManifest))), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, oras, "attach", "--plain-http", "--disable-path-validation", "--artifact-type", "application/vnd.cncf.notary.signature", plain+"@"+other, envelope+":application/jose+json")
	if out, err := runEnv(t, nil, nil, notation, "verify", "--insecure-registry", plain+"@"+other); err == nil || !strings.Contains(out, "signature verification failed for all the signatures") {
		t.Fatalf("notation verify of an image with another's signature: %v\n%s", err, out)
	}

	// Deleted, the configuration is gone; the signature stays.
	s.aws("ecr", "delete-signing-configuration")
	if out, err := runEnv(t, s.awsEnv(), nil, tool(t, "aws"), "ecr", "get-signing-configuration"); err == nil || !strings.Contains(out, "SigningConfigurationNotFoundException") {
		t.Fatalf("get-signing-configuration after delete: %v\n%s", err, out)
	}
	run(t, notation, "verify", "--insecure-registry", signed+"@"+digest)
}
