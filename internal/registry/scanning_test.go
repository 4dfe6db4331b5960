package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/inventory"
	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/vulndb"
)

// fakeScanner finds the same findings in every image, or fails with err.
type fakeScanner struct {
	mu       sync.Mutex
	findings []vulndb.Finding
	err      error
	updated  time.Time
	scanned  []registry.ScanImage
	during   func() // called (without the lock) while a scan runs, when set
	block    bool   // a scan runs until its context ends
	// db, when set, is the vulnerability database the inventory is matched against (findings and updated
	// are then the database's).
	db      *vulndb.DB
	matched int // inventories matched again
	// matchErrs are the errors the next matches again fail with, in turn.
	matchErrs []error
	// onMatch, when set, is called (without the lock) before each match again.
	onMatch func()
}

func (f *fakeScanner) Scan(ctx context.Context, img registry.ScanImage) (inventory.Inventory, []vulndb.Finding, time.Time, error) {
	if f.during != nil {
		f.during()
	}
	if f.block {
		<-ctx.Done()
		return inventory.Inventory{}, nil, time.Time{}, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scanned = append(f.scanned, img)
	if f.err != nil {
		return inventory.Inventory{}, nil, time.Time{}, f.err
	}
	inv := inventory.Inventory{OS: inventory.OS{ID: "debian", VersionID: "12"}, Packages: []inventory.Package{{Name: "libssl3", Version: "3.0.11-1~deb12u1", SourceName: "openssl", Ecosystem: "Debian:12"}}}
	if f.db != nil {
		findings, updated, err := f.match(ctx, inv)
		return inv, findings, updated, err
	}
	return inv, f.findings, f.updated, nil
}

// Match matches a stored inventory against the database (f.db must be set).
func (f *fakeScanner) Match(ctx context.Context, inv inventory.Inventory, _ string) ([]vulndb.Finding, time.Time, error) {
	if f.onMatch != nil {
		f.onMatch()
	}
	f.mu.Lock()
	f.matched++
	if len(f.matchErrs) > 0 {
		err := f.matchErrs[0]
		f.matchErrs = f.matchErrs[1:]
		f.mu.Unlock()
		return nil, time.Time{}, err
	}
	f.mu.Unlock()
	return f.match(ctx, inv)
}

func (f *fakeScanner) match(ctx context.Context, inv inventory.Inventory) ([]vulndb.Finding, time.Time, error) {
	updated, err := f.db.UpdatedAt(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	findings, err := f.db.Match(ctx, inv)
	return findings, updated, err
}

func (f *fakeScanner) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.scanned)
}

func newScanEnv(t *testing.T) (*env, *fakeScanner) {
	sc := &fakeScanner{updated: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	for i, sev := range []string{vulndb.SeverityHigh, vulndb.SeverityHigh, vulndb.SeverityCritical, vulndb.SeverityLow, vulndb.SeverityMedium} {
		sc.findings = append(sc.findings, vulndb.Finding{Name: fmt.Sprintf("CVE-2026-%04d", i), Severity: sev, URI: "https://security-tracker.debian.org/tracker/CVE-2026-0001",
			Package: inventory.Package{Name: "libssl3", Version: "3.0.11-1~deb12u1", SourceName: "openssl"}, CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", CVSSScore: 9.8})
	}
	return newEnv(t, registry.Config{Scanner: sc}), sc
}

// runScans runs the scan jobs due, as one node's job runner would, and returns how many it ran.
func (e *env) runScans(t *testing.T) int {
	t.Helper()
	var claimed []store.Job
	now := e.clock.Now()
	if err := e.meta.Update(ctx, func(tx store.Tx) (err error) {
		claimed, err = tx.ClaimJobs(registry.ScanJobKind, "test", now, now.Add(time.Minute), 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, j := range claimed {
		if err := e.svc.RunScan(ctx, j); err != nil {
			t.Fatalf("scan job: %v", err)
		}
		if err := e.meta.Update(ctx, func(tx store.Tx) error { return tx.CompleteJob(j.ID, "test") }); err != nil {
			t.Fatal(err)
		}
	}
	return len(claimed)
}

func (e *env) scanStatus(t *testing.T, repo string, d digest.Digest) string {
	t.Helper()
	res, err := e.svc.ImageScanFindings(ctx, reg, repo, registry.ImageRef{Digest: d}, "", 100)
	if registry.KindOf(err) == registry.KindScanNotFound {
		return "none"
	}
	if err != nil {
		t.Fatal(err)
	}
	return res.Scan.Status
}

func TestScanOnPush(t *testing.T) {
	e, sc := newScanEnv(t)
	e.repo(t, "plain", "MUTABLE")
	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "scanned", ScanOnPush: true}); err != nil {
		t.Fatal(err)
	}
	plain := e.push(t, "plain", "v1", "a")
	d := e.push(t, "scanned", "v1", "b")
	if got := e.scanStatus(t, "plain", plain); got != "none" {
		t.Fatalf("image of a repository without scanOnPush: %s", got)
	}
	if got := e.scanStatus(t, "scanned", d); got != registry.ScanInProgress {
		t.Fatalf("pushed image: %s", got)
	}
	e.push(t, "scanned", "v1b", "b") // a tag on the same image: no second scan
	if n := e.runScans(t); n != 1 {
		t.Fatalf("ran %d scan jobs, want 1", n)
	}
	res, err := e.svc.ImageScanFindings(ctx, reg, "scanned", registry.ImageRef{Tag: "v1"}, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Scan.Status != registry.ScanComplete || res.Scan.Description != "The scan was completed successfully." ||
		!res.Scan.CompletedAt.Equal(e.clock.Now()) || !res.Scan.SourceUpdatedAt.Equal(sc.updated) || res.Scan.ScanType != registry.ScanTypeBasic {
		t.Fatalf("scan = %+v", res.Scan)
	}
	if fmt.Sprint(res.Scan.SeverityCounts) != "map[CRITICAL:1 HIGH:2 LOW:1 MEDIUM:1]" {
		t.Fatalf("counts = %v", res.Scan.SeverityCounts)
	}
	// Paging through the findings returns each once, in order.
	var names []string
	for page := res; ; {
		for _, f := range page.Findings {
			names = append(names, f.Name)
		}
		if page.Next == "" {
			break
		}
		if page, err = e.svc.ImageScanFindings(ctx, reg, "scanned", registry.ImageRef{Digest: d}, page.Next, 2); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(names) != "[CVE-2026-0000 CVE-2026-0001 CVE-2026-0002 CVE-2026-0003 CVE-2026-0004]" {
		t.Fatalf("findings = %v", names)
	}
	// The inventory is stored with the scan, and the completion is an event.
	if err := e.meta.View(ctx, func(tx store.Tx) error {
		r, err := tx.GetRepository(reg, "scanned")
		if err != nil {
			return err
		}
		inv, err := tx.ImageInventory(r.ID, d)
		if err == nil && len(inv) < 10 {
			err = fmt.Errorf("inventory %s", inv)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range e.scanEvents(t) {
		found = found || line == "scanned COMPLETE [v1 v1b] map[CRITICAL:1 HIGH:2 LOW:1 MEDIUM:1]"
	}
	if !found {
		t.Fatalf("no scan event in %q", e.scanEvents(t))
	}
}

// scanEvents lists the scan events as "repository status tags counts".
func (e *env) scanEvents(t *testing.T) []string {
	t.Helper()
	var out []string
	if err := e.meta.View(ctx, func(tx store.Tx) error {
		evs, err := tx.EventsAfter(store.EventPosition{}, 1000)
		for _, se := range evs {
			ev, err := registry.DecodeEvent(se)
			if err != nil {
				return err
			}
			if ev.Type == registry.EventImageScanned {
				out = append(out, fmt.Sprintf("%s %s %v %v", ev.Repository, ev.ScanStatus, ev.Tags, ev.SeverityCounts))
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestManualScanOncePerDay(t *testing.T) {
	e, sc := newScanEnv(t)
	e.repo(t, "app", "MUTABLE")
	d := e.push(t, "app", "v1", "a")
	if _, err := e.svc.ImageScanFindings(ctx, reg, "app", registry.ImageRef{Tag: "v1"}, "", 10); registry.KindOf(err) != registry.KindScanNotFound {
		t.Fatalf("findings of an image never scanned: %v", err)
	}
	if _, _, err := e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Tag: "nope"}); registry.KindOf(err) != registry.KindManifestUnknown {
		t.Fatalf("scan of a missing tag: %v", err)
	}
	img, scan, err := e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Tag: "v1"})
	if err != nil || img.Digest != d || scan.Status != registry.ScanInProgress {
		t.Fatalf("StartImageScan = %v, %+v, %v", img, scan, err)
	}
	e.runScans(t)
	e.clock.Advance(23 * time.Hour)
	_, _, err = e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Digest: d})
	wantKind(t, err, registry.KindLimitExceeded)
	if err.Error() != "The scan quota per image has been exceeded. Wait and try again." {
		t.Fatalf("message %q", err)
	}
	e.clock.Advance(time.Hour)
	if _, _, err := e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Digest: d}); err != nil {
		t.Fatalf("a day later: %v", err)
	}
	if got := e.scanStatus(t, "app", d); got != registry.ScanInProgress {
		t.Fatalf("rescan: %s", got)
	}
	e.runScans(t)
	if sc.count() != 2 {
		t.Fatalf("scanned %d times, want 2", sc.count())
	}
}

func TestFailedScan(t *testing.T) {
	e, sc := newScanEnv(t)
	sc.err = errors.New("layer unreadable")
	e.repo(t, "app", "MUTABLE")
	d := e.push(t, "app", "v1", "a")
	if _, _, err := e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Digest: d}); err != nil {
		t.Fatal(err)
	}
	e.runScans(t)
	res, err := e.svc.ImageScanFindings(ctx, reg, "app", registry.ImageRef{Digest: d}, "", 10)
	if err != nil || res.Scan.Status != registry.ScanFailed || len(res.Findings) != 0 || !strings.HasPrefix(res.Scan.Description, "UnknownError:") || strings.Contains(res.Scan.Description, "unreadable") {
		t.Fatalf("failed scan = %+v, %v", res.Scan, err)
	}
	// A failed scan does not use up the day's scan.
	sc.err = nil
	if _, _, err := e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Digest: d}); err != nil {
		t.Fatalf("rescan after a failure: %v", err)
	}
	e.runScans(t)
	if got := e.scanStatus(t, "app", d); got != registry.ScanComplete {
		t.Fatalf("rescan: %s", got)
	}

	// A scanner that does not support the image says so.
	sc.err = fmt.Errorf("no package manager: %w", registry.ErrUnsupportedImage)
	d2 := e.push(t, "app", "v2", "b")
	if _, _, err := e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Digest: d2}); err != nil {
		t.Fatal(err)
	}
	e.runScans(t)
	if got := e.scanStatus(t, "app", d2); got != registry.ScanUnsupportedImage {
		t.Fatalf("unsupported: %s", got)
	}
}

func TestUnsupportedArtifact(t *testing.T) {
	e, sc := newScanEnv(t)
	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "app", ScanOnPush: true}); err != nil {
		t.Fatal(err)
	}
	child := e.push(t, "app", "", "a")
	e.runScans(t)
	idx := e.pushIndex(t, "app", "multi", child)
	if got := e.scanStatus(t, "app", idx); got != registry.ScanUnsupportedImage {
		t.Fatalf("index pushed: %s", got)
	}
	_, _, err := e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Tag: "multi"})
	wantKind(t, err, registry.KindUnsupported)
	if e.runScans(t) != 0 || sc.count() != 1 {
		t.Fatalf("an index was scanned (%d scans)", sc.count())
	}
}

func TestRegistryConfigurationSupersedesRepositories(t *testing.T) {
	e, sc := newScanEnv(t)
	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "legacy", ScanOnPush: true}); err != nil {
		t.Fatal(err)
	}
	e.repo(t, "prod/api", "MUTABLE")
	e.repo(t, "dev/api", "MUTABLE")

	bad := []registry.ScanningConfiguration{
		{ScanType: "FANCY"},
		{ScanType: registry.ScanTypeBasic, Rules: []registry.ScanningRule{{ScanFrequency: registry.ContinuousScan, RepositoryFilters: []registry.RepositoryFilter{{Filter: "*", FilterType: "WILDCARD"}}}}},
		{ScanType: registry.ScanTypeBasic, Rules: []registry.ScanningRule{{ScanFrequency: registry.ScanOnPush, RepositoryFilters: []registry.RepositoryFilter{{Filter: "Prod", FilterType: "WILDCARD"}}}}},
		{ScanType: registry.ScanTypeBasic, Rules: []registry.ScanningRule{{ScanFrequency: registry.ScanOnPush, RepositoryFilters: []registry.RepositoryFilter{{Filter: "prod", FilterType: "REGEX"}}}}},
	}
	for _, c := range bad {
		if err := e.svc.PutScanningConfiguration(ctx, reg, c); registry.KindOf(err) != registry.KindInvalidParameter {
			t.Fatalf("configuration %+v: %v", c, err)
		}
	}
	if c, set, err := e.svc.ScanningConfiguration(ctx, reg); err != nil || set || c.ScanType != registry.ScanTypeBasic || len(c.Rules) != 0 {
		t.Fatalf("default configuration = %+v, %v, %v", c, set, err)
	}
	c := registry.ScanningConfiguration{ScanType: registry.ScanTypeEnhanced, Rules: []registry.ScanningRule{
		{ScanFrequency: registry.ScanOnPush, RepositoryFilters: []registry.RepositoryFilter{{Filter: "prod/*", FilterType: "WILDCARD"}}},
		{ScanFrequency: registry.ContinuousScan, RepositoryFilters: []registry.RepositoryFilter{{Filter: "*api", FilterType: "WILDCARD"}, {Filter: "none", FilterType: "WILDCARD"}}},
	}}
	if err := e.svc.PutScanningConfiguration(ctx, reg, c); err != nil {
		t.Fatal(err)
	}
	got, missing, err := e.svc.RepositoriesScanning(ctx, reg, []string{"legacy", "prod/api", "nope", "dev/api"})
	if err != nil || fmt.Sprint(missing) != "[nope]" || len(got) != 3 {
		t.Fatalf("RepositoriesScanning = %+v, %v, %v", got, missing, err)
	}
	var lines []string
	for _, rs := range got {
		lines = append(lines, fmt.Sprintf("%s %s %v %v", rs.Repository.Name, rs.ScanFrequency, rs.ScanOnPush, rs.AppliedFilters))
	}
	want := "[legacy MANUAL false [] prod/api CONTINUOUS_SCAN true [{*api WILDCARD}] dev/api CONTINUOUS_SCAN true [{*api WILDCARD}]]"
	if fmt.Sprint(lines) != want {
		t.Fatalf("scanning\n%v\nwant\n%v", lines, want)
	}

	legacy := e.push(t, "legacy", "v1", "a") // its scanOnPush no longer applies
	prod := e.push(t, "prod/api", "v1", "b")
	if got := e.scanStatus(t, "legacy", legacy); got != "none" {
		t.Fatalf("legacy repository's image: %s", got)
	}
	e.runScans(t)
	if got := e.scanStatus(t, "prod/api", prod); got != registry.ScanComplete || sc.count() != 1 || sc.scanned[0].ScanType != registry.ScanTypeEnhanced {
		t.Fatalf("prod image: %s, %+v", got, sc.scanned)
	}
}

// TestScanOfDeletedImage: a scan whose image is deleted before it runs records nothing.
func TestScanOfDeletedImage(t *testing.T) {
	e, sc := newScanEnv(t)
	e.repo(t, "app", "MUTABLE")
	d := e.push(t, "app", "v1", "a")
	if _, _, err := e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Digest: d}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteManifest(ctx, reg, "app", d); err != nil {
		t.Fatal(err)
	}
	e.runScans(t)
	if sc.count() != 0 || len(e.scanEvents(t)) != 0 {
		t.Fatalf("a deleted image was scanned: %d, %q", sc.count(), e.scanEvents(t))
	}
}

// TestScansRunOnceAcrossNodes: three nodes' job runners on one store run each scan queued on push once.
func TestScansRunOnceAcrossNodes(t *testing.T) {
	e, sc := newScanEnv(t)
	var runners []*jobs.Runner
	for i := range 3 {
		r := jobs.New(e.meta, e.clock, jobs.Options{Holder: fmt.Sprintf("node%d", i), Poll: time.Second, Grace: 5 * time.Second})
		r.Register(jobs.Kind{Name: registry.ScanJobKind, Concurrency: 2, MaxAttempts: registry.ScanAttempts, Run: e.svc.RunScan})
		runners = append(runners, r)
	}
	e.svc.WakeJobsWith(func() {
		for _, r := range runners {
			r.Wake()
		}
	})
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() { defer wg.Done(); r.Run(runCtx) }()
	}
	t.Cleanup(func() { stop(); wg.Wait() })

	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "app", ScanOnPush: true}); err != nil {
		t.Fatal(err)
	}
	var pushed []digest.Digest
	for i := range 12 {
		pushed = append(pushed, e.push(t, "app", fmt.Sprintf("v%d", i), fmt.Sprint(i)))
	}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		done := 0
		for _, d := range pushed {
			if e.scanStatus(t, "app", d) == registry.ScanComplete {
				done++
			}
		}
		if done == len(pushed) {
			break
		}
		// Let the runners finish their round and sleep, then start the next.
		if err := e.clock.WaitForWaiters(waitCtx, len(runners)); err != nil {
			t.Fatalf("%d of %d scans complete", done, len(pushed))
		}
		e.clock.Advance(time.Second)
	}
	seen := map[digest.Digest]int{}
	sc.mu.Lock()
	for _, img := range sc.scanned {
		seen[img.Digest]++
	}
	sc.mu.Unlock()
	for _, d := range pushed {
		if seen[d] != 1 {
			t.Fatalf("image %s scanned %d times", d, seen[d])
		}
	}
}

// TestScanRequestedWhileOneRuns: a scan requested while another runs gets a job of its own, and its result
// is the one kept.
func TestScanRequestedWhileOneRuns(t *testing.T) {
	e, sc := newScanEnv(t)
	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "app", ScanOnPush: true}); err != nil {
		t.Fatal(err)
	}
	d := e.push(t, "app", "v1", "a")
	sc.during = func() {
		sc.during = nil
		e.clock.Advance(time.Second)
		if _, _, err := e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Digest: d}); err != nil {
			t.Error(err)
		}
	}
	if n := e.runScans(t); n != 1 {
		t.Fatalf("ran %d scans", n)
	}
	if got := e.scanStatus(t, "app", d); got != registry.ScanInProgress {
		t.Fatalf("after the older scan: %s", got)
	}
	if n := e.runScans(t); n != 1 {
		t.Fatalf("ran %d scans for the newer request", n)
	}
	if got := e.scanStatus(t, "app", d); got != registry.ScanComplete || sc.count() != 2 || len(e.scanEvents(t)) != 1 {
		t.Fatalf("after the newer scan: %s, %d scans, events %q", got, sc.count(), e.scanEvents(t))
	}
}

// A scan that runs past the scan timeout (a layer that expands without end) is FAILED: it does not hold
// the scan worker, nor is it retried.
func TestScanTimeout(t *testing.T) {
	sc := &fakeScanner{block: true}
	e := newEnv(t, registry.Config{Scanner: sc, ScanTimeout: time.Hour})
	e.repo(t, "app", "MUTABLE")
	d := e.push(t, "app", "v1", "a")
	if _, _, err := e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Digest: d}); err != nil {
		t.Fatal(err)
	}
	waiters := e.clock.Waiters()
	done := make(chan int)
	go func() { done <- e.runScans(t) }()
	wait, cancel := context.WithTimeout(ctx, 20*time.Second) // a guard against a hang, not a measure
	defer cancel()
	if err := e.clock.WaitForWaiters(wait, waiters+1); err != nil {
		t.Fatalf("the scan waits on no timer: %v", err)
	}
	e.clock.Advance(time.Hour)
	select {
	case <-done:
	case <-wait.Done():
		t.Fatal("the scan did not end at its timeout")
	}
	if got := e.scanStatus(t, "app", d); got != registry.ScanFailed {
		t.Fatalf("status after the timeout = %s, want %s", got, registry.ScanFailed)
	}
}
