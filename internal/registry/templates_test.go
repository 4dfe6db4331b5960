package registry_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

const (
	anyonePulls = `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`
	keepTen     = `{"rules": [{"rulePriority": 1, "description": "keep ten", "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10}, "action": {"type": "expire"}}]}`
)

func (e *env) template(t *testing.T, prefix string, purposes ...string) *registry.CreationTemplate {
	t.Helper()
	tpl, err := e.svc.CreateCreationTemplate(ctx, registry.CreationTemplate{RegistryID: reg, Prefix: prefix, Description: prefix, AppliedFor: purposes})
	if err != nil {
		t.Fatalf("template %s: %v", prefix, err)
	}
	return tpl
}

// TestTemplateChoice: of the templates that apply for a purpose, the one with the longest prefix whose
// namespace holds the name wins, ROOT last; a prefix is a namespace, not a string prefix.
func TestTemplateChoice(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.template(t, "ROOT", registry.ForCreateOnPush, registry.ForReplication)
	e.template(t, "team-a", registry.ForCreateOnPush)
	e.template(t, "team-a/web", registry.ForCreateOnPush)
	e.template(t, "team-a/web/internal", registry.ForPullThroughCache)
	e.template(t, "team-b/", registry.ForReplication) // kept without its '/'
	for _, c := range []struct{ name, purpose, want string }{
		{"team-a/app", registry.ForCreateOnPush, "team-a"},
		{"team-a/web/app", registry.ForCreateOnPush, "team-a/web"},
		{"team-a/web/internal/app", registry.ForCreateOnPush, "team-a/web"}, // the longer one is for PTC only
		{"team-a/web/internal/app", registry.ForPullThroughCache, "team-a/web/internal"},
		{"team-a/webapp", registry.ForCreateOnPush, "team-a"}, // "team-a/web" is the namespace "team-a/web/"
		{"team-a", registry.ForCreateOnPush, "ROOT"},          // a prefix's own name is not under it
		{"team-ab/app", registry.ForCreateOnPush, "ROOT"},
		{"other", registry.ForCreateOnPush, "ROOT"},
		{"team-b/app", registry.ForReplication, "team-b"},
		{"team-b/app", registry.ForCreateOnPush, "ROOT"},
		{"team-a/app", registry.ForReplication, "ROOT"},
		{"team-a/app", registry.ForPullThroughCache, ""},
		{"team-c/app", registry.ForPullThroughCache, ""},
	} {
		got, err := e.svc.TemplateFor(ctx, reg, c.name, c.purpose)
		if err != nil {
			t.Fatal(err)
		}
		if prefix := func() string {
			if got == nil {
				return ""
			}
			return got.Prefix
		}(); prefix != c.want {
			t.Errorf("%s for %s: template %q, want %q", c.name, c.purpose, prefix, c.want)
		}
	}
	if _, err := e.svc.DeleteCreationTemplate(ctx, reg, "ROOT"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.TemplateFor(ctx, reg, "other", registry.ForCreateOnPush); got != nil {
		t.Errorf("without ROOT, %q applies to other", got.Prefix)
	}
	if _, err := e.svc.CreateRepositoryFromTemplate(ctx, reg, "other", registry.ForCreateOnPush); registry.KindOf(err) != registry.KindRepositoryNotFound {
		t.Errorf("created without a template: %v", err)
	}
}

// TestTemplateValidation: each member is checked as the operation it stands for checks it, with ECR's
// messages; the model's constraints answer validation errors.
func TestTemplateValidation(t *testing.T) {
	e := newEnv(t, registry.Config{Limits: registry.Limits{CreationTemplatesPerRegistry: 3}})
	ok := registry.CreationTemplate{RegistryID: reg, Prefix: "team-a", AppliedFor: []string{registry.ForCreateOnPush}}
	for _, c := range []struct {
		name string
		edit func(t *registry.CreationTemplate)
		kind registry.Kind
		msg  string
	}{
		{"upper-case prefix", func(t *registry.CreationTemplate) { t.Prefix = "Team" }, registry.KindValidation,
			"1 validation error detected: Value 'Team' at 'prefix' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*\\/?|ROOT)$"},
		{"empty prefix", func(t *registry.CreationTemplate) { t.Prefix = "" }, registry.KindValidation,
			"1 validation error detected: Value '' at 'prefix' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"long prefix", func(t *registry.CreationTemplate) { t.Prefix = strings.Repeat("a", 257) }, registry.KindValidation, ""},
		{"no purpose", func(t *registry.CreationTemplate) { t.AppliedFor = nil }, registry.KindValidation,
			"1 validation error detected: Value '[]' at 'appliedFor' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"unknown purpose", func(t *registry.CreationTemplate) { t.AppliedFor = []string{"PUSH"} }, registry.KindValidation,
			"1 validation error detected: Value 'PUSH' at 'appliedFor' failed to satisfy constraint: Member must satisfy enum value set: [REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH]"},
		{"long description", func(t *registry.CreationTemplate) { t.Description = strings.Repeat("d", 257) }, registry.KindValidation, ""},
		{"mutability", func(t *registry.CreationTemplate) { t.TagMutability = "FROZEN" }, registry.KindInvalidParameter,
			"Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]'"},
		{"exclusions without their setting", func(t *registry.CreationTemplate) { t.TagMutabilityExclusions = []string{"dev-*"} }, registry.KindInvalidParameter,
			"Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'ImageTagMutabilityExclusionFilters must be null when imageTagMutability is set as MUTABLE'"},
		{"exclusion setting without filters", func(t *registry.CreationTemplate) { t.TagMutability = registry.ImmutableWithExclusion }, registry.KindInvalidParameter, ""},
		{"encryption", func(t *registry.CreationTemplate) { t.EncryptionType = "ROT13" }, registry.KindInvalidParameter,
			"Invalid parameter at 'encryptionConfiguration.encryptionType' failed to satisfy constraint: 'Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]'"},
		{"KMS key not an ARN", func(t *registry.CreationTemplate) { t.EncryptionType, t.KMSKey = registry.KMS, "alias/mine" }, registry.KindValidation, ""},
		{"KMS key with AES256", func(t *registry.CreationTemplate) {
			t.EncryptionType, t.KMSKey = registry.AES256, "arn:aws:kms:us-east-1:000000000000:key/k1"
		}, registry.KindInvalidParameter, "Invalid parameter at 'encryptionConfiguration.kmsKey' failed to satisfy constraint: 'kmsKey can only be specified when encryptionType is KMS or KMS_DSSE'"},
		{"reserved tag key", func(t *registry.CreationTemplate) {
			t.ResourceTags = []store.ResourceTag{{Key: "aws:team", Value: "a"}}
		}, registry.KindInvalidTagParameter,
			"The tag key 'aws:team' uses the reserved prefix 'aws:'"},
		{"tag keys differing in case", func(t *registry.CreationTemplate) {
			t.ResourceTags = []store.ResourceTag{{Key: "Team", Value: "a"}, {Key: "team", Value: "b"}}
		}, registry.KindInvalidTagParameter, ""},
		{"repository policy", func(t *registry.CreationTemplate) { t.RepositoryPolicy = `{"Statement":[]}` }, registry.KindInvalidParameter,
			"Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'"},
		{"unknown principal", func(t *registry.CreationTemplate) {
			t.RepositoryPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/nobody"},"Action":"ecr:BatchGetImage"}]}`
		}, registry.KindInvalidParameter, "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'"},
		{"lifecycle policy", func(t *registry.CreationTemplate) { t.LifecyclePolicy = `{"rules":[]}` }, registry.KindInvalidParameter,
			"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Member must have length greater than or equal to 100'"},
		{"role of another account", func(t *registry.CreationTemplate) { t.CustomRoleARN = "arn:aws:iam::111111111111:role/creator" }, registry.KindInvalidParameter, ""},
		{"role not a role", func(t *registry.CreationTemplate) { t.CustomRoleARN = "arn:aws:iam::000000000000:user/creator" }, registry.KindInvalidParameter, ""},
	} {
		tpl := ok
		c.edit(&tpl)
		_, err := e.svc.CreateCreationTemplate(ctx, tpl)
		if registry.KindOf(err) != c.kind || c.msg != "" && err.Error() != c.msg {
			t.Errorf("%s: %v (kind %v), want kind %v %q", c.name, err, registry.KindOf(err), c.kind, c.msg)
		}
	}
	if ts, _, _ := e.svc.CreationTemplates(ctx, reg, nil, "", 10); len(ts) != 0 {
		t.Fatalf("refused templates were kept: %+v", ts)
	}

	// Defaults, and the texts kept as SetRepositoryPolicy and PutLifecyclePolicy keep theirs.
	tpl := ok
	tpl.RepositoryPolicy, tpl.LifecyclePolicy, tpl.AppliedFor = anyonePulls, keepTen, []string{registry.ForCreateOnPush, registry.ForCreateOnPush}
	got, err := e.svc.CreateCreationTemplate(ctx, tpl)
	if err != nil {
		t.Fatal(err)
	}
	if got.TagMutability != registry.Mutable || got.EncryptionType != registry.AES256 || !reflect.DeepEqual(got.AppliedFor, []string{registry.ForCreateOnPush}) ||
		got.RepositoryPolicy != registry.FormatPolicyText(anyonePulls) || got.LifecyclePolicy != registry.CompactLifecycleText(keepTen) || got.CreatedAt.IsZero() {
		t.Errorf("created %+v", got)
	}
	_, err = e.svc.CreateCreationTemplate(ctx, ok)
	if registry.KindOf(err) != registry.KindTemplateExists {
		t.Errorf("a prefix twice: %v", err)
	}
	e.template(t, "ROOT", registry.ForReplication)
	e.template(t, "team-b", registry.ForReplication)
	_, err = e.svc.CreateCreationTemplate(ctx, registry.CreationTemplate{RegistryID: reg, Prefix: "team-c", AppliedFor: []string{registry.ForReplication}})
	if registry.KindOf(err) != registry.KindLimitExceeded ||
		err.Error() != "The maximum number of repository creation templates (3) in the registry with id '000000000000' has been reached" {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := e.svc.CreateCreationTemplate(ctx, registry.CreationTemplate{RegistryID: "111111111111", Prefix: "team-c", AppliedFor: []string{registry.ForReplication}}); err != nil {
		t.Errorf("the limit is per registry: %v", err)
	}

	// Updates are checked as creates are; a missing template is not found.
	_, err = e.svc.UpdateCreationTemplate(ctx, reg, "team-a", func(t *registry.CreationTemplate) { t.AppliedFor = []string{"PUSH"} })
	wantKind(t, err, registry.KindValidation)
	_, err = e.svc.UpdateCreationTemplate(ctx, reg, "nope", func(t *registry.CreationTemplate) {})
	if registry.KindOf(err) != registry.KindTemplateNotFound ||
		err.Error() != "The repository creation template with prefix 'nope' does not exist in the registry with id '000000000000'" {
		t.Errorf("updating a missing template: %v", err)
	}
	e.clock.Advance(60e9)
	upd, err := e.svc.UpdateCreationTemplate(ctx, reg, "team-a/", func(t *registry.CreationTemplate) { t.Description, t.LifecyclePolicy = "changed", "" })
	if err != nil || upd.Description != "changed" || upd.LifecyclePolicy != "" || upd.RepositoryPolicy == "" || !upd.UpdatedAt.After(upd.CreatedAt) {
		t.Errorf("updated %+v, %v", upd, err)
	}
	_, err = e.svc.DeleteCreationTemplate(ctx, reg, "nope")
	wantKind(t, err, registry.KindTemplateNotFound)
	ts, _, err := e.svc.CreationTemplates(ctx, reg, []string{"team-b", "nope", "team-a", "team-a/"}, "", 0)
	if err != nil || len(ts) != 2 || ts[0].Prefix != "team-a" || ts[1].Prefix != "team-b" {
		t.Errorf("by prefixes: %+v, %v", ts, err)
	}
	page, more, err := e.svc.CreationTemplates(ctx, reg, nil, "", 2)
	if err != nil || !more || len(page) != 2 || page[0].Prefix != "ROOT" || page[1].Prefix != "team-a" {
		t.Errorf("first page: %+v, %v, %v", page, more, err)
	}
}

// TestCreateOnPushTemplate: a push to a missing repository creates it when a CREATE_ON_PUSH template
// applies, with the template's settings, tags and policies, and only when the caller may create it;
// other names are refused as before, unless create-on-push is on (ECR's defaults then).
func TestCreateOnPushTemplate(t *testing.T) {
	for _, flag := range []bool{false, true} {
		e := newEnv(t, registry.Config{CreateOnPush: flag})
		tags := []store.ResourceTag{{Key: "team", Value: "a"}, {Key: "env", Value: "dev"}}
		_, err := e.svc.CreateCreationTemplate(ctx, registry.CreationTemplate{RegistryID: reg, Prefix: "team-a", AppliedFor: []string{registry.ForCreateOnPush},
			TagMutability: registry.ImmutableWithExclusion, TagMutabilityExclusions: []string{"latest"}, EncryptionType: registry.KMS,
			ResourceTags: tags, RepositoryPolicy: anyonePulls, LifecyclePolicy: keepTen})
		if err != nil {
			t.Fatal(err)
		}
		e.template(t, "team-b", registry.ForReplication) // not for pushes

		// A caller who may not create the repository is refused with the authorizer's error.
		denied := errors.New("not authorized to perform: ecr:CreateRepository")
		var asked []string
		deny := registry.WithAuthorizer(ctx, func(action, repo string) error { asked = append(asked, action+" "+repo); return denied })
		if _, err := e.svc.StartUpload(deny, reg, "team-a/app"); !errors.Is(err, denied) {
			t.Fatalf("a push by a caller who may not create: %v", err)
		}
		if !reflect.DeepEqual(asked, []string{"ecr:CreateRepository team-a/app"}) {
			t.Fatalf("asked %v", asked)
		}
		if _, err := e.svc.Repository(ctx, reg, "team-a/app"); registry.KindOf(err) != registry.KindRepositoryNotFound {
			t.Fatalf("a refused push created the repository: %v", err)
		}

		allow := registry.WithAuthorizer(ctx, func(action, repo string) error { return nil })
		e.pushCtx(t, allow, "team-a/app", "latest", "1")
		r, err := e.svc.Repository(ctx, reg, "team-a/app")
		if err != nil || r.TagMutability != registry.ImmutableWithExclusion || !reflect.DeepEqual(r.TagMutabilityExclusions, []string{"latest"}) ||
			r.EncryptionType != registry.KMS || r.ScanOnPush {
			t.Fatalf("created %+v, %v", r, err)
		}
		if got, err := e.svc.RepositoryTags(ctx, reg, "team-a/app"); err != nil || len(got) != 2 {
			t.Errorf("tags %+v, %v", got, err)
		}
		if got, err := e.svc.RepositoryPolicy(ctx, reg, "team-a/app"); err != nil || got != registry.FormatPolicyText(anyonePulls) {
			t.Errorf("policy %q, %v", got, err)
		}
		if got, err := e.svc.LifecyclePolicy(ctx, reg, "team-a/app"); err != nil || got.Text != registry.CompactLifecycleText(keepTen) {
			t.Errorf("lifecycle policy %+v, %v", got, err)
		}
		// The settings hold: tags other than latest are immutable.
		e.pushCtx(t, allow, "team-a/app", "latest", "2")
		e.pushCtx(t, allow, "team-a/app", "v1", "3")
		cfg, layer := e.blob(t, "team-a/app", "config 4"), e.blob(t, "team-a/app", "layer 4")
		_, err = e.svc.PutManifest(ctx, reg, "team-a/app", "v1", "application/vnd.oci.image.manifest.v1+json", imageManifest(cfg, layer))
		wantKind(t, err, registry.KindImageTagAlreadyExists)

		// Names no CREATE_ON_PUSH template applies to: refused, or with the flag created with the defaults
		// (the push's own permissions suffice: the authorizer is not asked).
		asked = nil
		_, err = e.svc.StartUpload(deny, reg, "team-b/app")
		if !flag {
			wantKind(t, err, registry.KindRepositoryNotFound)
			if _, err := e.svc.Repository(ctx, reg, "team-b/app"); registry.KindOf(err) != registry.KindRepositoryNotFound {
				t.Fatalf("a refused push created team-b/app: %v", err)
			}
			continue
		}
		if err != nil || len(asked) != 0 {
			t.Fatalf("create-on-push: %v, asked %v", err, asked)
		}
		r, err = e.svc.Repository(ctx, reg, "team-b/app")
		if err != nil || r.TagMutability != registry.Mutable || r.EncryptionType != registry.AES256 {
			t.Fatalf("created with the flag: %+v, %v", r, err)
		}
		if got, _ := e.svc.RepositoryTags(ctx, reg, "team-b/app"); len(got) != 0 {
			t.Errorf("tags %+v", got)
		}
	}
}

// pushCtx is push whose first request (an upload's start) has the context c (an authorizer's).
func (e *env) pushCtx(t *testing.T, c context.Context, repo, ref, seed string) {
	t.Helper()
	if _, err := e.svc.StartUpload(c, reg, repo); err != nil {
		t.Fatalf("StartUpload %s: %v", repo, err)
	}
	e.push(t, repo, ref, seed)
}

// TestConcurrentPushesCreateOnce: the layers of one push start uploads together; the first creates the
// repository from its template and the others push to it.
func TestConcurrentPushesCreateOnce(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.template(t, "team-a", registry.ForCreateOnPush)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.StartUpload(ctx, reg, "team-a/app")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a concurrent push: %v", err)
		}
	}
	if names, _, _ := e.svc.Catalog(ctx, reg, "", 10); !reflect.DeepEqual(names, []string{"team-a/app"}) {
		t.Fatalf("catalog %v", names)
	}
}

// TestMarkedPushNeedsReplicateImage: a push marked as a replication (the X-Wharf-Replication header, which
// any client may send) creates its missing repository from the REPLICATION template only for a caller also
// allowed ecr:ReplicateImage; for any other caller the mark changes nothing (here: no CREATE_ON_PUSH
// template, no create-on-push, so nothing is created).
func TestMarkedPushNeedsReplicateImage(t *testing.T) {
	e := newEnv(t, registry.Config{})
	_, err := e.svc.CreateCreationTemplate(ctx, registry.CreationTemplate{RegistryID: reg, Prefix: registry.RootPrefix, AppliedFor: []string{registry.ForReplication},
		RepositoryPolicy: anyonePulls})
	if err != nil {
		t.Fatal(err)
	}
	marked := registry.WithReplication(ctx, "eu-west-1")
	var asked []string
	pusher := registry.WithAuthorizer(marked, func(action, repo string) error {
		asked = append(asked, action)
		if action == "ecr:ReplicateImage" {
			return errors.New("not authorized to perform: ecr:ReplicateImage")
		}
		return nil
	})
	if _, err := e.svc.StartUpload(pusher, reg, "app"); registry.KindOf(err) != registry.KindRepositoryNotFound {
		t.Fatalf("a marked push by a caller who may create repositories but not replicate: %v (asked %v)", err, asked)
	}
	if _, err := e.svc.Repository(ctx, reg, "app"); registry.KindOf(err) != registry.KindRepositoryNotFound {
		t.Fatalf("created: %v", err)
	}
	replicator := registry.WithAuthorizer(marked, func(action, repo string) error { return nil })
	if _, err := e.svc.StartUpload(replicator, reg, "app"); err != nil {
		t.Fatalf("a marked push by a replicator: %v", err)
	}
	if got, err := e.svc.RepositoryPolicy(ctx, reg, "app"); err != nil || got != registry.FormatPolicyText(anyonePulls) {
		t.Errorf("the REPLICATION template's policy: %q, %v", got, err)
	}
}
