package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/lifecycle"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/store"
)

// lifecycleEvaluation measures one evaluation of a 50-rule policy on 10,000 images with 3 tags each.
func lifecycleEvaluation() {
	p, imgs, now := lifecycle.BenchmarkSetup()
	var expired int
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			expired = len(p.Evaluate(imgs, now))
		}
	})
	fmt.Printf("%-34s %.1f ms (50 rules, 10,000 images × 3 tags, %d expire)\n", "lifecycle evaluation", float64(r.NsPerOp())/1e6, expired)
}

// lifecyclePass measures the background pass over 1,000 repositories of 20 images each, every one with a
// two-rule policy, on the embedded stores: the first pass expires 11 images per repository, the next one
// (nothing left to expire) is the steady hourly cost.
func lifecyclePass() {
	const repos, perRepo = 1000, 20
	dir, err := os.MkdirTemp("", "wharf-bench-lifecycle")
	check(err)
	defer os.RemoveAll(dir)
	st, err := server.OpenStores(dir)
	check(err)
	defer st.Meta.Close()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	svc := registry.New(st.Meta, st.Blobs, clock.NewFake(now), registry.Config{}, nil)
	defer svc.Close()
	ctx := context.Background()
	policy := `{"rules":[
		{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["release"],"countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}},
		{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}`
	for i := 0; i < repos; i++ {
		name := fmt.Sprintf("team/service-%04d", i)
		r, err := svc.CreateRepository(ctx, store.Repository{RegistryID: "000000000000", Name: name})
		check(err)
		check(st.Meta.Update(ctx, func(tx store.Tx) error {
			for j := 0; j < perRepo; j++ {
				body := []byte(fmt.Sprintf(`{"schemaVersion":2,"n":"%d-%d"}`, i, j))
				img := &store.Image{RepositoryID: r.ID, Digest: digest.FromBytes(body), MediaType: "application/vnd.oci.image.manifest.v1+json",
					PushedAt: now.Add(-time.Duration(perRepo-j) * 24 * time.Hour), Content: body}
				if err := tx.PutImage(img, nil); err != nil {
					return err
				}
				if j%2 == 0 { // half are releases, half untagged
					if err := tx.PutTag(r.ID, store.Tag{Name: fmt.Sprintf("release-%d", j), Digest: img.Digest, UpdatedAt: img.PushedAt}); err != nil {
						return err
					}
				}
			}
			return nil
		}))
		check(svc.PutLifecyclePolicy(ctx, "000000000000", name, policy))
	}
	for _, label := range []string{"first", "steady"} {
		start := time.Now()
		res, err := svc.RunLifecycle(ctx, registry.LifecycleRun{})
		check(err)
		n := 0
		for _, r := range res {
			n += len(r.Expired)
		}
		fmt.Printf("%-34s %s (%d repositories × %d images, %d expired)\n", "lifecycle pass, "+label, round(time.Since(start)), repos, perRepo, n)
	}
}
