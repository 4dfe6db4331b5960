package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/inventory"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/scanner"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/vulndb"
)

// The re-matching scenario: 10,000 images scanned continuously (10 repositories of 1,000), each with a
// stored inventory of 300 packages — 250 Debian 12 packages of one of 20 base images, 50 Go modules of its
// own, at versions that about 5% of their advisories affect (some 250 findings an image) — against the
// 100,000 advisories of the vulndb scenario. Their scans are then behind the database:
// the first re-matching records every finding; then 1,000 new advisories are imported and the images are
// re-matched again, as after a daily update. Each pass runs the core's re-matching job, as a node would;
// the figures are its time and the process's peak RSS and Go heap during it.
var (
	rematchPostgres = flag.String("rematch-postgres", "", "run the rematch scenario on this (empty) PostgreSQL database instead of SQLite")
	rematchImages   = flag.Int("rematch-images", 10000, "images in the rematch scenario")
)

const (
	rematchRepos    = 10
	rematchBases    = 20
	rematchBasePkgs = 250
	rematchAppMods  = 50
)

func rematchBench() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "wharf-bench-rematch")
	check(err)
	defer os.RemoveAll(dir)
	zipPath := filepath.Join(dir, "all.zip")
	check(writeAdvisoryZip(zipPath, nil))
	st, err := server.OpenStorage(ctx, server.Storage{DataDir: filepath.Join(dir, "data"), Metadata: *rematchPostgres})
	check(err)
	defer st.Meta.Close()
	db := vulndb.New(st.Meta, time.Now)
	_, err = db.Import(ctx, zipPath)
	check(err)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := registry.New(st.Meta, st.Blobs, clock.Real{}, registry.Config{Scanner: scanner.New(st.Blobs.Open, db)}, quiet)
	defer svc.Close()
	check(svc.PutScanningConfiguration(ctx, "000000000000", registry.ScanningConfiguration{ScanType: registry.ScanTypeEnhanced,
		Rules: []registry.ScanningRule{{ScanFrequency: registry.ContinuousScan, RepositoryFilters: []registry.RepositoryFilter{{Filter: "*", FilterType: "WILDCARD"}}}}}))

	start := time.Now()
	stored := storeInventories(ctx, st.Meta)
	fmt.Printf("%-34s %.1f s (%d images, inventories %s as JSON)\n", "rematch: store inventories", time.Since(start).Seconds(), *rematchImages, mib(stored/1024))

	rematchPass(ctx, svc, st.Meta, "rematch: first (all findings new)")
	updates := filepath.Join(dir, "update")
	check(os.Mkdir(updates, 0o755))
	check(writeUpdateAdvisories(updates, 1000))
	stats, err := db.Import(ctx, updates)
	check(err)
	if stats.Changed != 1000 {
		panic(fmt.Sprintf("update: %+v", stats))
	}
	rematchPass(ctx, svc, st.Meta, "rematch: after 1,000 new advisories")
}

// rematchBase is a base image's Debian packages: the same source packages and versions in every image of it.
func rematchBase(rng *rand.Rand) []inventory.Package {
	var pkgs []inventory.Package
	for i := range rematchBasePkgs {
		patch, rev := 10+rng.IntN(10), 1+rng.IntN(3) // kept up to date: about 5% of a package's advisories apply
		src := fmt.Sprintf("src-%04d", rng.IntN(benchDebianPkgs))
		name, version := fmt.Sprintf("lib%s-%d", src, i), fmt.Sprintf("1.4.%d-%d", patch, rev)
		pkgs = append(pkgs, inventory.Package{Name: name, Version: version, SourceName: src, Ecosystem: "Debian:12",
			PURL: fmt.Sprintf("pkg:deb/debian/%s@%s?arch=amd64&distro=debian-12&upstream=%s", name, version, src), Arch: "amd64", Path: "var/lib/dpkg/status"})
	}
	return pkgs
}

// storeInventories stores the images, their completed scans (of a database older than any) and their
// inventories, 500 to a transaction, and returns the bytes of inventory stored.
func storeInventories(ctx context.Context, meta store.Store) int {
	rng := rand.New(rand.NewPCG(3, 4))
	bases := make([][]inventory.Package, rematchBases)
	for i := range bases {
		bases[i] = rematchBase(rng)
	}
	repos := make([]*store.Repository, rematchRepos)
	check(meta.Update(ctx, func(tx store.Tx) error {
		for i := range repos {
			repos[i] = &store.Repository{RegistryID: "000000000000", Name: fmt.Sprintf("app-%02d", i), CreatedAt: time.Now(), TagMutability: "MUTABLE", EncryptionType: "AES256"}
			if err := tx.CreateRepository(repos[i]); err != nil {
				return err
			}
		}
		return nil
	}))
	total := 0
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for first := 0; first < *rematchImages; first += 500 {
		check(meta.Update(ctx, func(tx store.Tx) error {
			for i := first; i < min(first+500, *rematchImages); i++ {
				inv := inventory.Inventory{OS: inventory.OS{ID: "debian", VersionID: "12"}, Packages: bases[i%rematchBases]}
				for range rematchAppMods {
					name, version := fmt.Sprintf("example.com/mod/m%04d", rng.IntN(benchGoModules)), fmt.Sprintf("v1.4.%d", 10+rng.IntN(10))
					inv.Packages = append(inv.Packages, inventory.Package{Name: name, Version: version, Ecosystem: "Go",
						PURL: "pkg:golang/" + name + "@" + version, Path: "app/server"})
				}
				data, err := json.Marshal(inv)
				if err != nil {
					return err
				}
				total += len(data)
				manifest := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","n":%d}`, i)
				img := &store.Image{RepositoryID: repos[i%rematchRepos].ID, Digest: digest.FromBytes(manifest), MediaType: "application/vnd.oci.image.manifest.v1+json",
					Size: 1 << 20, PushedAt: time.Now(), Content: manifest}
				if err := tx.PutImage(img, nil); err != nil {
					return err
				}
				if err := tx.PutImageScan(store.ImageScan{RepositoryID: img.RepositoryID, Digest: img.Digest, ScanType: registry.ScanTypeEnhanced,
					Status: registry.ScanComplete, StartedAt: old, CompletedAt: old, SourceUpdatedAt: old, SeverityCounts: map[string]int{}}); err != nil {
					return err
				}
				if err := tx.SetImageInventory(img.RepositoryID, img.Digest, data); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	return total
}

// writeUpdateAdvisories writes n new advisories of the packages the base images and modules use.
func writeUpdateAdvisories(dir string, n int) error {
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range n {
		minor, patch, rev := benchVersion(rng)
		id := fmt.Sprintf("DEBIAN-CVE-2027-%05d", i)
		doc := fmt.Sprintf(`{"id":%q,"modified":"2027-01-01T00:00:00Z","upstream":["CVE-2027-%05d"],"details":"A new flaw.",`+
			`"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[{"package":{"ecosystem":"Debian:12","name":"src-%04d"},`+
			`"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.%d.%d-%d"}]}]}]}`, id, i, rng.IntN(benchDebianPkgs), minor, patch, rev)
		if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte(doc), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// rematchPass queues and runs the re-matching job, and prints its time, the scans it changed and the
// peaks of memory while it ran.
func rematchPass(ctx context.Context, svc *registry.Service, meta store.Store, label string) {
	runtime.GC()
	pid := os.Getpid()
	resetHWM(pid)
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	go func() { // the Go heap's peak, sampled
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peakHeap.Load() {
				peakHeap.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	eventsBefore := countScanEvents(ctx, meta)
	start, cpu := time.Now(), cpuTime(pid)
	queued, err := svc.QueueRematch(ctx)
	check(err)
	if !queued {
		panic("no re-matching queued")
	}
	var jobs []store.Job
	check(meta.Update(ctx, func(tx store.Tx) (err error) {
		jobs, err = tx.ClaimJobs(registry.RematchJobKind, "bench", time.Now(), time.Now().Add(time.Hour), 10)
		return err
	}))
	for _, j := range jobs {
		check(svc.RunRematch(ctx, j))
		check(meta.Update(ctx, func(tx store.Tx) error { return tx.CompleteJob(j.ID, "bench") }))
	}
	took, cpuTook := time.Since(start), cpuTime(pid)-cpu
	close(stop)
	fmt.Printf("%-34s %.1f s (CPU %.1f s), %.1f ms per image; %d scans changed (events), %.0f findings per image; peak RSS %s, peak Go heap %s\n", label, took.Seconds(), cpuTook.Seconds(),
		float64(took.Microseconds())/1000/float64(*rematchImages), countScanEvents(ctx, meta)-eventsBefore, findingsPerImage(ctx, meta),
		vmHWM(pid), mib(int(peakHeap.Load()/1024)))
}

// findingsPerImage is the mean count of findings of the scans.
func findingsPerImage(ctx context.Context, meta store.Store) float64 {
	f := store.ImageScanFilter{Limit: 1000}
	findings, scans := 0, 0
	for {
		var page []store.ImageScan
		check(meta.View(ctx, func(tx store.Tx) (err error) { page, err = tx.ImageScans(f); return err }))
		if len(page) == 0 {
			return float64(findings) / float64(max(scans, 1))
		}
		for _, sc := range page {
			scans++
			for _, n := range sc.SeverityCounts {
				findings += n
			}
		}
		f.AfterRepositoryID, f.AfterDigest = page[len(page)-1].RepositoryID, page[len(page)-1].Digest
	}
}

// countScanEvents counts the outbox's scan events.
func countScanEvents(ctx context.Context, meta store.Store) int {
	n := 0
	pos := store.EventPosition{}
	for {
		var evs []store.Event
		check(meta.View(ctx, func(tx store.Tx) (err error) { evs, err = tx.EventsAfter(pos, 1000); return err }))
		if len(evs) == 0 {
			return n
		}
		for _, e := range evs {
			if e.Type == registry.EventImageScanned {
				n++
			}
		}
		pos = evs[len(evs)-1].Position
	}
}
