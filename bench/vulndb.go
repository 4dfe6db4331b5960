package main

import (
	"archive/zip"
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/wharf-dev/wharf/internal/inventory"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/vulndb"
)

// The vulnerability database scenario: 100,000 generated OSV advisories over 6,000 packages (70% Debian
// records naming three releases, as DEBIAN-CVE ones do; 15% Alpine; 15% Go modules), imported from a zip as
// osv.dev serves them into the embedded store; then matching inventories of 500 packages (450 Debian
// source packages, 50 Go modules) against them, the work of re-matching stored inventories: 40 different
// ones (most of their packages' advisories read from the store and parsed), then one again and again (its
// advisories parsed and cached by the first match).
const (
	benchAdvisories = 100000
	benchDebianPkgs = 4000
	benchAlpinePkgs = 1000
	benchGoModules  = 1000
	benchInvPkgs    = 500
)

var vulnDBPostgres = flag.String("vulndb-postgres", "", "run the vulndb scenario on this (empty) PostgreSQL database instead of SQLite")

func vulnDBBench() {
	dir, err := os.MkdirTemp("", "wharf-bench-vulndb")
	check(err)
	defer os.RemoveAll(dir)
	zipPath := filepath.Join(dir, "all.zip")
	check(writeAdvisoryZip(zipPath, nil))
	zi, err := os.Stat(zipPath)
	check(err)

	st, err := server.OpenStorage(context.Background(), server.Storage{DataDir: filepath.Join(dir, "data"), Metadata: *vulnDBPostgres})
	check(err)
	defer st.Meta.Close()
	db := vulndb.New(st.Meta, time.Now)
	ctx := context.Background()
	start := time.Now()
	stats, err := db.Import(ctx, zipPath)
	check(err)
	took := time.Since(start)
	fmt.Printf("%-34s %.1f s (%d advisories, %d stored, zip %s)\n", "vulndb import", took.Seconds(), stats.Read, stats.Changed, mib(int(zi.Size()/1024)))
	start = time.Now()
	stats, err = db.Import(ctx, zipPath)
	check(err)
	fmt.Printf("%-34s %.1f s (%d changed)\n", "vulndb import again (unchanged)", time.Since(start).Seconds(), stats.Changed)
	size := func(name string) string {
		fi, err := os.Stat(filepath.Join(dir, "data", name))
		if err != nil {
			return "none"
		}
		return mib(int(fi.Size() / 1024))
	}
	if *vulnDBPostgres == "" {
		fmt.Printf("%-34s %s (wharf.db; its WAL %s)\n", "vulndb size", size("wharf.db"), size("wharf.db-wal"))
	}

	rng := rand.New(rand.NewPCG(7, 7))
	var durations []time.Duration
	findings := 0
	for i := range 40 {
		inv := benchInventory(rng)
		start := time.Now()
		fs, err := db.Match(ctx, inv)
		check(err)
		durations = append(durations, time.Since(start))
		if i == 0 {
			findings = len(fs)
		}
	}
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	med := durations[len(durations)/2]
	fmt.Printf("%-34s %.1f ms median of 40 (500 packages, %d findings in the first); 10,000 inventories ≈ %.0f s\n",
		"vulndb match", float64(med.Microseconds())/1000, findings, (med * 10000).Seconds())
	inv := benchInventory(rng)
	durations = durations[:0]
	for range 20 {
		start := time.Now()
		_, err := db.Match(ctx, inv)
		check(err)
		durations = append(durations, time.Since(start))
	}
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	fmt.Printf("%-34s %.1f ms median of 20\n", "vulndb match again (cached)", float64(durations[10].Microseconds())/1000)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("%-34s %s (the bench's live heap, the cache of parsed advisories included)\n", "vulndb heap after matching", mib(int(ms.HeapAlloc/1024)))
	runtime.KeepAlive(db)
}

// benchVersion is a version of the generated packages: 1.<minor>.<patch>-<rev>.
func benchVersion(rng *rand.Rand) (minor, patch, rev int) {
	return rng.IntN(5), rng.IntN(20), 1 + rng.IntN(3)
}

// writeAdvisoryZip writes the generated advisories, then extra ones (OSV JSON by id), to a zip at path.
func writeAdvisoryZip(path string, extra map[string][]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	rng := rand.New(rand.NewPCG(1, 2))
	details := "A flaw was found in the handling of crafted input, which allows a remote attacker to cause a denial of service or possibly execute arbitrary code via a long header. This affects every release before the fixed version."
	for i := range benchAdvisories {
		minor, patch, rev := benchVersion(rng)
		var id, affected string
		switch n := i % 20; {
		case n < 14:
			name := fmt.Sprintf("src-%04d", rng.IntN(benchDebianPkgs))
			id = fmt.Sprintf("DEBIAN-CVE-%d-%05d", 2000+i%25, i)
			for _, rel := range []string{"11", "12", "13"} {
				if affected != "" {
					affected += ","
				}
				affected += fmt.Sprintf(`{"package":{"ecosystem":"Debian:%s","name":%q,"purl":"pkg:deb/debian/%s?arch=source"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.%d.%d-%d"}]}]}`,
					rel, name, name, minor, patch, rev)
			}
		case n < 17:
			name := fmt.Sprintf("apk-%04d", rng.IntN(benchAlpinePkgs))
			id = fmt.Sprintf("ALPINE-CVE-%d-%05d", 2000+i%25, i)
			affected = fmt.Sprintf(`{"package":{"ecosystem":"Alpine:v3.19","name":%q},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.%d.%d-r%d"}]}]}`,
				name, minor, patch, rev)
		default:
			name := fmt.Sprintf("example.com/mod/m%04d", rng.IntN(benchGoModules))
			id = fmt.Sprintf("GO-%d-%05d", 2000+i%25, i)
			affected = fmt.Sprintf(`{"package":{"ecosystem":"Go","name":%q},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.%d.%d"}]}]}`,
				name, minor, patch)
		}
		doc := fmt.Sprintf(`{"id":%q,"modified":"2026-01-01T00:00:00Z","published":"2025-06-01T00:00:00Z","upstream":["CVE-%d-%05d"],"details":%q,`+
			`"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],"affected":[%s],`+
			`"references":[{"type":"ADVISORY","url":"https://security-tracker.example/%s"}]}`, id, 2000+i%25, i, details, affected, id)
		w, err := zw.Create(id + ".json")
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(doc)); err != nil {
			return err
		}
	}
	for _, id := range slices.Sorted(maps.Keys(extra)) {
		w, err := zw.Create(id + ".json")
		if err != nil {
			return err
		}
		if _, err := w.Write(extra[id]); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// benchInventory is an image of 450 Debian 12 binary packages (from random source packages) and 50 Go modules.
func benchInventory(rng *rand.Rand) inventory.Inventory {
	var inv inventory.Inventory
	inv.OS = inventory.OS{ID: "debian", VersionID: "12"}
	for i := range benchInvPkgs {
		minor, patch, rev := benchVersion(rng)
		if i < benchInvPkgs*9/10 {
			src := fmt.Sprintf("src-%04d", rng.IntN(benchDebianPkgs))
			inv.Packages = append(inv.Packages, inventory.Package{Name: fmt.Sprintf("lib%s-%d", src, i), Version: fmt.Sprintf("1.%d.%d-%d", minor, patch, rev),
				SourceName: src, Ecosystem: "Debian:12"})
			continue
		}
		inv.Packages = append(inv.Packages, inventory.Package{Name: fmt.Sprintf("example.com/mod/m%04d", rng.IntN(benchGoModules)),
			Version: fmt.Sprintf("v1.%d.%d", minor, patch), Ecosystem: "Go"})
	}
	return inv
}
