package registry_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/signing"
	"github.com/wharf-dev/wharf/internal/store"
)

const (
	profileA = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/profile_a"
	profileB = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/profile_b"
)

// testSigner signs with one key, or fails when fail is set.
type testSigner struct {
	key  *signing.Key
	fail bool
}

func (s *testSigner) Sign(ctx context.Context, registryID string, target ocispec.Descriptor) (signing.Signature, error) {
	if s.fail {
		return signing.Signature{}, errors.New("the key does not open")
	}
	env, err := signing.Envelope(s.key, target, time.Now())
	return signing.Signature{ArtifactType: signing.ArtifactType, MediaType: signing.EnvelopeMediaType, Envelope: env,
		Annotations: map[string]string{signing.ThumbprintAnnotation: signing.Thumbprints(s.key.Chain)}}, err
}

func newSigningEnv(t *testing.T) (*env, *testSigner) {
	key, err := signing.NewKey(reg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ts := &testSigner{key: key}
	return newEnv(t, registry.Config{Signer: ts}), ts
}

// runSigns runs the signing jobs due, each as its attempt-th attempt, and returns their errors.
func (e *env) runSigns(t *testing.T, attempt int) []error {
	t.Helper()
	var claimed []store.Job
	now := e.clock.Now()
	if err := e.meta.Update(ctx, func(tx store.Tx) (err error) {
		claimed, err = tx.ClaimJobs(registry.SignJobKind, "test", now, now.Add(time.Minute), 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var errs []error
	for _, j := range claimed {
		j.Attempts = attempt
		err := e.svc.RunSign(ctx, j)
		errs = append(errs, err)
		if err := e.meta.Update(ctx, func(tx store.Tx) error { return tx.CompleteJob(j.ID, "test") }); err != nil {
			t.Fatal(err)
		}
	}
	return errs
}

func (e *env) signingStatuses(t *testing.T, repo string, d digest.Digest) []store.ImageSigningStatus {
	t.Helper()
	st, err := e.svc.DescribeImageSigningStatus(ctx, reg, repo, registry.ImageRef{Digest: d})
	if err != nil {
		t.Fatal(err)
	}
	return st.Statuses
}

func TestSigningConfiguration(t *testing.T) {
	e, _ := newSigningEnv(t)
	_, err := e.svc.SigningConfiguration(ctx, reg)
	wantKind(t, err, registry.KindSigningConfigurationNotFound)
	_, err = e.svc.DeleteSigningConfiguration(ctx, reg)
	wantKind(t, err, registry.KindSigningConfigurationNotFound)

	for _, c := range []struct {
		cfg  registry.SigningConfiguration
		want string
	}{
		{registry.SigningConfiguration{}, "'signingConfiguration.rules' failed to satisfy constraint: 'Member must not be null'"},
		{registry.SigningConfiguration{Rules: []registry.SigningRule{{SigningProfileARN: "arn:aws:signer:us-east-1:1:/signing-profiles/x"}}},
			"'signingConfiguration.rules.1.signingProfileArn' failed to satisfy constraint: 'Member must satisfy regular expression pattern"},
		{registry.SigningConfiguration{Rules: []registry.SigningRule{{SigningProfileARN: profileA, RepositoryFilters: []registry.SigningRepositoryFilter{}}}},
			"'signingConfiguration.rules.1.repositoryFilters' failed to satisfy constraint: 'Member must have length greater than or equal to 1'"},
		{registry.SigningConfiguration{Rules: []registry.SigningRule{{SigningProfileARN: profileA, RepositoryFilters: []registry.SigningRepositoryFilter{{Filter: "a", FilterType: "WILDCARD"}}}}},
			"'signingConfiguration.rules.1.repositoryFilters.1.filterType' failed to satisfy constraint: 'Member must satisfy enum value set: [WILDCARD_MATCH]'"},
		{registry.SigningConfiguration{Rules: []registry.SigningRule{{SigningProfileARN: profileA, RepositoryFilters: []registry.SigningRepositoryFilter{{Filter: "A/*", FilterType: "WILDCARD_MATCH"}}}}},
			"'signingConfiguration.rules.1.repositoryFilters.1.filter' failed to satisfy constraint: 'Member must satisfy regular expression pattern"},
	} {
		err := e.svc.PutSigningConfiguration(ctx, reg, c.cfg)
		wantKind(t, err, registry.KindInvalidParameter)
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	cfg := registry.SigningConfiguration{Rules: []registry.SigningRule{{SigningProfileARN: profileA,
		RepositoryFilters: []registry.SigningRepositoryFilter{{Filter: "prod/*", FilterType: "WILDCARD_MATCH"}}}}}
	if err := e.svc.PutSigningConfiguration(ctx, reg, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.SigningConfiguration(ctx, reg)
	if err != nil || len(got.Rules) != 1 || got.Rules[0].SigningProfileARN != profileA || got.Rules[0].RepositoryFilters[0].Filter != "prod/*" {
		t.Errorf("configuration: %+v, %v", got, err)
	}
	if deleted, err := e.svc.DeleteSigningConfiguration(ctx, reg); err != nil || len(deleted.Rules) != 1 {
		t.Errorf("deleted: %+v, %v", deleted, err)
	}
	_, err = e.svc.SigningConfiguration(ctx, reg)
	wantKind(t, err, registry.KindSigningConfigurationNotFound)

	// Each change is in the outbox, as a policy's.
	var changes []string
	if err := e.meta.View(ctx, func(tx store.Tx) error {
		evs, err := tx.EventsAfter(store.EventPosition{}, 1000)
		for _, se := range evs {
			ev, err := registry.DecodeEvent(se)
			if err != nil {
				return err
			}
			if ev.Type == registry.EventPolicyChanged && ev.Policy == registry.PolicySigning && ev.RegistryID == reg {
				changes = append(changes, ev.Change)
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(changes, " ") != "set deleted" {
		t.Errorf("signing configuration events: %v", changes)
	}
}

func TestPushedImagesAreSigned(t *testing.T) {
	e, ts := newSigningEnv(t)
	for _, name := range []string{"prod/app", "dev/app"} {
		e.repo(t, name, "MUTABLE")
	}
	if err := e.svc.PutSigningConfiguration(ctx, reg, registry.SigningConfiguration{Rules: []registry.SigningRule{
		{SigningProfileARN: profileA, RepositoryFilters: []registry.SigningRepositoryFilter{{Filter: "prod/*", FilterType: "WILDCARD_MATCH"}}},
		{SigningProfileARN: profileB, RepositoryFilters: []registry.SigningRepositoryFilter{{Filter: "*", FilterType: "WILDCARD_MATCH"}}},
		{SigningProfileARN: profileB},
	}}); err != nil {
		t.Fatal(err)
	}
	prod := e.push(t, "prod/app", "v1", "prod")
	dev := e.push(t, "dev/app", "v1", "dev")
	st := e.signingStatuses(t, "prod/app", prod)
	if len(st) != 2 || st[0].ProfileARN != profileA || st[1].ProfileARN != profileB || st[0].Status != registry.SigningInProgress {
		t.Fatalf("prod/app before signing: %+v", st)
	}
	if st := e.signingStatuses(t, "dev/app", dev); len(st) != 1 || st[0].ProfileARN != profileB {
		t.Fatalf("dev/app before signing: %+v", st)
	}
	for _, err := range e.runSigns(t, 1) {
		if err != nil {
			t.Fatal(err)
		}
	}
	st = e.signingStatuses(t, "prod/app", prod)
	if len(st) != 2 || st[0].Status != registry.SigningComplete || st[1].Status != registry.SigningComplete || st[0].Signature == "" || st[0].Signature != st[1].Signature {
		t.Fatalf("prod/app after signing: %+v", st)
	}

	// The signature is the image's referrer, a Notary Project signature that verifies with the CA.
	refs, err := e.svc.Referrers(ctx, reg, "prod/app", prod, signing.ArtifactType)
	if err != nil || len(refs) != 1 || refs[0].Digest != st[0].Signature {
		t.Fatalf("referrers: %+v, %v", refs, err)
	}
	m, err := e.svc.GetManifest(ctx, reg, "prod/app", refs[0].Digest.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var sm ocispec.Manifest
	if err := json.Unmarshal(m.Content, &sm); err != nil {
		t.Fatal(err)
	}
	if sm.ArtifactType != signing.ArtifactType || len(sm.Layers) != 1 || sm.Layers[0].MediaType != "application/jose+json" || sm.Subject.Digest != prod {
		t.Fatalf("signature manifest: %s", m.Content)
	}
	_, rc, err := e.svc.OpenBlob(ctx, reg, "prod/app", sm.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	envelope, _ := io.ReadAll(rc)
	rc.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ts.key.CA())
	v, err := signing.Verify(envelope, roots)
	if err != nil || v.Target.Digest != prod || v.Target.MediaType != ocispec.MediaTypeImageManifest || v.Target.Size != sm.Subject.Size {
		t.Fatalf("envelope: %+v, %v", v, err)
	}
	// The signature itself is not signed.
	if st := e.signingStatuses(t, "prod/app", refs[0].Digest); len(st) != 0 {
		t.Errorf("the signature's signing: %+v", st)
	}
	if n := len(e.runSigns(t, 1)); n != 0 {
		t.Errorf("%d signing jobs after the signatures", n)
	}

	// Without a configuration, pushes are not signed; the signatures made stay.
	if _, err := e.svc.DeleteSigningConfiguration(ctx, reg); err != nil {
		t.Fatal(err)
	}
	later := e.push(t, "prod/app", "v2", "later")
	if st := e.signingStatuses(t, "prod/app", later); len(st) != 0 {
		t.Errorf("signing without a configuration: %+v", st)
	}
	if refs, _ := e.svc.Referrers(ctx, reg, "prod/app", prod, ""); len(refs) != 1 {
		t.Errorf("referrers after the configuration was deleted: %+v", refs)
	}
}

func TestSigningFailure(t *testing.T) {
	e, ts := newSigningEnv(t)
	e.repo(t, "app", "MUTABLE")
	if err := e.svc.PutSigningConfiguration(ctx, reg, registry.SigningConfiguration{Rules: []registry.SigningRule{{SigningProfileARN: profileA}}}); err != nil {
		t.Fatal(err)
	}
	ts.fail = true
	d := e.push(t, "app", "v1", "x")
	// An attempt that is not the last is retried: the status stays in progress while its job is queued.
	var claimed []store.Job
	if err := e.meta.Update(ctx, func(tx store.Tx) (err error) {
		claimed, err = tx.ClaimJobs(registry.SignJobKind, "test", e.clock.Now(), e.clock.Now().Add(time.Minute), 10)
		return err
	}); err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %d jobs: %v", len(claimed), err)
	}
	if err := e.svc.RunSign(ctx, claimed[0]); err == nil {
		t.Fatal("a failed attempt that is not the last succeeded")
	}
	if st := e.signingStatuses(t, "app", d); st[0].Status != registry.SigningInProgress {
		t.Fatalf("after a failed attempt: %+v", st)
	}
	if err := e.meta.Update(ctx, func(tx store.Tx) error { return tx.CompleteJob(claimed[0].ID, "test") }); err != nil {
		t.Fatal(err)
	}
	// Its job completed without it, as a job that died: the signing failed.
	if st := e.signingStatuses(t, "app", d); st[0].Status != registry.SigningFailed || st[0].FailureCode != registry.SigningErrorCode {
		t.Fatalf("after its job ended: %+v", st)
	}
	e2 := e.push(t, "app", "v2", "y")
	if errs := e.runSigns(t, registry.SignAttempts); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("last attempt: %v", errs)
	}
	st := e.signingStatuses(t, "app", e2)
	if len(st) != 1 || st[0].Status != registry.SigningFailed || st[0].FailureCode != registry.SigningErrorCode || st[0].FailureReason == "" {
		t.Fatalf("after the last attempt: %+v", st)
	}
}
