package ecrapi_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/registry"
)

func TestTagMutabilityExclusionFilters(t *testing.T) {
	a := newAPI(t, registry.Config{})
	filters := []map[string]string{{"filterType": "WILDCARD", "filter": "dev-*"}, {"filterType": "WILDCARD", "filter": "latest"}}
	repo := a.ok("CreateRepository", map[string]any{"repositoryName": "app", "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
		"imageTagMutabilityExclusionFilters": filters})["repository"].(map[string]any)
	if repo["imageTagMutability"] != "IMMUTABLE_WITH_EXCLUSION" || fmt.Sprint(repo["imageTagMutabilityExclusionFilters"]) != "[map[filter:dev-* filterType:WILDCARD] map[filter:latest filterType:WILDCARD]]" {
		t.Fatalf("created %v", repo)
	}
	got := a.ok("DescribeRepositories", map[string]any{"repositoryNames": []string{"app"}})["repositories"].([]any)[0].(map[string]any)
	if fmt.Sprint(got["imageTagMutabilityExclusionFilters"]) != fmt.Sprint(repo["imageTagMutabilityExclusionFilters"]) {
		t.Fatalf("described %v", got)
	}

	cfg := a.pushLayer("app", []byte(`{"architecture":"amd64","os":"linux"}`))
	manifest := func(layer string) string {
		return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":37},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
			ociManifest, cfg, a.pushLayer("app", []byte(layer)), len(layer))
	}
	one, two := manifest("one"), manifest("two")
	for _, tag := range []string{"v1", "dev-1", "latest"} {
		a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": one, "imageTag": tag})
	}
	a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": two, "imageTag": "dev-1"})
	a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": two, "imageTag": "latest"})
	r := a.call("PutImage", map[string]any{"repositoryName": "app", "imageManifest": two, "imageTag": "v1"})
	a.fails(r, 400, "ImageTagAlreadyExistsException")
	if r.message() != "The image tag 'v1' already exists in the 'app' repository and cannot be overwritten because the repository is immutable." {
		t.Fatalf("message %q", r.message())
	}

	// PutImageTagMutability replaces setting and filters together.
	out := a.ok("PutImageTagMutability", map[string]any{"repositoryName": "app", "imageTagMutability": "MUTABLE_WITH_EXCLUSION",
		"imageTagMutabilityExclusionFilters": []map[string]string{{"filterType": "WILDCARD", "filter": "v*"}}})
	if out["imageTagMutability"] != "MUTABLE_WITH_EXCLUSION" || fmt.Sprint(out["imageTagMutabilityExclusionFilters"]) != "[map[filter:v* filterType:WILDCARD]]" {
		t.Fatalf("PutImageTagMutability %v", out)
	}
	a.fails(a.call("PutImage", map[string]any{"repositoryName": "app", "imageManifest": two, "imageTag": "v1"}), 400, "ImageTagAlreadyExistsException")
	a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": one, "imageTag": "dev-1"})
	out = a.ok("PutImageTagMutability", map[string]any{"repositoryName": "app", "imageTagMutability": "MUTABLE"})
	if _, ok := out["imageTagMutabilityExclusionFilters"]; ok {
		t.Fatalf("MUTABLE with filters: %v", out)
	}
	got = a.ok("DescribeRepositories", map[string]any{"repositoryNames": []string{"app"}})["repositories"].([]any)[0].(map[string]any)
	if _, ok := got["imageTagMutabilityExclusionFilters"]; ok || got["imageTagMutability"] != "MUTABLE" {
		t.Fatalf("described %v", got)
	}

	for _, c := range []struct {
		in  map[string]any
		msg string
	}{
		{map[string]any{"imageTagMutability": "SOMETIMES"}, "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]'"},
		{map[string]any{"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}, "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as IMMUTABLE_WITH_EXCLUSION'"},
		{map[string]any{"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION", "imageTagMutabilityExclusionFilters": []any{}}, "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'Member must have length greater than or equal to 1'"},
		{map[string]any{"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION", "imageTagMutabilityExclusionFilters": []map[string]string{{"filterType": "REGEX", "filter": "x"}}}, "Invalid parameter at 'imageTagMutabilityExclusionFilters.filterType' failed to satisfy constraint: 'Member must satisfy enum value set: [WILDCARD]'"},
		{map[string]any{"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION", "imageTagMutabilityExclusionFilters": []map[string]string{{"filterType": "WILDCARD"}}}, "Invalid parameter at 'imageTagMutabilityExclusionFilters.filter' failed to satisfy constraint: 'Member must not be null'"},
	} {
		for _, op := range []string{"CreateRepository", "PutImageTagMutability"} {
			in := map[string]any{"repositoryName": "app"}
			if op == "CreateRepository" {
				in["repositoryName"] = "other"
			}
			for k, v := range c.in {
				in[k] = v
			}
			r := a.call(op, in)
			a.fails(r, 400, "InvalidParameterException")
			if r.message() != c.msg {
				t.Errorf("%s %v: %q, want %q", op, c.in, r.message(), c.msg)
			}
		}
	}
	a.fails(a.call("DescribeRepositories", map[string]any{"repositoryNames": []string{"other"}}), 400, "RepositoryNotFoundException")
}

func TestEncryptionConfiguration(t *testing.T) {
	a := newAPI(t, registry.Config{})
	enc := func(name string, in map[string]any) map[string]any {
		t.Helper()
		repo := a.ok("CreateRepository", map[string]any{"repositoryName": name, "encryptionConfiguration": in})["repository"].(map[string]any)
		got := a.ok("DescribeRepositories", map[string]any{"repositoryNames": []string{name}})["repositories"].([]any)[0].(map[string]any)
		if fmt.Sprint(got["encryptionConfiguration"]) != fmt.Sprint(repo["encryptionConfiguration"]) {
			t.Fatalf("created %v, described %v", repo, got)
		}
		return got["encryptionConfiguration"].(map[string]any)
	}
	managed := enc("kms", map[string]any{"encryptionType": "KMS"})
	key, _ := managed["kmsKey"].(string)
	if managed["encryptionType"] != "KMS" || !strings.HasPrefix(key, "arn:aws:kms:us-east-1:000000000000:key/") {
		t.Fatalf("KMS without a key: %v", managed)
	}
	if got := enc("dsse", map[string]any{"encryptionType": "KMS_DSSE"}); got["encryptionType"] != "KMS_DSSE" || got["kmsKey"] != key {
		t.Fatalf("KMS_DSSE without a key: %v (the managed key is %s)", got, key)
	}
	own := "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	if got := enc("own", map[string]any{"encryptionType": "KMS", "kmsKey": own}); got["kmsKey"] != own {
		t.Fatalf("KMS with a key: %v", got)
	}
	if got := enc("alias", map[string]any{"encryptionType": "KMS", "kmsKey": "alias/team"}); got["kmsKey"] != "arn:aws:kms:us-east-1:000000000000:alias/team" {
		t.Fatalf("KMS with an alias: %v", got)
	}
	if got := enc("aes", map[string]any{"encryptionType": "AES256"}); got["encryptionType"] != "AES256" || got["kmsKey"] != nil {
		t.Fatalf("AES256: %v", got)
	}
	for _, c := range []struct {
		in  map[string]any
		msg string
	}{
		{map[string]any{"encryptionType": "AES256", "kmsKey": own}, "Invalid parameter at 'encryptionConfiguration.kmsKey' failed to satisfy constraint: 'kmsKey can only be specified when encryptionType is KMS or KMS_DSSE'"},
		{map[string]any{"encryptionType": "SSE"}, "Invalid parameter at 'encryptionConfiguration.encryptionType' failed to satisfy constraint: 'Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]'"},
		{map[string]any{"kmsKey": own}, "Invalid parameter at 'encryptionConfiguration.encryptionType' failed to satisfy constraint: 'Member must not be null'"},
	} {
		r := a.call("CreateRepository", map[string]any{"repositoryName": "bad", "encryptionConfiguration": c.in})
		a.fails(r, 400, "InvalidParameterException")
		if r.message() != c.msg {
			t.Errorf("%v: %q, want %q", c.in, r.message(), c.msg)
		}
	}
}

// TestImageTagsAndPushTimes: tags of up to 300 characters, ECR's messages beyond; an image's tags in the
// order they were put on it; imagePushedAt in whole seconds.
func TestImageTagsAndPushTimes(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	cfg := a.pushLayer("app", []byte(`{"architecture":"amd64","os":"linux"}`))
	layer := a.pushLayer("app", []byte("layer bytes"))
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":37},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":11}]}`, ociManifest, cfg, layer)
	long := strings.Repeat("x", 300)
	for _, tag := range []string{"latest", "2017.03", long} {
		a.ok("PutImage", map[string]any{"repositoryName": "app", "imageManifest": manifest, "imageTag": tag})
	}
	for tag, msg := range map[string]string{
		long + "x": "Invalid parameter at 'imageTag' failed to satisfy constraint: 'Member must have length less than or equal to 300'",
		"-x":       "Invalid parameter at 'imageTag' failed to satisfy constraint: 'must satisfy regular expression '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,299}''",
		"a/b":      "Invalid parameter at 'imageTag' failed to satisfy constraint: 'must satisfy regular expression '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,299}''",
	} {
		r := a.call("PutImage", map[string]any{"repositoryName": "app", "imageManifest": manifest, "imageTag": tag})
		a.fails(r, 400, "InvalidParameterException")
		if r.message() != msg {
			t.Errorf("tag %.10s…: %q", tag, r.message())
		}
	}
	d := a.ok("DescribeImages", map[string]any{"repositoryName": "app"})["imageDetails"].([]any)[0].(map[string]any)
	if fmt.Sprint(d["imageTags"]) != fmt.Sprint([]any{"latest", "2017.03", long}) {
		t.Fatalf("imageTags %v", d["imageTags"])
	}
	if at := d["imagePushedAt"].(float64); at != math.Trunc(at) || at < 1e9 {
		t.Fatalf("imagePushedAt %v is not in whole seconds", at)
	}
	ids := a.ok("ListImages", map[string]any{"repositoryName": "app"})["imageIds"].([]any)
	if len(ids) != 3 || ids[0].(map[string]any)["imageTag"] != "latest" || ids[2].(map[string]any)["imageTag"] != long {
		t.Fatalf("ListImages %v", ids)
	}
	got := a.ok("BatchGetImage", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": long}, {"imageTag": long + "x"}}})
	if imgs := got["images"].([]any); len(imgs) != 1 || imgs[0].(map[string]any)["imageId"].(map[string]any)["imageTag"] != long {
		t.Fatalf("BatchGetImage %v", got)
	}
	if f := got["failures"].([]any); len(f) != 1 || f[0].(map[string]any)["failureCode"] != "InvalidImageTag" {
		t.Fatalf("BatchGetImage failures %v", f)
	}
	a.ok("BatchDeleteImage", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": long}}})
}
