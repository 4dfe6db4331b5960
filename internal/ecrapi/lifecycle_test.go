package ecrapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/lifecycle/lifecycletest"
	"github.com/wharf-dev/wharf/internal/registry"
)

// pushAt pushes an example repository's images at their ages (through the core, with the server's clock)
// and returns each image's name by digest.
func (a *api) pushAt(repo string, imgs []lifecycletest.Image, now time.Time) map[string]string {
	a.t.Helper()
	ctx := context.Background()
	byDigest := map[string]string{}
	for i, img := range imgs {
		a.clock.Set(lifecycletest.PushedAt(now, imgs, i))
		var blobs []digest.Digest
		var sizes []int
		for _, kind := range []string{"config", "layer"} {
			content := kind + " " + repo + img.Name
			d := digest.FromString(content)
			if _, err := a.app.Service.PutBlob(ctx, "000000000000", repo, d, strings.NewReader(content)); err != nil {
				a.t.Fatal(err)
			}
			blobs, sizes = append(blobs, d), append(sizes, len(content))
		}
		body := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}`, blobs[0], sizes[0], blobs[1], sizes[1]))
		refs := []string{digest.FromBytes(body).String()}
		for _, tag := range img.Tags {
			refs = append(refs, strings.ReplaceAll(tag, " ", "-"))
		}
		for _, ref := range refs {
			if _, err := a.app.Service.PutManifest(ctx, "000000000000", repo, ref, "application/vnd.oci.image.manifest.v1+json", body); err != nil {
				a.t.Fatal(err)
			}
		}
		byDigest[refs[0]] = img.Name
	}
	a.clock.Set(now)
	return byDigest
}

// completePreview polls GetLifecyclePolicyPreview until the preview is complete.
func (a *api) completePreview(in map[string]any) map[string]any {
	a.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		out := a.ok("GetLifecyclePolicyPreview", in)
		switch out["status"] {
		case "COMPLETE":
			return out
		case "IN_PROGRESS":
			if len(out["previewResults"].([]any)) != 0 {
				a.t.Fatalf("results while in progress: %v", out)
			}
		default:
			a.t.Fatalf("preview status %v", out["status"])
		}
	}
	a.t.Fatal("the preview did not complete")
	return nil
}

// TestLifecycleGuideExamplesThroughTheAPI runs every worked example of the guide through the ECR API:
// PutLifecyclePolicy, the preview, then real expiry and what DescribeImages and GetLifecyclePolicy show.
func TestLifecycleGuideExamplesThroughTheAPI(t *testing.T) {
	for i, ex := range lifecycletest.Guide {
		t.Run(ex.Name, func(t *testing.T) {
			a := newAPIAt(t, registry.Config{}, clock.NewFake(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)))
			repo := fmt.Sprintf("guide/example-%d", i)
			a.ok("CreateRepository", map[string]any{"repositoryName": repo})
			now := a.clock.Now()
			byDigest := a.pushAt(repo, ex.Images, now)

			put := a.ok("PutLifecyclePolicy", map[string]any{"repositoryName": repo, "lifecyclePolicyText": ex.Policy})
			if put["lifecyclePolicyText"] != registry.CompactLifecycleText(ex.Policy) || put["repositoryName"] != repo || put["registryId"] != "000000000000" {
				t.Fatalf("PutLifecyclePolicy answered %v", put)
			}
			start := a.ok("StartLifecyclePolicyPreview", map[string]any{"repositoryName": repo})
			if start["status"] != "IN_PROGRESS" || start["lifecyclePolicyText"] != registry.CompactLifecycleText(ex.Policy) {
				t.Fatalf("StartLifecyclePolicyPreview answered %v", start)
			}
			out := a.completePreview(map[string]any{"repositoryName": repo})
			var got []string
			for _, r := range out["previewResults"].([]any) {
				res := r.(map[string]any)
				name := byDigest[res["imageDigest"].(string)]
				got = append(got, name)
				if res["action"].(map[string]any)["type"] != "EXPIRE" || int(res["appliedRulePriority"].(float64)) != ex.Rules[name] {
					t.Fatalf("result %v: the guide says rule %d", res, ex.Rules[name])
				}
				idx := slices.IndexFunc(ex.Images, func(img lifecycletest.Image) bool { return img.Name == name })
				if pushed := res["imagePushedAt"].(float64); pushed != float64(lifecycletest.PushedAt(now, ex.Images, idx).Unix()) {
					t.Fatalf("imagePushedAt %v", pushed)
				}
				if tags, _ := res["imageTags"].([]any); len(tags) != len(ex.Images[idx].Tags) {
					t.Fatalf("imageTags %v, want %v", tags, ex.Images[idx].Tags)
				}
			}
			if !slices.Equal(got, ex.Expired) {
				t.Fatalf("preview expires %v, the guide says %v", got, ex.Expired)
			}
			if n := out["summary"].(map[string]any)["expiringImageTotalCount"].(float64); int(n) != len(ex.Expired) {
				t.Fatalf("expiringImageTotalCount %v", n)
			}

			if _, err := a.app.Service.RunLifecycle(context.Background(), registry.LifecycleRun{}); err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, d := range a.ok("DescribeImages", map[string]any{"repositoryName": repo})["imageDetails"].([]any) {
				left = append(left, byDigest[d.(map[string]any)["imageDigest"].(string)])
			}
			slices.Sort(left)
			var kept []string
			for _, img := range ex.Images {
				if !slices.Contains(ex.Expired, img.Name) {
					kept = append(kept, img.Name)
				}
			}
			if !slices.Equal(left, kept) {
				t.Fatalf("after expiry DescribeImages shows %v, the guide keeps %v", left, kept)
			}
			get := a.ok("GetLifecyclePolicy", map[string]any{"repositoryName": repo})
			if get["lastEvaluatedAt"] != float64(now.Unix()) || get["lifecyclePolicyText"] != registry.CompactLifecycleText(ex.Policy) {
				t.Fatalf("GetLifecyclePolicy answered %v", get)
			}
		})
	}
}

func TestLifecycleAPI(t *testing.T) {
	a := newAPIAt(t, registry.Config{}, clock.NewFake(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)))
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	notFound := "Lifecycle policy does not exist for the repository with name 'app' in the registry with id '000000000000'"
	for _, op := range []string{"GetLifecyclePolicy", "DeleteLifecyclePolicy", "StartLifecyclePolicyPreview"} {
		r := a.call(op, map[string]any{"repositoryName": "app"})
		a.fails(r, 400, "LifecyclePolicyNotFoundException")
		if r.message() != notFound {
			t.Fatalf("%s message %q", op, r.message())
		}
	}
	a.fails(a.call("GetLifecyclePolicyPreview", map[string]any{"repositoryName": "app"}), 400, "LifecyclePolicyPreviewNotFoundException")
	a.fails(a.call("PutLifecyclePolicy", map[string]any{"repositoryName": "app"}), 400, "InvalidParameterException")
	a.fails(a.call("PutLifecyclePolicy", map[string]any{"repositoryName": "nope", "lifecyclePolicyText": lifecycletest.Guide[0].Policy}), 400, "RepositoryNotFoundException")
	bad := strings.Replace(lifecycletest.Guide[2].Policy, `"rulePriority": 2`, `"rulePriority": 1`, 1)
	r := a.call("PutLifecyclePolicy", map[string]any{"repositoryName": "app", "lifecyclePolicyText": bad})
	a.fails(r, 400, "InvalidParameterException")
	if want := "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: rule 2 (rulePriority 1): rulePriority 1 is already used by rule 1; every rule needs its own rulePriority'"; r.message() != want {
		t.Fatalf("message %q", r.message())
	}
	a.fails(a.call("StartLifecyclePolicyPreview", map[string]any{"repositoryName": "app", "lifecyclePolicyText": bad}), 400, "InvalidParameterException")
	a.fails(a.call("GetLifecyclePolicy", map[string]any{"repositoryName": "app"}), 400, "LifecyclePolicyNotFoundException")

	// Previews of a text, without storing it, paged and filtered.
	byDigest := a.pushAt("app", lifecycletest.Guide[7].Images, a.clock.Now()) // expires A (tagged), B (untagged), D (tagged)
	a.ok("StartLifecyclePolicyPreview", map[string]any{"repositoryName": "app", "lifecyclePolicyText": lifecycletest.Guide[7].Policy})
	all := a.completePreview(map[string]any{"repositoryName": "app"})
	if len(all["previewResults"].([]any)) != 3 || all["nextToken"] != nil {
		t.Fatalf("preview %v", all)
	}
	a.fails(a.call("GetLifecyclePolicy", map[string]any{"repositoryName": "app"}), 400, "LifecyclePolicyNotFoundException")
	var paged []string
	in := map[string]any{"repositoryName": "app", "maxResults": 1}
	for page := 0; ; page++ {
		out := a.ok("GetLifecyclePolicyPreview", in)
		for _, r := range out["previewResults"].([]any) {
			paged = append(paged, byDigest[r.(map[string]any)["imageDigest"].(string)])
		}
		if out["summary"].(map[string]any)["expiringImageTotalCount"] != float64(3) {
			t.Fatalf("summary on a page: %v", out["summary"])
		}
		tok, _ := out["nextToken"].(string)
		if tok == "" {
			break
		}
		if page > 3 {
			t.Fatal("paging does not end")
		}
		in["nextToken"] = tok
		// a token is bound to its repository
		a.fails(a.call("GetLifecyclePolicyPreview", map[string]any{"repositoryName": "other", "nextToken": tok}), 400, "RepositoryNotFoundException")
	}
	if !slices.Equal(paged, []string{"A", "B", "D"}) {
		t.Fatalf("pages gave %v", paged)
	}
	filtered := func(status string) (names []string) {
		out := a.ok("GetLifecyclePolicyPreview", map[string]any{"repositoryName": "app", "filter": map[string]string{"tagStatus": status}})
		for _, r := range out["previewResults"].([]any) {
			names = append(names, byDigest[r.(map[string]any)["imageDigest"].(string)])
		}
		return names
	}
	if got := filtered("UNTAGGED"); !slices.Equal(got, []string{"B"}) {
		t.Fatalf("UNTAGGED filter: %v", got)
	}
	if got := filtered("TAGGED"); !slices.Equal(got, []string{"A", "D"}) {
		t.Fatalf("TAGGED filter: %v", got)
	}
	a.fails(a.call("GetLifecyclePolicyPreview", map[string]any{"repositoryName": "app", "filter": map[string]string{"tagStatus": "SOME"}}), 400, "InvalidParameterException")
	a.fails(a.call("GetLifecyclePolicyPreview", map[string]any{"repositoryName": "app", "maxResults": 101}), 400, "InvalidParameterException")
	a.fails(a.call("GetLifecyclePolicyPreview", map[string]any{"repositoryName": "app", "maxResults": 1, "imageIds": []map[string]string{{"imageTag": "alpha-1"}}}), 400, "InvalidParameterException")
	a.fails(a.call("GetLifecyclePolicyPreview", map[string]any{"repositoryName": "app", "nextToken": "forged.token"}), 400, "InvalidParameterException")
	out := a.ok("GetLifecyclePolicyPreview", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": "alpha-1"}, {"imageTag": "alpha-2"}}})
	if res := out["previewResults"].([]any); len(res) != 1 || byDigest[res[0].(map[string]any)["imageDigest"].(string)] != "A" {
		t.Fatalf("imageIds narrowing: %v", res)
	}

	// Store it, read it back, delete it.
	a.ok("PutLifecyclePolicy", map[string]any{"repositoryName": "app", "lifecyclePolicyText": lifecycletest.Guide[7].Policy})
	get := a.ok("GetLifecyclePolicy", map[string]any{"repositoryName": "app"})
	if at, present := get["lastEvaluatedAt"]; !present || at != 0.0 || get["lifecyclePolicyText"] != registry.CompactLifecycleText(lifecycletest.Guide[7].Policy) {
		t.Fatalf("GetLifecyclePolicy before any evaluation: %v", get)
	}
	del := a.ok("DeleteLifecyclePolicy", map[string]any{"repositoryName": "app"})
	if at, present := del["lastEvaluatedAt"]; !present || at != 0.0 || del["lifecyclePolicyText"] != registry.CompactLifecycleText(lifecycletest.Guide[7].Policy) {
		t.Fatalf("DeleteLifecyclePolicy answered %v", del)
	}
	a.fails(a.call("GetLifecyclePolicy", map[string]any{"repositoryName": "app"}), 400, "LifecyclePolicyNotFoundException")
	if n := len(a.ok("DescribeImages", map[string]any{"repositoryName": "app"})["imageDetails"].([]any)); n != 5 {
		t.Fatalf("previews and policy changes deleted images: %d left", n)
	}
}

func TestLifecycleNeedsPermission(t *testing.T) {
	a := newAPI(t, registry.Config{})
	a.ok("CreateRepository", map[string]any{"repositoryName": "app"})
	bob := a.user("bob")
	text := lifecycletest.Guide[0].Policy
	for _, op := range []string{"PutLifecyclePolicy", "GetLifecyclePolicy", "DeleteLifecyclePolicy", "StartLifecyclePolicyPreview", "GetLifecyclePolicyPreview"} {
		r := a.as(bob, op, map[string]any{"repositoryName": "app", "lifecyclePolicyText": text})
		a.fails(r, 400, "AccessDeniedException")
		if !strings.Contains(r.message(), "ecr:"+op+" on resource: arn:aws:ecr:us-east-1:000000000000:repository/app") {
			t.Fatalf("%s: %q", op, r.message())
		}
	}
}
