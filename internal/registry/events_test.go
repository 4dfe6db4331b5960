package registry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// events returns the outbox's events as "type repository tag cause" lines.
func (e *env) events(t *testing.T) []string {
	t.Helper()
	var out []string
	err := e.meta.View(context.Background(), func(tx store.Tx) error {
		evs, err := tx.EventsAfter(store.EventPosition{}, 100)
		for _, se := range evs {
			ev, err := registry.DecodeEvent(se)
			if err != nil {
				return err
			}
			if ev.Type != se.Type || ev.Repository != se.Repository || ev.RegistryID != reg || ev.At.IsZero() {
				t.Fatalf("event %+v in row %+v", ev, se)
			}
			line := fmt.Sprintf("%s %s %s %s", ev.Type, ev.Repository, ev.Tag, ev.Cause)
			switch ev.Type {
			case registry.EventImageDeleted:
				line += fmt.Sprint(ev.Tags)
			case registry.EventPolicyChanged:
				line += ev.Policy + " " + ev.Change
			case registry.EventLifecyclePass:
				line += fmt.Sprintf("%d/%d", ev.Expired, ev.Evaluated)
			}
			out = append(out, line)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEventsAreRecordedWithTheirChange(t *testing.T) {
	e := newEnv(t, registry.Config{})
	ctx := context.Background()
	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "app"}); err != nil {
		t.Fatal(err)
	}
	d1 := e.push(t, "app", "v1", "one")
	e.push(t, "app", "v1", "two") // moves v1
	if _, err := e.svc.PutManifest(ctx, reg, "app", "v1", "application/vnd.oci.image.manifest.v1+json", nil); err == nil {
		t.Fatal("an empty manifest was accepted")
	}
	if _, err := e.svc.DeleteManifest(ctx, reg, "app", d1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteRepository(ctx, reg, "app", true); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"RepositoryCreated app  ",
		"ImagePushed app v1 ",
		"ImagePushed app v1 ",
		"TagMoved app v1 ",
		"ImageDeleted app  api[]",
		"RepositoryDeleted app  ",
	}
	if got := e.events(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n%q\nwant\n%q", got, want)
	}
}

// since returns the events recorded after the first n.
func since(all []string, n int) []string { return all[n:] }

// TestEveryChangeRecordsItsEvent: deletions by tag (the tag alone, or the image with its last tag), policy
// changes of each kind, and a lifecycle pass with the images it expires; calls that fail record nothing.
func TestEveryChangeRecordsItsEvent(t *testing.T) {
	e := newEnv(t, registry.Config{})
	ctx := context.Background()
	e.repo(t, "app", "MUTABLE")
	d1 := e.push(t, "app", "v1", "one")
	e.push(t, "app", "v1b", "one") // a second tag on the same image
	d2 := e.push(t, "app", "v2", "two")
	n := len(e.events(t))

	step := func(what string, want ...string) {
		t.Helper()
		all := e.events(t)
		if got := since(all, n); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: events\n%q\nwant\n%q", what, got, want)
		}
		n = len(all)
	}

	// Failures first: none records an event.
	if _, err := e.svc.DeleteImage(ctx, reg, "app", registry.ImageRef{Tag: "v1", Digest: d2}); registry.KindOf(err) != registry.KindTagDigestMismatch {
		t.Fatalf("mismatched delete: %v", err)
	}
	if _, err := e.svc.DeleteTag(ctx, reg, "app", "nope"); err == nil {
		t.Fatal("deleting a missing tag succeeded")
	}
	if _, err := e.svc.DeleteManifest(ctx, reg, "app", digest.FromString("missing")); err == nil {
		t.Fatal("deleting a missing image succeeded")
	}
	unknownPrincipal := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/nobody"},"Action":"ecr:BatchGetImage"}]}`
	if err := e.svc.SetRepositoryPolicy(ctx, reg, "app", unknownPrincipal, true, nil); err == nil {
		t.Fatal("a policy naming an unknown user was accepted")
	}
	if _, err := e.svc.DeleteRepositoryPolicy(ctx, reg, "app"); err == nil {
		t.Fatal("deleting a missing repository policy succeeded")
	}
	if err := e.svc.PutLifecyclePolicy(ctx, reg, "nope", keepOne); err == nil {
		t.Fatal("a lifecycle policy was set on a missing repository")
	}
	if _, err := e.svc.DeleteLifecyclePolicy(ctx, reg, "app"); err == nil {
		t.Fatal("deleting a missing lifecycle policy succeeded")
	}
	if _, err := e.svc.DeleteRegistryPolicy(ctx, reg); err == nil {
		t.Fatal("deleting a missing registry policy succeeded")
	}
	if err := e.svc.PutRegistryPolicy(ctx, reg, strings.Replace(anyone, "ecr:BatchGetImage", "s3:GetObject", 1)); err == nil {
		t.Fatal("a registry policy granting another service's action was accepted")
	}
	step("failed calls")

	if _, err := e.svc.DeleteImage(ctx, reg, "app", registry.ImageRef{Tag: "v1b"}); err != nil {
		t.Fatal(err)
	}
	step("a tag of an image that keeps another", "TagDeleted app v1b ")
	if _, err := e.svc.DeleteImage(ctx, reg, "app", registry.ImageRef{Tag: "v1", Digest: d1}); err != nil {
		t.Fatal(err)
	}
	step("an image's last tag", "ImageDeleted app  api[v1]")

	if err := e.svc.SetRepositoryPolicy(ctx, reg, "app", anyone, true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteRepositoryPolicy(ctx, reg, "app"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PutLifecyclePolicy(ctx, reg, "app", keepOne); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteLifecyclePolicy(ctx, reg, "app"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PutRegistryPolicy(ctx, reg, replication); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteRegistryPolicy(ctx, reg); err != nil {
		t.Fatal(err)
	}
	step("policies",
		"PolicyChanged app  repository set", "PolicyChanged app  repository deleted",
		"PolicyChanged app  lifecycle set", "PolicyChanged app  lifecycle deleted",
		"PolicyChanged   registry set", "PolicyChanged   registry deleted")

	e.clock.Advance(time.Hour)
	e.push(t, "app", "v3", "three")
	e.clock.Advance(time.Hour)
	e.push(t, "app", "v4", "four")
	if err := e.svc.PutLifecyclePolicy(ctx, reg, "app", keepOne); err != nil {
		t.Fatal(err)
	}
	n = len(e.events(t))
	if _, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	step("a dry run")
	if _, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{}); err != nil {
		t.Fatal(err)
	}
	step("a lifecycle pass",
		"ImageDeleted app  lifecycle[v2]", "ImageDeleted app  lifecycle[v3]", "LifecyclePass app  2/3")
}

const (
	keepOne     = `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
	anyone      = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`
	replication = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"ecr:ReplicateImage","Resource":"*"}]}`
)
