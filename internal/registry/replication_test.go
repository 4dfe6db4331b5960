package registry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

const (
	region = "us-east-1"
	dstReg = "111111111111"
)

// grants is a fake destination registry policy: the actions it allows the source account.
type grants map[string]bool

func (g grants) allow(ctx context.Context, source, registryID, repository, action string) error {
	if source != reg || registryID != dstReg || !g[action] {
		return errors.New("denied")
	}
	return nil
}

func newReplicationEnv(t *testing.T, g grants) *env {
	e := newEnv(t, registry.Config{})
	e.svc.ReplicateWith(region, g.allow)
	return e
}

// runReplications runs the replication jobs due, each as its attempt-th attempt, and returns their errors.
func (e *env) runReplications(t *testing.T, attempt int) []error {
	return e.runReplicationJobs(t, attempt, false)
}

// runReplicationJobs runs the replication jobs due, each as its attempt-th attempt, and returns their
// errors; with retry, a job that fails is due again at once, else every job ends.
func (e *env) runReplicationJobs(t *testing.T, attempt int, retry bool) []error {
	t.Helper()
	var claimed []store.Job
	now := e.clock.Now()
	if err := e.meta.Update(ctx, func(tx store.Tx) (err error) {
		claimed, err = tx.ClaimJobs(registry.ReplicateJobKind, "test", now, now.Add(time.Minute), 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var errs []error
	for _, j := range claimed {
		j.Attempts = attempt
		err := e.svc.RunReplication(ctx, j)
		errs = append(errs, err)
		if err := e.meta.Update(ctx, func(tx store.Tx) error {
			if err != nil && retry {
				_, err := tx.FailJob(j.ID, "test", err.Error(), now)
				return err
			}
			return tx.CompleteJob(j.ID, "test")
		}); err != nil {
			t.Fatal(err)
		}
	}
	return errs
}

// replication lists an image's statuses as "region/registry STATUS code".
func (e *env) replication(t *testing.T, repo string, d digest.Digest) []string {
	t.Helper()
	st, err := e.svc.DescribeImageReplicationStatus(ctx, reg, repo, registry.ImageRef{Digest: d})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range st.Statuses {
		out = append(out, fmt.Sprintf("%s/%s %s %s", s.Region, s.RegistryID, s.Status, s.FailureCode))
	}
	return out
}

func rule(filters []string, dests ...registry.ReplicationDestination) registry.ReplicationRule {
	r := registry.ReplicationRule{Destinations: dests}
	for _, f := range filters {
		r.RepositoryFilters = append(r.RepositoryFilters, registry.ReplicationFilter{Filter: f, FilterType: "PREFIX_MATCH"})
	}
	return r
}

func TestReplicationConfigurationValidation(t *testing.T) {
	e := newReplicationEnv(t, nil)
	c, err := e.svc.ReplicationConfiguration(ctx, reg)
	if err != nil || c.Rules == nil || len(c.Rules) != 0 {
		t.Fatalf("configuration before any: %+v, %v", c, err)
	}
	other := registry.ReplicationDestination{Region: region, RegistryID: dstReg}
	manyDests := func(n int) []registry.ReplicationDestination {
		var out []registry.ReplicationDestination
		for i := range n {
			out = append(out, registry.ReplicationDestination{Region: region, RegistryID: fmt.Sprintf("%012d", i+1)})
		}
		return out
	}
	var filters []string
	for range 101 {
		filters = append(filters, "ab")
	}
	for _, tc := range []struct {
		name string
		c    registry.ReplicationConfiguration
		kind registry.Kind
	}{
		{"no rules", registry.ReplicationConfiguration{}, registry.KindValidation},
		{"11 rules", registry.ReplicationConfiguration{Rules: make([]registry.ReplicationRule, 11)}, registry.KindValidation},
		{"no destinations", registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{{}}}, registry.KindValidation},
		{"a bad region", registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{rule(nil, registry.ReplicationDestination{Region: "US", RegistryID: dstReg})}}, registry.KindValidation},
		{"a bad registry", registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{rule(nil, registry.ReplicationDestination{Region: region, RegistryID: "1"})}}, registry.KindValidation},
		{"the source", registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{rule(nil, registry.ReplicationDestination{Region: region, RegistryID: reg})}}, registry.KindInvalidParameter},
		{"26 destinations", registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{rule(nil, manyDests(13)...), rule(nil, manyDests(26)[13:]...)}}, registry.KindInvalidParameter},
		{"empty filters", registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{{Destinations: []registry.ReplicationDestination{other}, RepositoryFilters: []registry.ReplicationFilter{}}}}, registry.KindValidation},
		{"101 filters", registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{rule(filters, other)}}, registry.KindValidation},
		{"a short filter", registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{rule([]string{"a"}, other)}}, registry.KindValidation},
		{"a wildcard", registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{{Destinations: []registry.ReplicationDestination{other},
			RepositoryFilters: []registry.ReplicationFilter{{Filter: "app", FilterType: "WILDCARD_MATCH"}}}}}, registry.KindValidation},
	} {
		wantKind(t, e.svc.PutReplicationConfiguration(ctx, reg, tc.c), tc.kind)
	}
	// The limits themselves are fine: 25 destinations, 10 rules, 100 filters; the same account in
	// another region too.
	ok := registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{rule(filters[:100], manyDests(25)...),
		rule(nil, manyDests(24)[1:]...)}}
	for len(ok.Rules) < 10 {
		ok.Rules = append(ok.Rules, rule(nil, manyDests(1)...))
	}
	sameAccount := registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{rule(nil, other, registry.ReplicationDestination{Region: "eu-west-1", RegistryID: reg})}}
	if err := e.svc.PutReplicationConfiguration(ctx, reg, sameAccount); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PutReplicationConfiguration(ctx, reg, ok); err != nil {
		t.Fatal(err)
	}
	if c, err := e.svc.ReplicationConfiguration(ctx, reg); err != nil || len(c.Rules) != 10 || len(c.Rules[0].Destinations) != 25 || len(c.Rules[0].RepositoryFilters) != 100 {
		t.Fatalf("configuration: %d rules, %v", len(c.Rules), err)
	}
	// No rules: no replication.
	if err := e.svc.PutReplicationConfiguration(ctx, reg, registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{}}); err != nil {
		t.Fatal(err)
	}
	if c, err := e.svc.ReplicationConfiguration(ctx, reg); err != nil || len(c.Rules) != 0 {
		t.Fatalf("configuration: %+v, %v", c, err)
	}
}

func TestReplicationCopiesPushesToAnotherAccount(t *testing.T) {
	e := newReplicationEnv(t, grants{"ecr:ReplicateImage": true, "ecr:CreateRepository": true})
	e.repo(t, "app/web", registry.Mutable)
	e.repo(t, "other", registry.Mutable)
	before := e.push(t, "app/web", "v0", "before")
	// A template for replicated repositories in the destination: its settings apply.
	if _, err := e.svc.CreateCreationTemplate(ctx, registry.CreationTemplate{RegistryID: dstReg, Prefix: "app", TagMutability: registry.Immutable,
		AppliedFor: []string{registry.ForReplication}}); err != nil {
		t.Fatal(err)
	}
	cfg := registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{
		rule([]string{"app/"}, registry.ReplicationDestination{Region: region, RegistryID: dstReg}, registry.ReplicationDestination{Region: "eu-west-1", RegistryID: dstReg}),
		rule([]string{"app/w"}, registry.ReplicationDestination{Region: region, RegistryID: dstReg}), // the same destination again: once
	}}
	if err := e.svc.PutReplicationConfiguration(ctx, reg, cfg); err != nil {
		t.Fatal(err)
	}
	d := e.push(t, "app/web", "v1", "after")
	e.push(t, "other", "v1", "elsewhere")
	if got := e.replication(t, "app/web", before); len(got) != 0 {
		t.Fatalf("an image pushed before the configuration: %v", got)
	}
	want := []string{"eu-west-1/111111111111 FAILED CrossRegionReplicationNotConfigured", "us-east-1/111111111111 IN_PROGRESS "}
	if got := e.replication(t, "app/web", d); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses after the push: %v, want %v", got, want)
	}
	if errs := e.runReplications(t, 1); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("replication jobs: %v", errs)
	}
	want[1] = "us-east-1/111111111111 COMPLETE "
	if got := e.replication(t, "app/web", d); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses after the job: %v, want %v", got, want)
	}
	// The image is in the destination with its tag, its blobs linked; the repository has the template's settings.
	m, err := e.svc.GetManifest(ctx, dstReg, "app/web", "v1", nil)
	if err != nil || m.Digest != d {
		t.Fatalf("replicated manifest: %+v, %v", m, err)
	}
	src, _ := e.svc.GetManifest(ctx, reg, "app/web", "v1", nil)
	if string(m.Content) != string(src.Content) {
		t.Fatalf("replicated manifest differs")
	}
	for _, b := range []string{"config after", "layer after"} {
		if _, err := e.svc.StatBlob(ctx, dstReg, "app/web", digest.FromString(b)); err != nil {
			t.Fatalf("blob %q in the destination: %v", b, err)
		}
	}
	if r, err := e.svc.Repository(ctx, dstReg, "app/web"); err != nil || r.TagMutability != registry.Immutable {
		t.Fatalf("destination repository: %+v, %v", r, err)
	}
	if _, err := e.svc.GetManifest(ctx, dstReg, "app/web", "v0", nil); registry.KindOf(err) == 0 {
		t.Fatalf("an image pushed before the configuration was replicated")
	}
	if _, err := e.svc.Repository(ctx, dstReg, "other"); err == nil {
		t.Fatalf("a repository no rule matches was replicated")
	}
	// Deletes are not replicated.
	if _, err := e.svc.DeleteImage(ctx, reg, "app/web", registry.ImageRef{Digest: d}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetManifest(ctx, dstReg, "app/web", "v1", nil); err != nil {
		t.Fatalf("the replica after the source's delete: %v", err)
	}
}

func TestReplicationOfAnIndex(t *testing.T) {
	e := newReplicationEnv(t, grants{"ecr:ReplicateImage": true, "ecr:CreateRepository": true})
	e.repo(t, "multi", registry.Mutable)
	if err := e.svc.PutReplicationConfiguration(ctx, reg, registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{
		rule(nil, registry.ReplicationDestination{Region: region, RegistryID: dstReg})}}); err != nil {
		t.Fatal(err)
	}
	a := e.push(t, "multi", "", "amd64")
	b := e.push(t, "multi", "", "arm64")
	body := indexManifest(a, b)
	res, err := e.svc.PutManifest(ctx, reg, "multi", "latest", "application/vnd.oci.image.index.v1+json", body)
	if err != nil {
		t.Fatal(err)
	}
	// The index's job may run first: it copies the children it needs.
	for _, err := range e.runReplications(t, 1) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []digest.Digest{a, b, res.Digest} {
		if got := e.replication(t, "multi", d); len(got) != 1 || got[0] != "us-east-1/111111111111 COMPLETE " {
			t.Fatalf("statuses of %s: %v", d, got)
		}
		if _, err := e.svc.GetManifest(ctx, dstReg, "multi", d.String(), nil); err != nil {
			t.Fatalf("replicated %s: %v", d, err)
		}
	}
	if m, err := e.svc.GetManifest(ctx, dstReg, "multi", "latest", nil); err != nil || m.Digest != res.Digest {
		t.Fatalf("replicated tag: %+v, %v", m, err)
	}
}

func TestReplicationNeedsTheDestinationsPolicy(t *testing.T) {
	for _, tc := range []struct {
		grants grants
		exists bool
		want   string
	}{
		{grants{}, true, "FAILED " + registry.ReplicateImageDenied},
		{grants{"ecr:ReplicateImage": true}, false, "FAILED " + registry.CreateRepositoryDenied},
		{grants{"ecr:ReplicateImage": true}, true, "COMPLETE "},
	} {
		e := newReplicationEnv(t, tc.grants)
		e.repo(t, "app", registry.Mutable)
		if tc.exists {
			if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: dstReg, Name: "app"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.svc.PutReplicationConfiguration(ctx, reg, registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{
			rule(nil, registry.ReplicationDestination{Region: region, RegistryID: dstReg})}}); err != nil {
			t.Fatal(err)
		}
		d := e.push(t, "app", "v1", "x")
		if errs := e.runReplications(t, 1); len(errs) != 1 || errs[0] != nil {
			t.Fatalf("replication jobs: %v", errs)
		}
		if got := e.replication(t, "app", d); len(got) != 1 || got[0] != "us-east-1/111111111111 "+tc.want {
			t.Errorf("%v: statuses %v, want %s", tc.grants, got, tc.want)
		}
	}
}

func TestReplicationOfTagsAndTheirConflicts(t *testing.T) {
	e := newReplicationEnv(t, grants{"ecr:ReplicateImage": true, "ecr:CreateRepository": true})
	e.repo(t, "app", registry.Mutable)
	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: dstReg, Name: "app", TagMutability: registry.Immutable}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PutReplicationConfiguration(ctx, reg, registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{
		rule([]string{"app"}, registry.ReplicationDestination{Region: region, RegistryID: dstReg})}}); err != nil {
		t.Fatal(err)
	}
	// The same image pushed under two tags before either job ran: both tags reach the destination.
	d := e.push(t, "app", "v1", "one")
	e.clock.Advance(time.Second)
	e.push(t, "app", "latest", "one")
	for _, err := range e.runReplications(t, 1) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tag := range []string{"v1", "latest"} {
		if m, err := e.svc.GetManifest(ctx, dstReg, "app", tag, nil); err != nil || m.Digest != d {
			t.Fatalf("replicated %s: %+v, %v", tag, m, err)
		}
	}
	if got := e.replication(t, "app", d); len(got) != 1 || got[0] != "us-east-1/111111111111 COMPLETE " {
		t.Fatalf("statuses: %v", got)
	}
	// A tag the immutable destination holds for another image: the replication fails, with no retry.
	e.clock.Advance(time.Second)
	other := e.push(t, "app", "latest", "two")
	if errs := e.runReplications(t, 1); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("replication jobs: %v", errs)
	}
	if got := e.replication(t, "app", other); len(got) != 1 || got[0] != "us-east-1/111111111111 FAILED "+registry.ReplicationErrorCode {
		t.Fatalf("statuses of a conflicting tag: %v", got)
	}
	if m, err := e.svc.GetManifest(ctx, dstReg, "app", "latest", nil); err != nil || m.Digest != d {
		t.Fatalf("the destination's tag after a conflict: %+v, %v", m, err)
	}
}
