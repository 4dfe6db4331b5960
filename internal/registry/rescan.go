package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/inventory"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/vulndb"
)

// Continuous scanning: the images of repositories under a CONTINUOUS_SCAN rule are re-matched when the
// vulnerability database changes, from the inventory their scan stored, and monitored only while they are
// pushed or pulled within the rescan duration. The upkeep of scans, a periodic job that one node runs at
// a time, also fails scans whose job died.

const (
	// ScanUpkeepKind is the kind of the periodic job that runs ScanUpkeep.
	ScanUpkeepKind = "scan-upkeep"
	// ScanUpkeepInterval is how often it runs.
	ScanUpkeepInterval = time.Minute
	// RematchJobKind is the kind of the durable job that re-matches the images scanned continuously
	// against one version of the vulnerability database; RunRematch runs it.
	RematchJobKind = "scan-rematch"
	// RematchAttempts is how many attempts a re-matching job has; each goes on where the last stopped.
	RematchAttempts = 5
	// DefaultRescanDuration is Config.RescanDuration's default, Amazon Inspector's for new accounts.
	DefaultRescanDuration = 14 * 24 * time.Hour

	// rematchBatch is how many images one transaction of a re-matching records (their inventories are
	// held at once); upkeepBatch is how many scans the other passes change in one.
	rematchBatch = 50
	upkeepBatch  = 100
	// stuckScanMargin is how long past the scan timeout a scan in progress whose job is dead or gone is
	// given before it is failed: the lease of a job whose node stopped lapses within it.
	stuckScanMargin = 5 * time.Minute
)

// rematchBytes bounds the stored inventories a batch of a re-matching holds, and the findings it
// records, fewer images than rematchBatch when they are large: an inventory of the most packages a scan
// keeps is over 100 MiB of JSON, the most findings a scan keeps as much. A variable for the tests.
var rematchBytes = 64 << 20

const scanExpiredDescription = "ScanEligibilityExpired: The image was neither pushed nor pulled within the rescan duration; it is no longer monitored and its findings were closed. Push the image or start a scan to monitor it again."

// ScanUpkeep is the upkeep of scans: it fails scans in progress whose job died, expires the scans of
// images scanned continuously that were neither pushed nor pulled within the rescan duration, and queues
// the re-matching of those behind the vulnerability database. Each pass works in batches, each its own
// transaction, and leaves alone a scan that changed meanwhile.
func (s *Service) ScanUpkeep(ctx context.Context) error {
	if err := s.failStuckScans(ctx); err != nil {
		return fmt.Errorf("failing stuck scans: %w", err)
	}
	if err := s.expireScans(ctx); err != nil {
		return fmt.Errorf("expiring scans: %w", err)
	}
	if _, err := s.QueueRematch(ctx); err != nil {
		return fmt.Errorf("queueing the re-matching of scans: %w", err)
	}
	return nil
}

// unchanged tells whether the scan cur is still the scan was read as.
func unchanged(cur, was *store.ImageScan) bool {
	return cur.Status == was.Status && cur.StartedAt.Equal(was.StartedAt) && cur.SourceUpdatedAt.Equal(was.SourceUpdatedAt)
}

// failStuckScans fails the scans in progress past the scan timeout (and a margin) whose job is dead or
// gone: a node that crashed on its last attempt, a job an operator deleted. A scan whose job is still
// queued (many scans ahead of it) stays in progress.
func (s *Service) failStuckScans(ctx context.Context) error {
	f := store.ImageScanFilter{Status: ScanInProgress, StartedBefore: s.clock.Now().Add(-s.cfg.ScanTimeout - stuckScanMargin), Limit: upkeepBatch}
	for {
		var stuck, scans []store.ImageScan
		err := s.meta.View(ctx, func(tx store.Tx) (err error) {
			stuck = stuck[:0]
			if scans, err = tx.ImageScans(f); err != nil {
				return err
			}
			for _, sc := range scans {
				j, err := tx.JobByKey(scanJobKey(sc.RepositoryID, sc.Digest, sc.StartedAt))
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if err == nil && j.State == store.JobQueued {
					continue
				}
				stuck = append(stuck, sc)
			}
			return nil
		})
		if err != nil || len(scans) == 0 {
			return err
		}
		f.AfterRepositoryID, f.AfterDigest = scans[len(scans)-1].RepositoryID, scans[len(scans)-1].Digest
		if len(stuck) == 0 {
			continue
		}
		err = s.meta.Update(ctx, func(tx store.Tx) error {
			for _, was := range stuck {
				err := s.changeScan(tx, &was, func(sc *store.ImageScan) (bool, error) {
					s.log.Warn("image scan failed: its job died", "repositoryId", sc.RepositoryID, "digest", sc.Digest, "started", sc.StartedAt)
					sc.Status, sc.Description, sc.CompletedAt = ScanFailed, scanFailedDescription, s.clock.Now()
					return true, nil
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
}

// changeScan changes an image's scan in tx with change and emits the scan's event, unless the scan
// changed since it was read as was, its image or repository went away, or change reports no change.
func (s *Service) changeScan(tx store.Tx, was *store.ImageScan, change func(*store.ImageScan) (bool, error)) error {
	r, err := tx.GetRepositoryByID(was.RepositoryID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	cur, err := tx.GetImageScan(was.RepositoryID, was.Digest)
	if errors.Is(err, store.ErrNotFound) || err == nil && !unchanged(cur, was) {
		return nil
	}
	if err != nil {
		return err
	}
	if ok, err := change(cur); err != nil || !ok {
		return err
	}
	if err := tx.PutImageScan(*cur); err != nil {
		return err
	}
	return s.emitScan(tx, r, cur.Digest, cur)
}

// continuousRepositories calls fn with each repository scanned continuously and its scan type, registry
// by registry, outside any transaction.
func (s *Service) continuousRepositories(ctx context.Context, fn func(r *store.Repository, scanType string) error) error {
	const page = 100
	afterRegistry := ""
	for {
		var configs []store.ScanningConfiguration
		if err := s.meta.View(ctx, func(tx store.Tx) (err error) {
			configs, err = tx.ScanningConfigurations(afterRegistry, page)
			return err
		}); err != nil || len(configs) == 0 {
			return err
		}
		afterRegistry = configs[len(configs)-1].RegistryID
		for _, stored := range configs {
			c := ScanningConfiguration{ScanType: stored.ScanType}
			if err := json.Unmarshal([]byte(stored.Rules), &c.Rules); err != nil {
				return fmt.Errorf("scanning configuration of %s: %w", stored.RegistryID, err)
			}
			if !hasRule(c, ContinuousScan) {
				continue
			}
			afterName := ""
			for {
				var repos []store.Repository
				if err := s.meta.View(ctx, func(tx store.Tx) (err error) {
					repos, err = tx.ListRepositories(stored.RegistryID, afterName, page)
					return err
				}); err != nil || len(repos) == 0 {
					if err != nil {
						return err
					}
					break
				}
				afterName = repos[len(repos)-1].Name
				for i := range repos {
					if rs := repositoryScanning(c, true, &repos[i]); rs.ScanFrequency == ContinuousScan {
						if err := fn(&repos[i], rs.ScanType); err != nil {
							return err
						}
					}
				}
			}
		}
	}
}

func hasRule(c ScanningConfiguration, freq string) bool {
	for _, r := range c.Rules {
		if r.ScanFrequency == freq {
			return true
		}
	}
	return false
}

// expireScans expires the completed scans of images scanned continuously that were neither pushed nor
// pulled within the rescan duration: SCAN_ELIGIBILITY_EXPIRED, their findings closed. Their inventory
// stays. A new scan (a push of the image, StartImageScan) monitors the image again.
func (s *Service) expireScans(ctx context.Context) error {
	if s.cfg.RescanDuration < 0 {
		return nil // monitored for their lifetime
	}
	cutoff := s.clock.Now().Add(-s.cfg.RescanDuration)
	return s.continuousRepositories(ctx, func(r *store.Repository, _ string) error {
		f := store.ImageScanFilter{RepositoryID: r.ID, Status: ScanComplete, UnusedSince: cutoff, Limit: upkeepBatch}
		for {
			var scans []store.ImageScan
			if err := s.meta.View(ctx, func(tx store.Tx) (err error) { scans, err = tx.ImageScans(f); return err }); err != nil || len(scans) == 0 {
				return err
			}
			f.AfterRepositoryID, f.AfterDigest = r.ID, scans[len(scans)-1].Digest
			err := s.meta.Update(ctx, func(tx store.Tx) error {
				for _, was := range scans {
					err := s.changeScan(tx, &was, func(sc *store.ImageScan) (bool, error) {
						img, err := tx.GetImage(sc.RepositoryID, sc.Digest)
						if err != nil || !img.PushedAt.Before(cutoff) || !img.LastPulledAt.Before(cutoff) {
							return false, err // pulled meanwhile
						}
						sc.Status, sc.Description, sc.SeverityCounts = ScanEligibilityExpired, scanExpiredDescription, map[string]int{}
						return true, tx.SetImageScanFindings(sc.RepositoryID, sc.Digest, nil)
					})
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	})
}

// scanExpiredOnPush scans again, when its repository is scanned on push, an image pushed again whose scan
// expired: it is monitored again.
func (s *Service) scanExpiredOnPush(tx store.Tx, repo *store.Repository, img *store.Image) (bool, error) {
	prev, err := tx.GetImageScan(repo.ID, img.Digest)
	if errors.Is(err, store.ErrNotFound) || err == nil && prev.Status != ScanEligibilityExpired {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.scanOnPush(tx, repo, img)
}

// rematchJob is the payload of a re-matching job: the version of the database it was queued for.
type rematchJob struct {
	Version time.Time `json:"version"`
}

// QueueRematch queues the re-matching of the images scanned continuously whose scan is behind the
// vulnerability database, when there are any: one job per version of the database across nodes, and
// none while one is queued or running (the upkeep queues the next when it is done). It reports whether it
// queued one. The upkeep of scans calls it; so does an import into the database.
func (s *Service) QueueRematch(ctx context.Context) (bool, error) {
	var version time.Time
	if err := s.meta.View(ctx, func(tx store.Tx) (err error) { version, err = tx.AdvisoriesUpdated(); return err }); err != nil || version.IsZero() {
		return false, internal(err)
	}
	errFound := errors.New("found")
	err := s.continuousRepositories(ctx, func(r *store.Repository, _ string) error {
		var behind []store.ImageScan
		if err := s.meta.View(ctx, func(tx store.Tx) (err error) {
			behind, err = tx.ImageScans(rematchFilter(r.ID, version, 1))
			return err
		}); err != nil || len(behind) == 0 {
			return err
		}
		return errFound
	})
	if !errors.Is(err, errFound) {
		return false, internal(err)
	}
	queued := false
	err = s.meta.Update(ctx, func(tx store.Tx) error {
		payload, err := json.Marshal(rematchJob{version})
		if err != nil {
			return err
		}
		now := s.clock.Now()
		counts, err := tx.CountJobs(now)
		if err != nil {
			return err
		}
		for _, c := range counts {
			if c.Kind == RematchJobKind && c.Queued+c.Running > 0 {
				return nil
			}
		}
		queued, err = tx.EnqueueJob(&store.Job{Kind: RematchJobKind, UniqueKey: fmt.Sprintf("%s/%d", RematchJobKind, version.UnixNano()),
			Payload: payload, MaxAttempts: RematchAttempts, RunAt: now, CreatedAt: now})
		return err
	})
	if err != nil {
		return false, internal(err)
	}
	if queued {
		s.wakeScans()
	}
	return queued, nil
}

// rematchFilter selects a repository's completed scans, with an inventory, matched against a database
// older than version.
func rematchFilter(repoID int64, version time.Time, limit int) store.ImageScanFilter {
	return store.ImageScanFilter{RepositoryID: repoID, Status: ScanComplete, SourceUpdatedBefore: version, WithInventory: true, Limit: limit}
}

// RunRematch runs a re-matching job: each image scanned continuously whose scan is behind the database
// is matched again from its stored inventory, in batches, each recorded in its own transaction unless the
// scan changed meanwhile. Its findings, their counts, imageScanCompletedAt and
// vulnerabilitySourceUpdatedAt are updated; the scan's event is emitted only when its findings changed.
// A job that stops part way is run again and goes on with the scans still behind.
func (s *Service) RunRematch(ctx context.Context, j store.Job) error {
	m, ok := s.cfg.Scanner.(Matcher)
	if s.cfg.Scanner == nil {
		m, ok = NopScanner{}, true
	}
	if !ok {
		return nil // this scanner cannot match inventories: images are only scanned again
	}
	var version time.Time
	if err := s.meta.View(ctx, func(tx store.Tx) (err error) { version, err = tx.AdvisoriesUpdated(); return err }); err != nil || version.IsZero() {
		return err
	}
	total, changed := 0, 0
	err := s.continuousRepositories(ctx, func(r *store.Repository, scanType string) error {
		n, c, err := s.rematchRepository(ctx, m, r, scanType, version)
		total, changed = total+n, changed+c
		return err
	})
	if total > 0 {
		s.log.Info("re-matched images scanned continuously", "images", total, "changed", changed, "database", version)
	}
	return internal(err)
}

// rematched is an image's scan matched again.
type rematched struct {
	was      store.ImageScan
	findings [][]byte
	counts   map[string]int
	updated  time.Time
}

// rematchRepository re-matches the scans of a repository behind version, a batch at a time, and returns
// how many it re-matched and how many of those changed.
func (s *Service) rematchRepository(ctx context.Context, m Matcher, r *store.Repository, scanType string, version time.Time) (total, changed int, err error) {
	f := rematchFilter(r.ID, version, rematchBatch)
	for {
		var scans []store.ImageScan
		var inventories [][]byte
		err := s.meta.View(ctx, func(tx store.Tx) (err error) {
			if scans, err = tx.ImageScans(f); err != nil {
				return err
			}
			inventories = inventories[:0]
			size := 0
			for i, sc := range scans {
				if i > 0 && size >= rematchBytes { // the rest in the next batch
					scans = scans[:i]
					break
				}
				inv, err := tx.ImageInventory(sc.RepositoryID, sc.Digest)
				if err != nil {
					return err
				}
				size += len(inv)
				inventories = append(inventories, inv)
			}
			return nil
		})
		if err != nil || len(scans) == 0 {
			return total, changed, err
		}
		f.AfterRepositoryID, f.AfterDigest = r.ID, scans[len(scans)-1].Digest
		batch := make([]rematched, 0, len(scans))
		held := 0 // the findings of the batch, bounded as its inventories are
		for i, sc := range scans {
			if i > 0 && held >= rematchBytes { // the rest in the next batch
				f.AfterDigest = scans[i-1].Digest
				break
			}
			var inv inventory.Inventory
			err := json.Unmarshal(inventories[i], &inv)
			inventories[i] = nil
			if err != nil { // passed over: it would stop every re-matching after it
				s.log.Warn("re-matching: the stored inventory of an image is not readable", "repository", r.Name, "digest", sc.Digest, "err", err)
				continue
			}
			findings, updated, err := m.Match(ctx, inv, scanType)
			if errors.Is(err, vulndb.ErrTooManyFindings) { // passed over too, its findings as they were
				s.log.Warn("re-matching: an image has more findings than a scan keeps", "repository", r.Name, "digest", sc.Digest, "err", err)
				continue
			}
			if err != nil {
				return total, changed, err
			}
			rm := rematched{was: sc, counts: map[string]int{}, updated: updated}
			for _, fd := range findings {
				rm.counts[fd.Severity]++
				b, err := json.Marshal(fd)
				if err != nil {
					return total, changed, err
				}
				rm.findings = append(rm.findings, b)
				held += len(b)
			}
			batch = append(batch, rm)
		}
		n, c := 0, 0
		err = s.meta.Update(ctx, func(tx store.Tx) error {
			n, c = 0, 0
			for i := range batch {
				done, diff, err := s.recordRematch(tx, r, scanType, version, &batch[i])
				if err != nil {
					return err
				}
				if done {
					n++
				}
				if diff {
					c++
				}
			}
			return nil
		})
		if err != nil {
			return total, changed, err
		}
		total, changed = total+n, changed+c
	}
}

// recordRematch records an image's scan matched again, unless it changed meanwhile, and reports whether
// it did and whether the findings changed (then the scan's event is emitted). The scan is then of the
// database's version at least (a matcher reads the time before matching, after the job read version).
func (s *Service) recordRematch(tx store.Tx, r *store.Repository, scanType string, version time.Time, rm *rematched) (done, diff bool, err error) {
	cur, err := tx.GetImageScan(r.ID, rm.was.Digest)
	if errors.Is(err, store.ErrNotFound) || err == nil && !unchanged(cur, &rm.was) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if diff, err = findingsDiffer(tx, r.ID, cur.Digest, rm.findings); err != nil {
		return false, false, err
	}
	diff = diff || cur.ScanType != scanType
	cur.ScanType, cur.SeverityCounts, cur.CompletedAt = scanType, rm.counts, s.clock.Now()
	cur.SourceUpdatedAt = rm.updated
	if rm.updated.Before(version) {
		cur.SourceUpdatedAt = version
	}
	if err := tx.PutImageScan(*cur); err != nil {
		return false, false, err
	}
	if !diff {
		return true, false, nil
	}
	if err := tx.SetImageScanFindings(r.ID, cur.Digest, rm.findings); err != nil {
		return false, false, err
	}
	return true, true, s.emitScan(tx, r, cur.Digest, cur)
}

// findingsDiffer tells whether an image's stored findings differ from findings, a page at a time.
func findingsDiffer(tx store.Tx, repoID int64, d digest.Digest, findings [][]byte) (bool, error) {
	const page = 200
	seq := 0
	for {
		stored, err := tx.ImageScanFindings(repoID, d, seq, page)
		if err != nil {
			return false, err
		}
		for _, f := range stored {
			if seq >= len(findings) || string(findings[seq]) != string(f.Data) {
				return true, nil
			}
			seq++
		}
		if len(stored) < page {
			return seq != len(findings), nil
		}
	}
}
