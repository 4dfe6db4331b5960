package registry_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/lifecycle/lifecycletest"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// pushExample pushes an example repository's images at their ages through the clock, and leaves the clock
// at now. It returns each image's digest by name. Tags the registry would refuse ("git hash") are written
// with a dash; the rules' prefixes do not see the difference.
func (e *env) pushExample(t *testing.T, repo string, imgs []lifecycletest.Image, now time.Time) map[string]digest.Digest {
	t.Helper()
	out := map[string]digest.Digest{}
	for i, img := range imgs {
		e.clock.Set(lifecycletest.PushedAt(now, imgs, i))
		cfg := e.blob(t, repo, "config "+repo+img.Name)
		layer := e.blob(t, repo, "layer "+repo+img.Name)
		body := imageManifest(cfg, layer)
		d := digest.FromBytes(body)
		refs := []string{d.String()}
		for _, tag := range img.Tags {
			refs = append(refs, strings.ReplaceAll(tag, " ", "-"))
		}
		for _, ref := range refs {
			blobSizes.Store(digest.FromBytes(body), len(body))
			if _, err := e.svc.PutManifest(ctx, reg, repo, ref, "application/vnd.oci.image.manifest.v1+json", body); err != nil {
				t.Fatalf("push %s as %s: %v", img.Name, ref, err)
			}
		}
		out[img.Name] = d
	}
	e.clock.Set(now)
	return out
}

// remaining lists the digests a repository still holds.
func (e *env) remaining(t *testing.T, repo string) []digest.Digest {
	t.Helper()
	imgs, _, _, err := e.svc.ListImages(ctx, reg, repo, "", 1000, registry.AnyTagStatus)
	if err != nil {
		t.Fatal(err)
	}
	var out []digest.Digest
	for _, img := range imgs {
		out = append(out, img.Digest)
	}
	return out
}

// preview runs a preview to completion and returns its results.
func (e *env) preview(t *testing.T, repo, text string) []store.Expiry {
	t.Helper()
	if _, err := e.svc.StartLifecyclePreview(ctx, reg, repo, text); err != nil {
		t.Fatalf("StartLifecyclePreview: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		p, err := e.svc.LifecyclePreview(ctx, reg, repo)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status == registry.PreviewComplete {
			return p.Results
		}
		if p.Status != registry.PreviewInProgress {
			t.Fatalf("preview status %s", p.Status)
		}
	}
	t.Fatal("preview did not complete")
	return nil
}

func names(byName map[string]digest.Digest, ds []digest.Digest) []string {
	var out []string
	for name, d := range byName {
		if slices.Contains(ds, d) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func expiredDigests(es []store.Expiry) []digest.Digest {
	var out []digest.Digest
	for _, e := range es {
		out = append(out, e.Digest)
	}
	return out
}

// TestLifecycleGuideExamples runs every worked example of the guide through the preview and through real
// expiry, with the images pushed at the stated ages.
func TestLifecycleGuideExamples(t *testing.T) {
	for _, ex := range lifecycletest.Guide {
		t.Run(ex.Name, func(t *testing.T) {
			e := newEnv(t, registry.Config{})
			e.repo(t, "app", "MUTABLE")
			now := e.clock.Now()
			byName := e.pushExample(t, "app", ex.Images, now)
			if err := e.svc.PutLifecyclePolicy(ctx, reg, "app", ex.Policy); err != nil {
				t.Fatal(err)
			}

			results := e.preview(t, "app", "")
			if got := names(byName, expiredDigests(results)); !slices.Equal(got, ex.Expired) {
				t.Fatalf("preview expires %v, the guide says %v", got, ex.Expired)
			}
			for _, r := range results {
				name := names(byName, []digest.Digest{r.Digest})[0]
				if r.Rule != ex.Rules[name] {
					t.Errorf("preview: %s by rule %d, the guide says %d", name, r.Rule, ex.Rules[name])
				}
			}

			res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{})
			if err != nil {
				t.Fatal(err)
			}
			var ran []store.Expiry
			if len(res) == 1 {
				ran = res[0].Expired
			}
			if !slices.EqualFunc(ran, results, func(a, b store.Expiry) bool { return a.Digest == b.Digest && a.Rule == b.Rule }) {
				t.Fatalf("expiry %v differs from its preview %v", ran, results)
			}
			left := e.remaining(t, "app")
			var kept []string
			for _, img := range ex.Images {
				if !slices.Contains(ex.Expired, img.Name) {
					kept = append(kept, img.Name)
				}
			}
			if got := names(byName, left); !slices.Equal(got, kept) {
				t.Fatalf("after expiry the repository holds %v, the guide keeps %v", got, kept)
			}
			for _, name := range ex.Expired {
				if _, err := e.svc.FindImage(ctx, reg, "app", registry.ImageRef{Digest: byName[name]}); registry.KindOf(err) != registry.KindManifestUnknown {
					t.Fatalf("expired image %s still found: %v", name, err)
				}
			}

			pol, err := e.svc.LifecyclePolicy(ctx, reg, "app")
			if err != nil || !pol.LastEvaluatedAt.Equal(now) {
				t.Fatalf("lastEvaluatedAt %v (%v), want %v", pol.LastEvaluatedAt, err, now)
			}
			history, err := e.svc.LifecycleHistory(ctx, reg, "app", 100)
			if err != nil || len(history) != len(ex.Expired) {
				t.Fatalf("history %v, %v", history, err)
			}
			for _, h := range history {
				if !h.At.Equal(now) || h.Rule != ex.Rules[names(byName, []digest.Digest{h.Digest})[0]] {
					t.Fatalf("history event %+v", h)
				}
			}
			// Applying again changes nothing: the policy's outcome is already in place.
			if res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{}); err != nil || len(res) != 0 {
				t.Fatalf("second pass expired %v, %v", res, err)
			}
		})
	}
}

func TestLifecyclePolicyOperations(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "MUTABLE")
	text := lifecycletest.Guide[0].Policy

	_, err := e.svc.LifecyclePolicy(ctx, reg, "app")
	wantKind(t, err, registry.KindLifecyclePolicyNotFound)
	if err.Error() != "Lifecycle policy does not exist for the repository with name 'app' in the registry with id '000000000000'" {
		t.Fatalf("message %q", err)
	}
	_, err = e.svc.DeleteLifecyclePolicy(ctx, reg, "app")
	wantKind(t, err, registry.KindLifecyclePolicyNotFound)
	_, err = e.svc.StartLifecyclePreview(ctx, reg, "app", "")
	wantKind(t, err, registry.KindLifecyclePolicyNotFound)
	_, err = e.svc.LifecyclePreview(ctx, reg, "app")
	wantKind(t, err, registry.KindLifecyclePreviewNotFound)
	wantKind(t, e.svc.PutLifecyclePolicy(ctx, reg, "nope", text), registry.KindRepositoryNotFound)

	for _, c := range []struct{ text, want string }{
		{`{"rules":[]}`, "'Member must have length greater than or equal to 100'"},
		{strings.Replace(text, "{", "{"+strings.Repeat(" ", 30720), 1), "'Member must have length less than or equal to 30720'"},
		{strings.Replace(text, `"days"`, `"weeks"`, 1), `'Lifecycle policy validation failure: rule 1 (rulePriority 1): "countUnit" must be "days", not "weeks"'`},
	} {
		err := e.svc.PutLifecyclePolicy(ctx, reg, "app", c.text)
		wantKind(t, err, registry.KindInvalidParameter)
		if want := "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: " + c.want; err.Error() != want {
			t.Fatalf("message %q\nwant    %q", err, want)
		}
		_, err = e.svc.StartLifecyclePreview(ctx, reg, "app", c.text)
		wantKind(t, err, registry.KindInvalidParameter)
	}
	if _, err := e.svc.LifecyclePolicy(ctx, reg, "app"); registry.KindOf(err) != registry.KindLifecyclePolicyNotFound {
		t.Fatalf("an invalid policy was stored: %v", err)
	}

	if err := e.svc.PutLifecyclePolicy(ctx, reg, "app", text); err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.LifecyclePolicy(ctx, reg, "app")
	if err != nil || p.Text != registry.CompactLifecycleText(text) || !p.LastEvaluatedAt.IsZero() {
		t.Fatalf("LifecyclePolicy = %+v, %v", p, err)
	}
	p, err = e.svc.DeleteLifecyclePolicy(ctx, reg, "app")
	if err != nil || p.Text != registry.CompactLifecycleText(text) {
		t.Fatalf("DeleteLifecyclePolicy = %+v, %v", p, err)
	}
	_, err = e.svc.LifecyclePolicy(ctx, reg, "app")
	wantKind(t, err, registry.KindLifecyclePolicyNotFound)
}

func TestLifecyclePreviewInProgress(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "MUTABLE")
	ex := lifecycletest.Guide[1]
	e.pushExample(t, "app", ex.Images, e.clock.Now())
	release := registry.HoldPreviews(e.svc)
	got, err := e.svc.StartLifecyclePreview(ctx, reg, "app", ex.Policy)
	if err != nil || got != ex.Policy {
		t.Fatalf("StartLifecyclePreview = %q, %v", got, err)
	}
	p, err := e.svc.LifecyclePreview(ctx, reg, "app")
	if err != nil || p.Status != registry.PreviewInProgress || p.Text != ex.Policy || len(p.Results) != 0 {
		t.Fatalf("preview while held: %+v, %v", p, err)
	}
	_, err = e.svc.StartLifecyclePreview(ctx, reg, "app", ex.Policy)
	wantKind(t, err, registry.KindLifecyclePreviewInProgress)
	release()
	for p.Status == registry.PreviewInProgress {
		time.Sleep(2 * time.Millisecond)
		if p, err = e.svc.LifecyclePreview(ctx, reg, "app"); err != nil {
			t.Fatal(err)
		}
	}
	if p.Status != registry.PreviewComplete || len(p.Results) != len(ex.Expired) {
		t.Fatalf("released preview: %+v", p)
	}
	results := e.preview(t, "app", lifecycletest.Guide[0].Policy) // a new preview replaces the finished one
	if len(results) != 2 {
		t.Fatalf("second preview: %v", results)
	}
	if _, err := e.svc.LifecyclePolicy(ctx, reg, "app"); registry.KindOf(err) != registry.KindLifecyclePolicyNotFound {
		t.Fatal("a preview stored its policy")
	}
	if left := e.remaining(t, "app"); len(left) != len(ex.Images) {
		t.Fatalf("a preview deleted images: %d left", len(left))
	}
}

func TestLifecyclePreviewOfDeadNodeFails(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "MUTABLE")
	release := registry.HoldPreviews(e.svc)
	defer release()
	if _, err := e.svc.StartLifecyclePreview(ctx, reg, "app", lifecycletest.Guide[0].Policy); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(6 * time.Minute) // as if the node running it died
	p, err := e.svc.LifecyclePreview(ctx, reg, "app")
	if err != nil || p.Status != registry.PreviewFailed {
		t.Fatalf("stale preview: %+v, %v", p, err)
	}
	if _, err := e.svc.StartLifecyclePreview(ctx, reg, "app", lifecycletest.Guide[0].Policy); err != nil {
		t.Fatalf("a stale preview blocks a new one: %v", err)
	}
}

// TestLifecycleKeepsIndexChildren: children of a kept index survive any rule; those of an expired index go.
func TestLifecycleKeepsIndexChildren(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "MUTABLE")
	now := e.clock.Now()
	e.clock.Set(now.Add(-30 * 24 * time.Hour))
	c1 := e.push(t, "app", "c1", "c1")
	c2 := e.push(t, "app", "c2", "c2")
	oldIndex := e.pushIndex(t, "app", "old-index", c1, c2)
	c3 := e.push(t, "app", "c3", "c3")
	c4 := e.push(t, "app", "c4", "c4")
	keptIndex := e.pushIndex(t, "app", "release", c3, c4)
	for _, tag := range []string{"c1", "c2", "c3", "c4"} {
		if _, err := e.svc.DeleteTag(ctx, reg, "app", tag); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Set(now)
	// The children stay untagged (their indexes list them); the index tagged "old-index" is old.
	policy := `{"rules":[
		{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["old"],"countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}},
		{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}`
	if err := e.svc.PutLifecyclePolicy(ctx, reg, "app", policy); err != nil {
		t.Fatal(err)
	}
	preview := expiredDigests(e.preview(t, "app", ""))
	res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{})
	if err != nil || len(res) != 1 {
		t.Fatalf("RunLifecycle = %v, %v", res, err)
	}
	want := []digest.Digest{c1, c2, oldIndex}
	slices.Sort(want)
	got := expiredDigests(res[0].Expired)
	slices.Sort(got)
	slices.Sort(preview)
	if !slices.Equal(got, want) || !slices.Equal(preview, want) {
		t.Fatalf("expired %v (preview %v), want the old index and its children %v", got, preview, want)
	}
	left := e.remaining(t, "app")
	for _, d := range []digest.Digest{c3, c4, keptIndex} {
		if !slices.Contains(left, d) {
			t.Fatalf("%s of the kept index was expired", d)
		}
	}
}

func (e *env) pushIndex(t *testing.T, repo, tag string, children ...digest.Digest) digest.Digest {
	t.Helper()
	res, err := e.svc.PutManifest(ctx, reg, repo, tag, "application/vnd.oci.image.index.v1+json", indexManifest(children...))
	if err != nil {
		t.Fatal(err)
	}
	return res.Digest
}

func TestLifecycleRunScope(t *testing.T) {
	e := newEnv(t, registry.Config{})
	ex := lifecycletest.Guide[1] // keep one untagged image
	for _, repo := range []string{"app-a", "app-b"} {
		e.repo(t, repo, "MUTABLE")
		e.pushExample(t, repo, ex.Images, e.clock.Now())
		if err := e.svc.PutLifecyclePolicy(ctx, reg, repo, ex.Policy); err != nil {
			t.Fatal(err)
		}
	}
	// Not due yet: the policies were just set.
	if res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{Due: time.Hour}); err != nil || len(res) != 0 {
		t.Fatalf("a pass applied policies set a moment ago: %v, %v", res, err)
	}
	// A dry run of one repository reports and changes nothing.
	res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{RegistryID: reg, Repository: "app-a", DryRun: true})
	if err != nil || len(res) != 1 || res[0].Repository != "app-a" || len(res[0].Expired) != 3 {
		t.Fatalf("dry run = %+v, %v", res, err)
	}
	if left := e.remaining(t, "app-a"); len(left) != 5 {
		t.Fatalf("a dry run deleted images: %d left", len(left))
	}
	if p, _ := e.svc.LifecyclePolicy(ctx, reg, "app-a"); !p.LastEvaluatedAt.IsZero() {
		t.Fatal("a dry run set lastEvaluatedAt")
	}
	// One repository on demand.
	if res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{RegistryID: reg, Repository: "app-a"}); err != nil || len(res) != 1 || len(res[0].Expired) != 3 {
		t.Fatalf("run of a = %+v, %v", res, err)
	}
	if left := e.remaining(t, "app-b"); len(left) != 5 {
		t.Fatal("a run of one repository touched another")
	}
	// Another registry's pass does not touch this one.
	if res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{RegistryID: "111111111111"}); err != nil || len(res) != 0 {
		t.Fatalf("pass of another registry: %+v, %v", res, err)
	}
	// An hour later both are due; only b has anything left to expire.
	e.clock.Advance(time.Hour)
	res, err = e.svc.RunLifecycle(ctx, registry.LifecycleRun{Due: time.Hour})
	if err != nil || len(res) != 1 || res[0].Repository != "app-b" {
		t.Fatalf("due pass = %+v, %v", res, err)
	}
	for _, repo := range []string{"app-a", "app-b"} {
		if p, _ := e.svc.LifecyclePolicy(ctx, reg, repo); !p.LastEvaluatedAt.Equal(e.clock.Now()) {
			t.Fatalf("%s lastEvaluatedAt %v", repo, p.LastEvaluatedAt)
		}
	}
	// Just applied: not due again for an hour.
	if res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{Due: time.Hour}); err != nil || len(res) != 0 {
		t.Fatalf("pass right after a pass: %v, %v", res, err)
	}
}

func TestLifecycleOneProcessAtATime(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "MUTABLE")
	e.pushExample(t, "app", lifecycletest.Guide[1].Images, e.clock.Now())
	if err := e.svc.PutLifecyclePolicy(ctx, reg, "app", lifecycletest.Guide[1].Policy); err != nil {
		t.Fatal(err)
	}
	if err := e.meta.Update(ctx, func(tx store.Tx) error {
		_, err := tx.AcquireLease("lifecycle", "another-node", e.clock.Now(), 5*time.Minute)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{})
	if err != registry.ErrLifecycleBusy {
		t.Fatalf("RunLifecycle beside another holder: %v", err)
	}
	if res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{DryRun: true}); err != nil || len(res) != 1 {
		t.Fatalf("a dry run needs no lease: %v, %v", res, err)
	}
	e.clock.Advance(6 * time.Minute) // the other holder died
	if res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{}); err != nil || len(res) != 1 {
		t.Fatalf("after the lease expired: %v, %v", res, err)
	}
	if res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{}); err != nil || len(res) != 0 {
		t.Fatalf("the lease was not released: %v, %v", res, err)
	}
}

// TestLifecyclePreviewEqualsExpiry: for random repositories and policies, what the preview shows is what
// expiry deletes, and nothing else is deleted.
func TestLifecyclePreviewEqualsExpiry(t *testing.T) {
	e := newEnv(t, registry.Config{})
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 25; i++ {
		repo := "repo" + string(rune('a'+i))
		e.repo(t, repo, "MUTABLE")
		now := e.clock.Now()
		e.pushExample(t, repo, lifecycletest.RandomImages(r, 25), now)
		text := lifecycletest.RandomPolicy(r)
		before := e.remaining(t, repo)
		if err := e.svc.PutLifecyclePolicy(ctx, reg, repo, text); err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		preview := expiredDigests(e.preview(t, repo, ""))
		res, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{RegistryID: reg, Repository: repo})
		if err != nil {
			t.Fatal(err)
		}
		var expired []digest.Digest
		if len(res) > 0 {
			expired = expiredDigests(res[0].Expired)
		}
		if !slices.Equal(preview, expired) {
			t.Fatalf("%s: preview %v, expiry %v\n%s", repo, preview, expired, text)
		}
		after := e.remaining(t, repo)
		if len(after) != len(before)-len(expired) {
			t.Fatalf("%s: %d images before, %d expired, %d after", repo, len(before), len(expired), len(after))
		}
		for _, d := range expired {
			if slices.Contains(after, d) {
				t.Fatalf("%s: expired %s is still there", repo, d)
			}
		}
		e.clock.Advance(time.Hour)
	}
}
