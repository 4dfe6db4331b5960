package registry_test

import (
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// TestTagMutabilityExclusions moves tags of repositories with each setting, by registry push and by
// ECR's PutImage: with IMMUTABLE_WITH_EXCLUSION the tags a filter matches move and the others do not;
// with MUTABLE_WITH_EXCLUSION the other way round.
func TestTagMutabilityExclusions(t *testing.T) {
	e := newEnv(t, registry.Config{})
	create := func(name, mut string, filters ...string) {
		t.Helper()
		if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: name, TagMutability: mut, TagMutabilityExclusions: filters}); err != nil {
			t.Fatal(err)
		}
	}
	create("imm", registry.ImmutableWithExclusion, "dev-*", "latest")
	create("mut", registry.MutableWithExclusion, "release-*.*")
	for _, c := range []struct {
		repo, tag string
		moves     bool
	}{
		{"imm", "latest", true}, {"imm", "dev-1", true}, {"imm", "dev-", true}, {"imm", "v1", false}, {"imm", "latest2", false}, {"imm", "a-dev-1", false},
		{"mut", "latest", true}, {"mut", "release-1", true}, {"mut", "release-1.2", false}, {"mut", "release-.x", false},
	} {
		first := e.push(t, c.repo, c.tag, c.repo+c.tag+"1")
		cfg, layer := e.blob(t, c.repo, "config "+c.repo+c.tag+"2"), e.blob(t, c.repo, "layer "+c.repo+c.tag+"2")
		body := imageManifest(cfg, layer)
		for _, how := range []string{"push", "PutImage"} {
			var err error
			if how == "push" {
				_, err = e.svc.PutManifest(ctx, reg, c.repo, c.tag, "", body)
			} else {
				_, err = e.svc.PutImage(ctx, reg, c.repo, registry.ImageRef{Tag: c.tag}, "", body)
			}
			m, _ := e.svc.GetManifest(ctx, reg, c.repo, c.tag, nil)
			if c.moves {
				if err != nil && registry.KindOf(err) != registry.KindImageAlreadyExists || m.Digest == first {
					t.Errorf("%s %s:%s: %v; the tag should have moved", how, c.repo, c.tag, err)
				}
				continue
			}
			wantKind(t, err, registry.KindImageTagAlreadyExists)
			if want := "The image tag '" + c.tag + "' already exists in the '" + c.repo + "' repository and cannot be overwritten because the repository is immutable."; err.Error() != want {
				t.Errorf("message %q", err)
			}
			if m.Digest != first {
				t.Errorf("%s %s:%s: an immutable tag moved", how, c.repo, c.tag)
			}
		}
	}
	// Immutable tags may still be deleted, and then put on another image.
	if _, err := e.svc.DeleteTag(ctx, reg, "imm", "v1"); err != nil {
		t.Fatal(err)
	}
	e.push(t, "imm", "v1", "again")

	// Changing the setting takes effect on the next push.
	if _, err := e.svc.UpdateRepository(ctx, reg, "imm", func(r *store.Repository) { r.TagMutability, r.TagMutabilityExclusions = registry.Mutable, nil }); err != nil {
		t.Fatal(err)
	}
	e.push(t, "imm", "v1", "third")
}

func TestTagMutabilitySettingsAreChecked(t *testing.T) {
	e := newEnv(t, registry.Config{})
	for _, c := range []struct {
		mut     string
		filters []string
		msg     string
	}{
		{"SOMETIMES", nil, "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]'"},
		{"IMMUTABLE_WITH_EXCLUSION", nil, "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as IMMUTABLE_WITH_EXCLUSION'"},
		{"MUTABLE_WITH_EXCLUSION", nil, "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as MUTABLE_WITH_EXCLUSION'"},
		{"IMMUTABLE", []string{"x"}, "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'ImageTagMutabilityExclusionFilters must be null when imageTagMutability is set as IMMUTABLE'"},
		{"IMMUTABLE_WITH_EXCLUSION", []string{"a", "b", "c", "d", "e", "f"}, "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'Member must have length less than or equal to 5'"},
		{"IMMUTABLE_WITH_EXCLUSION", []string{"a/b"}, "Invalid parameter at 'imageTagMutabilityExclusionFilters.filter' failed to satisfy constraint: 'must satisfy regular expression '^[0-9a-zA-Z._*-]{1,128}$''"},
		{"IMMUTABLE_WITH_EXCLUSION", []string{strings.Repeat("a", 129)}, "Invalid parameter at 'imageTagMutabilityExclusionFilters.filter' failed to satisfy constraint: 'must satisfy regular expression '^[0-9a-zA-Z._*-]{1,128}$''"},
	} {
		_, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "rr", TagMutability: c.mut, TagMutabilityExclusions: c.filters})
		wantKind(t, err, registry.KindInvalidParameter)
		if err.Error() != c.msg {
			t.Errorf("create %s %v: %q", c.mut, c.filters, err)
		}
	}
	e.repo(t, "rr", registry.Mutable)
	_, err := e.svc.UpdateRepository(ctx, reg, "rr", func(r *store.Repository) { r.TagMutability = registry.ImmutableWithExclusion })
	wantKind(t, err, registry.KindInvalidParameter)
	if r, _ := e.svc.Repository(ctx, reg, "rr"); r.TagMutability != registry.Mutable {
		t.Fatalf("a refused update was stored: %+v", r)
	}
	five := []string{"a*", "*b", "c*d*e", "*", strings.Repeat("x", 128)}
	r, err := e.svc.UpdateRepository(ctx, reg, "rr", func(r *store.Repository) {
		r.TagMutability, r.TagMutabilityExclusions = registry.MutableWithExclusion, five
	})
	if err != nil || len(r.TagMutabilityExclusions) != 5 {
		t.Fatalf("five filters: %+v, %v", r, err)
	}
}

func TestEncryptionSettings(t *testing.T) {
	e := newEnv(t, registry.Config{})
	for _, c := range []struct{ typ, key, msg string }{
		{"AES128", "", "Invalid parameter at 'encryptionConfiguration.encryptionType' failed to satisfy constraint: 'Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]'"},
		{"AES256", "arn:aws:kms:us-east-1:000000000000:key/k", "Invalid parameter at 'encryptionConfiguration.kmsKey' failed to satisfy constraint: 'kmsKey can only be specified when encryptionType is KMS or KMS_DSSE'"},
		{"KMS", strings.Repeat("k", 2049), "Invalid parameter at 'encryptionConfiguration.kmsKey' failed to satisfy constraint: 'Member must have length less than or equal to 2048'"},
	} {
		_, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "rr", EncryptionType: c.typ, KMSKey: c.key})
		wantKind(t, err, registry.KindInvalidParameter)
		if err.Error() != c.msg {
			t.Errorf("%s %q: %q", c.typ, c.key, err)
		}
	}
	for i, typ := range []string{"", "AES256", "KMS", "KMS_DSSE"} {
		r, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "r" + strings.ToLower(strings.ReplaceAll(typ, "_", "-")) + "x", EncryptionType: typ})
		if want := map[int]string{0: "AES256"}[i]; err != nil || r.EncryptionType != typ && r.EncryptionType != want {
			t.Fatalf("%q: %+v, %v", typ, r, err)
		}
	}
}

func TestKMSKeyARN(t *testing.T) {
	managed := registry.KMSKeyARN("eu-west-1", "123456789012", "")
	if !strings.HasPrefix(managed, "arn:aws:kms:eu-west-1:123456789012:key/") || len(managed) != len("arn:aws:kms:eu-west-1:123456789012:key/")+36 {
		t.Fatalf("managed key %q", managed)
	}
	for key, want := range map[string]string{
		"alias/aws/ecr": managed,
		"arn:aws:kms:eu-west-1:123456789012:alias/aws/ecr": managed,
		"alias/mine":                                   "arn:aws:kms:eu-west-1:123456789012:alias/mine",
		"1234abcd-12ab-34cd-56ef-1234567890ab":         "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:eu-west-1:111111111111:key/other": "arn:aws:kms:eu-west-1:111111111111:key/other",
	} {
		if got := registry.KMSKeyARN("eu-west-1", "123456789012", key); got != want {
			t.Errorf("KMSKeyARN(%q) = %q, want %q", key, got, want)
		}
	}
	if registry.KMSKeyARN("eu-west-1", "210987654321", "") == managed || registry.KMSKeyARN("us-east-1", "123456789012", "") == managed {
		t.Fatal("the managed key is the same in two accounts or regions")
	}
}

// TestTagRules: the ECR API takes tags of up to 300 characters, the registry API up to 128; each says
// so in its own words. Tags read back in the order they were put on the image.
func TestTagRules(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", registry.Mutable)
	long := strings.Repeat("t", 300)
	d := e.push(t, "app", "first", "1")
	body := imageManifest(digest.FromString("config 1"), digest.FromString("layer 1"))
	e.clock.Advance(time.Second)
	if _, err := e.svc.PutImage(ctx, reg, "app", registry.ImageRef{Tag: long}, "", body); err != nil {
		t.Fatalf("PutImage with a 300-character tag: %v", err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.svc.PutImage(ctx, reg, "app", registry.ImageRef{Tag: "a-third"}, "", body); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.PutImage(ctx, reg, "app", registry.ImageRef{Tag: long + "t"}, "", body)
	wantKind(t, err, registry.KindTagInvalid)
	if err.Error() != "Invalid parameter at 'imageTag' failed to satisfy constraint: 'Member must have length less than or equal to 300'" {
		t.Errorf("message %q", err)
	}
	_, err = e.svc.PutImage(ctx, reg, "app", registry.ImageRef{Tag: "-x"}, "", body)
	if err == nil || err.Error() != "Invalid parameter at 'imageTag' failed to satisfy constraint: 'must satisfy regular expression '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,299}''" {
		t.Errorf("message %v", err)
	}
	_, err = e.svc.PutManifest(ctx, reg, "app", strings.Repeat("t", 129), "", body)
	wantKind(t, err, registry.KindTagInvalid)
	img, err := e.svc.FindImage(ctx, reg, "app", registry.ImageRef{Tag: long})
	if err != nil || img.Digest != d || len(img.Tags) != 3 || img.Tags[0] != "first" || img.Tags[1] != long || img.Tags[2] != "a-third" {
		t.Fatalf("FindImage by the long tag: %+v, %v", img, err)
	}
	if _, err := e.svc.PutManifest(ctx, reg, "app", strings.Repeat("t", 128), "", body); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteImage(ctx, reg, "app", registry.ImageRef{Tag: long}); err != nil {
		t.Fatalf("DeleteImage by the long tag: %v", err)
	}
}

// TestLifecycleExpiresImmutableTags: tag immutability stops moves, not expiry.
func TestLifecycleExpiresImmutableTags(t *testing.T) {
	e := newEnv(t, registry.Config{})
	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "app", TagMutability: registry.ImmutableWithExclusion, TagMutabilityExclusions: []string{"latest"}}); err != nil {
		t.Fatal(err)
	}
	old := e.push(t, "app", "v1", "1")
	e.clock.Advance(time.Hour)
	e.push(t, "app", "v2", "2")
	policy := `{"rules":[{"rulePriority":1,"description":"keep one release","selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
	if err := e.svc.PutLifecyclePolicy(ctx, reg, "app", policy); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{})
	if err != nil || len(res) != 1 || len(res[0].Expired) != 1 || res[0].Expired[0].Digest != old {
		t.Fatalf("lifecycle: %+v, %v", res, err)
	}
	if _, err := e.svc.GetManifest(ctx, reg, "app", "v1", nil); registry.KindOf(err) != registry.KindManifestUnknown {
		t.Fatalf("v1 after expiry: %v", err)
	}
	e.push(t, "app", "v1", "3") // a new v1: the old one is gone, so nothing is overwritten
}
