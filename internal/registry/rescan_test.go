package registry_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/inventory"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/vulndb"
)

// newContinuousEnv is a registry whose repositories are all scanned continuously (ENHANCED), with a
// scanner matching against a real vulnerability database in the metadata store.
func newContinuousEnv(t *testing.T, cfg registry.Config) (*env, *fakeScanner, *vulndb.DB) {
	t.Helper()
	sc := &fakeScanner{}
	cfg.Scanner = sc
	e := newEnv(t, cfg)
	sc.db = vulndb.New(e.meta, e.clock.Now)
	if err := e.svc.PutScanningConfiguration(ctx, reg, registry.ScanningConfiguration{ScanType: registry.ScanTypeEnhanced,
		Rules: []registry.ScanningRule{{ScanFrequency: registry.ContinuousScan, RepositoryFilters: []registry.RepositoryFilter{{Filter: "watched*", FilterType: "WILDCARD"}}}}}); err != nil {
		t.Fatal(err)
	}
	return e, sc, sc.db
}

// importAdvisory imports an OSV advisory of the Debian 12 package src, affected below fixed.
func importAdvisory(t *testing.T, e *env, db *vulndb.DB, id, src, fixed, vector string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), id+".json")
	doc := fmt.Sprintf(`{"id": %q, "modified": %q, "affected": [{"package": {"ecosystem": "Debian:12", "name": %q},
  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": %q}]}]}],
  "severity": [{"type": "CVSS_V3", "score": %q}]}`, id, e.clock.Now().Format(time.RFC3339), src, fixed, vector)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, err := db.Import(ctx, path); err != nil || st.Changed != 1 {
		t.Fatalf("import: %+v, %v", st, err)
	}
}

// runJobs runs the jobs of kind that are due, as one node's job runner would, and returns how many.
func (e *env) runJobs(t *testing.T, kind string, run func(store.Job) error) int {
	t.Helper()
	var claimed []store.Job
	now := e.clock.Now()
	if err := e.meta.Update(ctx, func(tx store.Tx) (err error) {
		claimed, err = tx.ClaimJobs(kind, "test", now, now.Add(time.Minute), 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, j := range claimed {
		if err := run(j); err != nil {
			t.Fatalf("%s job: %v", kind, err)
		}
		if err := e.meta.Update(ctx, func(tx store.Tx) error { return tx.CompleteJob(j.ID, "test") }); err != nil {
			t.Fatal(err)
		}
	}
	return len(claimed)
}

// upkeep runs the upkeep of scans and the re-matching jobs it queued, and returns how many of those ran.
func (e *env) upkeep(t *testing.T) int {
	t.Helper()
	if err := e.svc.ScanUpkeep(ctx); err != nil {
		t.Fatal(err)
	}
	return e.runJobs(t, registry.RematchJobKind, func(j store.Job) error { return e.svc.RunRematch(ctx, j) })
}

func (e *env) findings(t *testing.T, repo string, d digest.Digest) (*store.ImageScan, string) {
	t.Helper()
	res, err := e.svc.ImageScanFindings(ctx, reg, repo, registry.ImageRef{Digest: d}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range res.Findings {
		names = append(names, f.Name+" "+f.Severity)
	}
	return res.Scan, strings.Join(names, ", ")
}

// TestRematchOnDatabaseUpdate: images scanned continuously are matched again from their stored inventory
// when the database changes, once per version of it; their findings, counts and times follow, and the
// scan's event is emitted when the findings changed. Images scanned otherwise keep their result.
func TestRematchOnDatabaseUpdate(t *testing.T) {
	e, sc, db := newContinuousEnv(t, registry.Config{})
	importAdvisory(t, e, db, "DEBIAN-CVE-2099-0001", "zlib", "1:1.3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L")
	e.repo(t, "watched", "MUTABLE")
	e.repo(t, "manual", "MUTABLE")
	d := e.push(t, "watched", "v1", "a") // scanned on push: continuous scanning includes it
	m := e.push(t, "manual", "v1", "b")
	if _, _, err := e.svc.StartImageScan(ctx, reg, "manual", registry.ImageRef{Digest: m}); err != nil {
		t.Fatal(err)
	}
	if n := e.runScans(t); n != 2 {
		t.Fatalf("ran %d scans", n)
	}
	first, got := e.findings(t, "watched", d)
	if first.Status != registry.ScanComplete || got != "" {
		t.Fatalf("first scan: %s, findings %q", first.Status, got)
	}
	if n := e.upkeep(t); n != 0 {
		t.Fatalf("%d re-matching jobs with nothing behind the database", n)
	}
	events := len(e.scanEvents(t))

	e.clock.Advance(time.Hour)
	importAdvisory(t, e, db, "DEBIAN-CVE-2099-0002", "openssl", "3.0.13-1~deb12u1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
	version, err := db.UpdatedAt(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The import's wake and the periodic upkeep queue one job for this version between them.
	if queued, err := e.svc.QueueRematch(ctx); err != nil || !queued {
		t.Fatalf("queued after the import: %v, %v", queued, err)
	}
	e.clock.Advance(time.Minute)
	if n := e.upkeep(t); n != 1 {
		t.Fatalf("ran %d re-matching jobs, want 1", n)
	}
	scan, got := e.findings(t, "watched", d)
	if got != "DEBIAN-CVE-2099-0002 CRITICAL" || scan.SeverityCounts[vulndb.SeverityCritical] != 1 || len(scan.SeverityCounts) != 1 {
		t.Fatalf("after re-matching: %q, counts %v", got, scan.SeverityCounts)
	}
	if !scan.SourceUpdatedAt.Equal(version) || !scan.CompletedAt.Equal(e.clock.Now()) || !scan.StartedAt.Equal(first.StartedAt) ||
		scan.Status != registry.ScanComplete || sc.count() != 2 {
		t.Fatalf("re-matched scan %+v (database %v), %d scans of layers", scan, version, sc.count())
	}
	if evs := e.scanEvents(t)[events:]; len(evs) != 1 || evs[0] != "watched COMPLETE [v1] map[CRITICAL:1]" {
		t.Fatalf("events of the re-matching: %q", evs)
	}
	if _, got := e.findings(t, "manual", m); got != "" {
		t.Fatalf("an image scanned manually was re-matched: %q", got)
	}

	// Once per version: nothing more to do.
	if n := e.upkeep(t); n != 0 || sc.matched != 1 {
		t.Fatalf("again: %d jobs, %d inventories matched", n, sc.matched)
	}

	// A change that does not touch the image: its times move, its findings stay, no event.
	e.clock.Advance(time.Hour)
	importAdvisory(t, e, db, "DEBIAN-CVE-2099-0003", "curl", "7.0", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L")
	events = len(e.scanEvents(t))
	if n := e.upkeep(t); n != 1 {
		t.Fatalf("ran %d re-matching jobs after the second import", n)
	}
	again, got := e.findings(t, "watched", d)
	if got != "DEBIAN-CVE-2099-0002 CRITICAL" || !again.SourceUpdatedAt.After(scan.SourceUpdatedAt) || len(e.scanEvents(t)) != events {
		t.Fatalf("after an unrelated change: %q, %+v, events %q", got, again, e.scanEvents(t)[events:])
	}
}

// TestScanEligibilityExpired: an image scanned continuously is monitored while it was pushed or pulled
// within the rescan duration; past it, its scan is SCAN_ELIGIBILITY_EXPIRED, its findings closed, and it is
// no longer re-matched, until a new scan monitors it again.
func TestScanEligibilityExpired(t *testing.T) {
	e, _, db := newContinuousEnv(t, registry.Config{RescanDuration: 14 * 24 * time.Hour})
	importAdvisory(t, e, db, "DEBIAN-CVE-2099-0002", "openssl", "3.0.13-1~deb12u1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
	e.repo(t, "watched", "MUTABLE")
	idle := e.push(t, "watched", "idle", "a")
	pulled := e.push(t, "watched", "pulled", "b")
	e.runScans(t)

	e.clock.Advance(10 * 24 * time.Hour)
	if _, err := e.svc.GetManifest(ctx, reg, "watched", "pulled", []string{"arn:aws:iam::000000000000:user/puller"}); err != nil {
		t.Fatal(err)
	}
	e.svc.FlushPulls()
	e.clock.Advance(4*24*time.Hour - time.Minute)
	e.upkeep(t)
	if scan, _ := e.findings(t, "watched", idle); scan.Status != registry.ScanComplete {
		t.Fatalf("within the duration: %s", scan.Status)
	}
	events := len(e.scanEvents(t))
	e.clock.Advance(2 * time.Minute)
	e.upkeep(t)
	scan, got := e.findings(t, "watched", idle)
	if scan.Status != registry.ScanEligibilityExpired || !strings.Contains(scan.Description, "rescan duration") || got != "" || len(scan.SeverityCounts) != 0 {
		t.Fatalf("past the duration: %+v, findings %q", scan, got)
	}
	if scan, got := e.findings(t, "watched", pulled); scan.Status != registry.ScanComplete || got != "DEBIAN-CVE-2099-0002 CRITICAL" {
		t.Fatalf("an image pulled within the duration: %s, %q", scan.Status, got)
	}
	if evs := e.scanEvents(t)[events:]; len(evs) != 1 || evs[0] != "watched SCAN_ELIGIBILITY_EXPIRED [idle] map[]" {
		t.Fatalf("events: %q", evs)
	}

	// A newer database does not re-match an expired image.
	e.clock.Advance(time.Hour)
	importAdvisory(t, e, db, "DEBIAN-CVE-2099-0004", "openssl", "3.0.14-1~deb12u1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L")
	e.upkeep(t)
	if scan, got := e.findings(t, "watched", idle); scan.Status != registry.ScanEligibilityExpired || got != "" {
		t.Fatalf("an expired image re-matched: %s, %q", scan.Status, got)
	}
	if _, got := e.findings(t, "watched", pulled); got != "DEBIAN-CVE-2099-0002 CRITICAL, DEBIAN-CVE-2099-0004 MEDIUM" {
		t.Fatalf("the monitored image: %q", got)
	}

	// Pushed again, it is scanned again and monitored again (as after StartImageScan, which starts a new
	// scan too); an image pushed again whose scan is current is not scanned again.
	if again := e.push(t, "watched", "again", "a"); again != idle {
		t.Fatal("not the same image")
	}
	e.push(t, "watched", "pulled-again", "b")
	if n := e.runScans(t); n != 1 {
		t.Fatalf("%d scans after the pushes, want 1", n)
	}
	if scan, got := e.findings(t, "watched", idle); scan.Status != registry.ScanComplete || got != "DEBIAN-CVE-2099-0002 CRITICAL, DEBIAN-CVE-2099-0004 MEDIUM" {
		t.Fatalf("scanned again: %s, %q", scan.Status, got)
	}
}

// TestLifetimeMonitoring: a negative rescan duration monitors images for their lifetime.
func TestLifetimeMonitoring(t *testing.T) {
	e, _, _ := newContinuousEnv(t, registry.Config{RescanDuration: -1})
	e.repo(t, "watched", "MUTABLE")
	d := e.push(t, "watched", "v1", "a")
	e.runScans(t)
	e.clock.Advance(400 * 24 * time.Hour)
	e.upkeep(t)
	if scan, _ := e.findings(t, "watched", d); scan.Status != registry.ScanComplete {
		t.Fatalf("after 400 days: %s", scan.Status)
	}
}

// TestStuckScanFails: a scan whose job died (its node stopped on its last attempt) is FAILED by the
// upkeep once past the scan timeout and a margin; a scan whose job is still queued stays in progress.
func TestStuckScanFails(t *testing.T) {
	e, _ := newScanEnv(t)
	e.svc.Close() // a service with the timeout set
	e.cfg.ScanTimeout = 30 * time.Minute
	e.open(t)
	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "app", ScanOnPush: true}); err != nil {
		t.Fatal(err)
	}
	dead := e.push(t, "app", "dead", "a")
	// The node claiming its job stops, attempt after attempt, until the job is dead.
	for range registry.ScanAttempts + 1 {
		now := e.clock.Now()
		if err := e.meta.Update(ctx, func(tx store.Tx) error {
			_, err := tx.ClaimJobs(registry.ScanJobKind, "crashing", now, now.Add(time.Minute), 10)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Minute)
	}
	queued := e.push(t, "app", "queued", "b") // its job waits behind others
	e.clock.Advance(10 * time.Minute)
	if err := e.svc.ScanUpkeep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.scanStatus(t, "app", dead); got != registry.ScanInProgress {
		t.Fatalf("within the timeout and its margin: %s", got)
	}
	e.clock.Advance(30 * time.Minute) // both scans are past it now
	events := len(e.scanEvents(t))
	if err := e.svc.ScanUpkeep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.scanStatus(t, "app", dead); got != registry.ScanFailed {
		t.Fatalf("a scan whose job died: %s", got)
	}
	if got := e.scanStatus(t, "app", queued); got != registry.ScanInProgress {
		t.Fatalf("a scan whose job is queued: %s", got)
	}
	if evs := e.scanEvents(t)[events:]; len(evs) != 1 || evs[0] != "app FAILED [dead] map[]" {
		t.Fatalf("events: %q", evs)
	}
	// Its job, retried by an operator, finds the scan no longer in progress and leaves it.
	if n := e.runScans(t); n != 1 {
		t.Fatalf("ran %d scans", n)
	}
	if got := e.scanStatus(t, "app", dead); got != registry.ScanFailed {
		t.Fatalf("after the queued scan ran: %s", got)
	}
	if got := e.scanStatus(t, "app", queued); got != registry.ScanComplete {
		t.Fatalf("the queued scan: %s", got)
	}
}

// TestOneRematchAtATime: a job is queued once per version of the database, and none while one is queued
// or running; the upkeep queues the next once it is done, which brings the images to the newest version.
func TestOneRematchAtATime(t *testing.T) {
	e, sc, db := newContinuousEnv(t, registry.Config{})
	e.repo(t, "watched", "MUTABLE")
	d := e.push(t, "watched", "v1", "a")
	e.runScans(t)
	importAdvisory(t, e, db, "DEBIAN-CVE-2099-0002", "openssl", "3.0.13-1~deb12u1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
	for i, want := range []bool{true, false} {
		if queued, err := e.svc.QueueRematch(ctx); err != nil || queued != want {
			t.Fatalf("queue %d: %v, %v", i, queued, err)
		}
	}
	e.clock.Advance(time.Hour)
	importAdvisory(t, e, db, "DEBIAN-CVE-2099-0004", "openssl", "3.0.14-1~deb12u1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L")
	if queued, err := e.svc.QueueRematch(ctx); err != nil || queued {
		t.Fatalf("queued beside the job of the older version: %v, %v", queued, err)
	}
	if n := e.upkeep(t); n != 1 { // runs the job queued first, which reads the database as it is now
		t.Fatalf("ran %d jobs", n)
	}
	if n := e.upkeep(t); n != 0 || sc.matched != 1 {
		t.Fatalf("then %d jobs, %d inventories matched", n, sc.matched)
	}
	if _, got := e.findings(t, "watched", d); got != "DEBIAN-CVE-2099-0002 CRITICAL, DEBIAN-CVE-2099-0004 MEDIUM" {
		t.Fatalf("findings: %q", got)
	}
}

// TestRematchTooManyFindings: an image whose inventory now has more findings than a scan keeps is passed
// over; the images after it are re-matched all the same.
func TestRematchTooManyFindings(t *testing.T) {
	e, sc, db := newContinuousEnv(t, registry.Config{})
	e.repo(t, "watched", "MUTABLE")
	a := e.push(t, "watched", "v1", "a")
	b := e.push(t, "watched", "v2", "b")
	if n := e.runScans(t); n != 2 {
		t.Fatalf("ran %d scans", n)
	}
	e.clock.Advance(time.Hour)
	importAdvisory(t, e, db, "DEBIAN-CVE-2099-0002", "openssl", "3.0.13-1~deb12u1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
	sc.mu.Lock()
	sc.matchErrs = []error{fmt.Errorf("%w: more than 10", vulndb.ErrTooManyFindings)}
	sc.mu.Unlock()
	e.clock.Advance(time.Minute)
	if n := e.upkeep(t); n != 1 {
		t.Fatalf("ran %d re-matching jobs, want 1", n)
	}
	var got []string
	for _, d := range []digest.Digest{a, b} {
		_, f := e.findings(t, "watched", d)
		got = append(got, f)
	}
	// The first in the digests' order was passed over.
	if !(got[0] == "" && got[1] == "DEBIAN-CVE-2099-0002 CRITICAL" || got[1] == "" && got[0] == "DEBIAN-CVE-2099-0002 CRITICAL") {
		t.Fatalf("findings after re-matching: %q", got)
	}
}

// TestRematchBatchBytes: a batch of a re-matching holds the stored inventories up to a bound, fewer images
// when they are large; each batch is recorded before the next is read.
func TestRematchBatchBytes(t *testing.T) {
	registry.SetRematchBytes(t.Cleanup, 1) // one inventory at a time
	e, sc, db := newContinuousEnv(t, registry.Config{})
	e.repo(t, "watched", "MUTABLE")
	ds := []digest.Digest{e.push(t, "watched", "v1", "a"), e.push(t, "watched", "v2", "b"), e.push(t, "watched", "v3", "c")}
	if n := e.runScans(t); n != 3 {
		t.Fatalf("ran %d scans", n)
	}
	rematchOneBatchAtATime(t, e, sc, db, ds)
}

// TestRematchBatchFindingsBytes: a batch of a re-matching holds the findings it records up to the bound
// too: small inventories may have many findings.
func TestRematchBatchFindingsBytes(t *testing.T) {
	e, sc, db := newContinuousEnv(t, registry.Config{})
	e.repo(t, "watched", "MUTABLE")
	ds := []digest.Digest{e.push(t, "watched", "v1", "a"), e.push(t, "watched", "v2", "b"), e.push(t, "watched", "v3", "c")}
	if n := e.runScans(t); n != 3 {
		t.Fatalf("ran %d scans", n)
	}
	// The three inventories fit in the bound; one image's finding does not.
	inv, err := json.Marshal(inventory.Inventory{OS: inventory.OS{ID: "debian", VersionID: "12"}, Packages: []inventory.Package{{Name: "libssl3", Version: "3.0.11-1~deb12u1", SourceName: "openssl", Ecosystem: "Debian:12"}}})
	if err != nil {
		t.Fatal(err)
	}
	registry.SetRematchBytes(t.Cleanup, 2*len(inv)+1)
	rematchOneBatchAtATime(t, e, sc, db, ds)
}

// rematchOneBatchAtATime imports an advisory affecting the images ds and runs the re-matching: each image
// must be recorded before the next is matched, and all must have the advisory's finding.
func rematchOneBatchAtATime(t *testing.T, e *env, sc *fakeScanner, db *vulndb.DB, ds []digest.Digest) {
	t.Helper()
	e.clock.Advance(time.Hour)
	importAdvisory(t, e, db, "DEBIAN-CVE-2099-0002", "openssl", "3.0.13-1~deb12u1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
	var recorded []int // images re-matched and recorded when each match starts
	sc.onMatch = func() {
		n := 0
		for _, d := range ds {
			if _, f := e.findings(t, "watched", d); f != "" {
				n++
			}
		}
		recorded = append(recorded, n)
	}
	e.clock.Advance(time.Minute)
	if n := e.upkeep(t); n != 1 {
		t.Fatalf("ran %d re-matching jobs, want 1", n)
	}
	if fmt.Sprint(recorded) != "[0 1 2]" {
		t.Fatalf("images recorded as each match started: %v, want [0 1 2]", recorded)
	}
	for _, d := range ds {
		if _, f := e.findings(t, "watched", d); f != "DEBIAN-CVE-2099-0002 CRITICAL" {
			t.Fatalf("%s: %q", d, f)
		}
	}
}
