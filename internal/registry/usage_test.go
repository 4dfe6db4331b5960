package registry_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// TestUsageIsExact runs a seeded random sequence of pushes (base layers shared across repositories and
// accounts), tag moves, index pushes, deletions, lifecycle expiries, garbage collections and repository
// deletions, and after every step compares Usage with what walking the remaining manifests finds, the
// sizes read from the blob store.
func TestUsageIsExact(t *testing.T) {
	e := newEnv(t, registry.Config{GCGrace: time.Minute})
	rng := rand.New(rand.NewPCG(22, 7))
	accounts := []string{"111111111111", "222222222222"}
	repos := []string{"app", "team/api", "team/web", "tools"}
	for _, a := range accounts {
		for _, r := range repos {
			if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: a, Name: r}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// base layers every repository of both accounts draws from
	bases := []string{"base alpine " + strings.Repeat("a", 300), "base debian " + strings.Repeat("d", 5000), "base distroless " + strings.Repeat("s", 1200)}
	blobOf := func(a, repo, content string) digest.Digest {
		d := digest.FromString(content)
		if _, err := e.svc.PutBlob(ctx, a, repo, d, strings.NewReader(content)); err != nil {
			t.Fatalf("PutBlob: %v", err)
		}
		blobSizes.Store(d, len(content))
		return d
	}
	images := map[string][]digest.Digest{} // account/repo -> image manifests pushed (some deleted since)
	n := 0
	push := func(a, repo string) {
		n++
		cfg := blobOf(a, repo, fmt.Sprintf("config %d", n))
		layers := []digest.Digest{blobOf(a, repo, bases[rng.IntN(len(bases))])}
		if rng.IntN(2) == 0 {
			layers = append(layers, blobOf(a, repo, bases[rng.IntN(len(bases))]))
		}
		layers = append(layers, blobOf(a, repo, fmt.Sprintf("layer %d %s", n, strings.Repeat("x", rng.IntN(4000)))))
		body := imageManifest(cfg, layers...)
		tag := []string{"", "latest", "v1", "v2"}[rng.IntN(4)]
		res, err := e.svc.PutManifest(ctx, a, repo, tag, manifest.OCIManifest, body)
		if err != nil {
			t.Fatalf("push %s/%s: %v", a, repo, err)
		}
		blobSizes.Store(res.Digest, len(body))
		images[a+"/"+repo] = append(images[a+"/"+repo], res.Digest)
	}
	steps := []struct {
		name   string
		weight int
		run    func(a, repo string)
	}{
		{"push", 10, push},
		{"push an index", 2, func(a, repo string) {
			ds := images[a+"/"+repo]
			if len(ds) < 2 {
				return
			}
			kids := []digest.Digest{ds[rng.IntN(len(ds))], ds[rng.IntN(len(ds))]}
			if kids[0] == kids[1] {
				kids = kids[:1]
			}
			body := indexManifest(kids...)
			if res, err := e.svc.PutManifest(ctx, a, repo, "multi", manifest.OCIIndex, body); err == nil {
				blobSizes.Store(res.Digest, len(body))
				images[a+"/"+repo] = append(images[a+"/"+repo], res.Digest)
			} else if registry.KindOf(err) != registry.KindManifestChildUnknown && registry.KindOf(err) != registry.KindManifestInvalid {
				t.Fatalf("push an index: %v", err)
			}
		}},
		{"copy an image to another repository", 2, func(a, repo string) {
			ds := images[a+"/"+repo]
			if len(ds) == 0 {
				return
			}
			d := ds[rng.IntN(len(ds))]
			info, err := e.svc.GetManifest(ctx, a, repo, d.String(), nil)
			if err != nil {
				return // deleted since
			}
			to := repos[rng.IntN(len(repos))]
			m, err := manifest.Parse(info.MediaType, info.Content)
			if err != nil || len(m.Manifests) > 0 {
				return
			}
			for _, b := range m.Blobs() {
				if _, err := e.svc.MountBlob(ctx, a, to, b.Digest, repo, nil); err != nil {
					t.Fatalf("mount: %v", err)
				}
			}
			if _, err := e.svc.PutManifest(ctx, a, to, "copied", info.MediaType, info.Content); err != nil {
				t.Fatalf("copy: %v", err)
			}
			images[a+"/"+to] = append(images[a+"/"+to], d)
		}},
		{"delete an image", 4, func(a, repo string) {
			ds := images[a+"/"+repo]
			if len(ds) == 0 {
				return
			}
			_, err := e.svc.DeleteManifest(ctx, a, repo, ds[rng.IntN(len(ds))])
			if err != nil && registry.KindOf(err) != registry.KindManifestUnknown && registry.KindOf(err) != registry.KindImageReferenced {
				t.Fatalf("delete: %v", err)
			}
		}},
		{"delete a tag", 2, func(a, repo string) {
			_, err := e.svc.DeleteTag(ctx, a, repo, []string{"latest", "v1", "v2", "multi", "copied"}[rng.IntN(5)])
			if err != nil && registry.KindOf(err) != registry.KindManifestUnknown {
				t.Fatalf("delete tag: %v", err)
			}
		}},
		{"lifecycle expiry", 2, func(a, repo string) {
			policy := `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},` +
				`{"rulePriority":2,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":4},"action":{"type":"expire"}}]}`
			if err := e.svc.PutLifecyclePolicy(ctx, a, repo, policy); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{RegistryID: a, Repository: repo}); err != nil {
				t.Fatalf("lifecycle: %v", err)
			}
		}},
		{"collect garbage", 3, func(a, repo string) {
			e.clock.Advance(2 * time.Minute)
			if _, err := e.svc.CollectGarbage(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{"delete and create the repository", 1, func(a, repo string) {
			if _, err := e.svc.DeleteRepository(ctx, a, repo, true); err != nil {
				t.Fatal(err)
			}
			delete(images, a+"/"+repo)
			if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: a, Name: repo}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	var pick []int
	for i, s := range steps {
		for range s.weight {
			pick = append(pick, i)
		}
	}
	for i := range 300 {
		s := steps[pick[rng.IntN(len(pick))]]
		a, repo := accounts[rng.IntN(len(accounts))], repos[rng.IntN(len(repos))]
		s.run(a, repo)
		for _, a := range accounts {
			checkUsage(t, e, a, fmt.Sprintf("step %d (%s in %s/%s)", i, s.name, a, repo))
		}
		if t.Failed() {
			t.FailNow()
		}
	}
}

// checkUsage compares a registry's Usage with an independent count: every image's manifest and the blobs
// it names, sizes from the blob store.
func checkUsage(t *testing.T, e *env, account, step string) {
	t.Helper()
	repos, _, err := e.svc.ListRepositories(ctx, account, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	type held struct {
		digests   map[digest.Digest]int64 // blobs
		manifests int64
		images    int
		tags      int
	}
	byRepo := map[string]*held{}
	holders := map[digest.Digest]int{}
	all := map[digest.Digest]int64{}
	for _, r := range repos {
		h := &held{digests: map[digest.Digest]int64{}}
		byRepo[r.Name] = h
		imgs, _, _, err := e.svc.ListImages(ctx, account, r.Name, "", 1000, registry.AnyTagStatus)
		if err != nil {
			t.Fatal(err)
		}
		h.images = len(imgs)
		for _, img := range imgs {
			h.tags += len(img.Tags)
			info, err := e.svc.GetManifest(ctx, account, r.Name, img.Digest.String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			h.manifests += int64(len(info.Content)) // each repository stores its own
			m, err := manifest.Parse(info.MediaType, info.Content)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range m.Blobs() {
				st, err := e.blobs.Stat(ctx, b.Digest)
				if err != nil {
					t.Fatalf("%s: blob %s of %s/%s is gone from the blob store: %v", step, b.Digest, r.Name, img.Digest, err)
				}
				h.digests[b.Digest] = st
			}
		}
		for d, size := range h.digests {
			holders[d]++
			all[d] = size
		}
	}
	u, err := e.svc.Usage(ctx, account, registry.UsageOptions{Max: 1000, Totals: true})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, size := range all {
		total += size
	}
	for _, h := range byRepo {
		total += h.manifests
	}
	if u.Totals.StorageBytes != total || u.RepositoryCount != len(repos) {
		t.Errorf("%s: %s stores %d bytes in %d repositories; walking the manifests finds %d bytes in %d", step, account,
			u.Totals.StorageBytes, u.RepositoryCount, total, len(repos))
	}
	if len(u.Repositories) != len(repos) {
		t.Fatalf("%s: %d repositories reported, want %d", step, len(u.Repositories), len(repos))
	}
	var shares float64
	for _, r := range u.Repositories {
		h := byRepo[r.Name]
		bytes, shared, share := h.manifests, int64(0), float64(h.manifests)
		for d, size := range h.digests {
			bytes += size
			share += float64(size) / float64(holders[d])
			if holders[d] > 1 {
				shared += size
			}
		}
		if r.StorageBytes != bytes || r.SharedBytes != shared || math.Abs(r.ShareBytes-share) > 1e-6 || r.Images != h.images || r.Tags != h.tags {
			t.Errorf("%s: %s/%s: %d bytes (%d shared, share %.3f), %d images, %d tags; walking finds %d (%d, %.3f), %d, %d",
				step, account, r.Name, r.StorageBytes, r.SharedBytes, r.ShareBytes, r.Images, r.Tags, bytes, shared, share, h.images, h.tags)
		}
		shares += r.ShareBytes
	}
	// Named, the same figures.
	var names []string
	for _, r := range repos {
		names = append(names, r.Name)
	}
	named, err := e.svc.Usage(ctx, account, registry.UsageOptions{Repositories: names})
	if err != nil || len(named.Repositories) != len(u.Repositories) {
		t.Fatalf("%s: named: %+v, %v", step, named, err)
	}
	for i, r := range named.Repositories {
		if p := u.Repositories[i]; r.Name != p.Name || r.StorageBytes != p.StorageBytes || r.ShareBytes != p.ShareBytes || r.Images != p.Images {
			t.Errorf("%s: named %+v, paged %+v", step, r, p)
		}
	}
	if math.Abs(shares-float64(total)) > 1e-6*float64(len(repos)) {
		t.Errorf("%s: the shares sum to %.3f, the registry stores %d", step, shares, total)
	}
}

// TestUsagePullsAndCost counts pulls and bytes pulled per day, through the buffer the recorder flushes,
// and estimates the monthly cost from the price table.
func TestUsagePullsAndCost(t *testing.T) {
	e := newEnv(t, registry.Config{Prices: registry.Prices{StorageGBMonth: 1 << 30, TransferOutGB: 1 << 30}})
	e.repo(t, "app", "")
	e.repo(t, "gone", "")
	d := e.push(t, "app", "v1", "pulled")
	e.push(t, "gone", "v1", "gone")
	by := []string{"arn:aws:iam::000000000000:user/u", ""}
	for range 3 {
		if _, err := e.svc.GetManifest(ctx, reg, "app", "v1", by); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.GetManifest(ctx, reg, "app", d.String(), nil); err != nil { // a HEAD request: no pull
		t.Fatal(err)
	}
	e.svc.CountBytesPulled(reg, "app", 1000)
	e.svc.CountPulls(reg, "gone", 2)
	e.svc.FlushPulls()
	e.clock.Advance(24 * time.Hour)
	e.svc.CountPulls(reg, "app", 1)
	e.svc.CountBytesPulled(reg, "app", 500)
	if _, err := e.svc.DeleteRepository(ctx, reg, "gone", true); err != nil {
		t.Fatal(err)
	}
	e.close() // flushes, as a server stopping does
	e.open(t)

	u, err := e.svc.Usage(ctx, reg, registry.UsageOptions{Days: 2, Totals: true})
	if err != nil {
		t.Fatal(err)
	}
	day1 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	want := []registry.DayUsage{{Day: day1, Pulls: 3, BytesPulled: 1000}, {Day: day1.AddDate(0, 0, 1), Pulls: 1, BytesPulled: 500}}
	app := u.Repositories[0]
	if len(u.Repositories) != 1 || app.Name != "app" || !slices.Equal(app.Daily, want) || app.Pulls != 4 || app.BytesPulled != 1500 {
		t.Fatalf("app's usage: %+v", u.Repositories)
	}
	// The registry's pulls include those of the repository deleted since.
	if tot := u.Totals; tot.Pulls != 6 || tot.BytesPulled != 1500 || tot.StorageBytes != app.StorageBytes {
		t.Fatalf("totals: %+v", tot)
	}
	// At a dollar a byte, storage costs its bytes and transfer its bytes over 2 days scaled to 30.
	if c := app.Cost; c.Storage != float64(app.StorageBytes) || c.Transfer != 1500*15 || c.Total != c.Storage+c.Transfer {
		t.Fatalf("cost: %+v (storage %d bytes)", c, app.StorageBytes)
	}
	// One day: only today's.
	u, err = e.svc.Usage(ctx, reg, registry.UsageOptions{Repositories: []string{"app"}, Days: 1})
	if err != nil || u.Repositories[0].Pulls != 1 || u.Totals != nil {
		t.Fatalf("today's usage: %+v, %v", u, err)
	}
	_, err = e.svc.Usage(ctx, reg, registry.UsageOptions{Repositories: []string{"gone"}})
	wantKind(t, err, registry.KindRepositoryNotFound)
}
