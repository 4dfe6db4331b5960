package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/inventory"
	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/vulndb"
)

// Scan states, as ECR names them.
const (
	ScanInProgress          = "IN_PROGRESS"
	ScanComplete            = "COMPLETE"
	ScanFailed              = "FAILED"
	ScanUnsupportedImage    = "UNSUPPORTED_IMAGE"
	ScanActive              = "ACTIVE"
	ScanPending             = "PENDING"
	ScanEligibilityExpired  = "SCAN_ELIGIBILITY_EXPIRED"
	ScanFindingsUnavailable = "FINDINGS_UNAVAILABLE"
)

// Scan types and frequencies of a registry's scanning configuration.
const (
	ScanTypeBasic    = "BASIC"
	ScanTypeEnhanced = "ENHANCED"

	ScanOnPush     = "SCAN_ON_PUSH"
	ContinuousScan = "CONTINUOUS_SCAN"
	ManualScan     = "MANUAL"
)

// Descriptions of scan states, ECR's.
const (
	scanCompleteDescription     = "The scan was completed successfully."
	unsupportedImageDescription = "UnsupportedImageError: The operating system and/or package manager are not supported."
	unsupportedTypeDescription  = "UnsupportedImageError: The image type is not supported for scanning."
	scanFailedDescription       = "UnknownError: The scan failed. Start another scan; the registry's log says why."
)

const (
	// ScanJobKind is the kind of the durable job that scans one image.
	// Each job scans once, on one node; RunScan runs it.
	ScanJobKind = "image-scan"
	// manualScanQuota is how often an image may be scanned on request.
	manualScanQuota = 24 * time.Hour
	// ScanAttempts is how many attempts a scan job has (a scanner's failure is recorded, not retried: these
	// are for the store's).
	ScanAttempts = 3
)

// ScanImage is the image a Scanner scans.
type ScanImage struct {
	RegistryID string
	Repository string
	Digest     digest.Digest
	MediaType  string
	Manifest   []byte
	ScanType   string // ScanTypeBasic: operating-system packages; ScanTypeEnhanced: language packages too
}

// Scanner finds what an image holds and the vulnerabilities of its packages, and says when its vulnerability
// database was last updated. It returns an error wrapping ErrUnsupportedImage for an image it cannot read
// (no operating system or package manager it knows).
type Scanner interface {
	Scan(ctx context.Context, img ScanImage) (inventory.Inventory, []vulndb.Finding, time.Time, error)
}

// ErrUnsupportedImage is wrapped by a Scanner's error for an image it does not support.
var ErrUnsupportedImage = errors.New("unsupported image")

// Matcher matches an inventory a scan stored against the vulnerability database as it is now, as a scan
// of scanType would, without reading the image again; it says when the database was last updated (read
// before matching). A Scanner that is also a Matcher has images scanned continuously re-matched when the
// database changes.
type Matcher interface {
	Match(ctx context.Context, inv inventory.Inventory, scanType string) ([]vulndb.Finding, time.Time, error)
}

// NopScanner finds nothing in any image: scans complete, with no findings.
type NopScanner struct{}

func (NopScanner) Scan(context.Context, ScanImage) (inventory.Inventory, []vulndb.Finding, time.Time, error) {
	return inventory.Inventory{}, nil, time.Time{}, nil
}

func (NopScanner) Match(context.Context, inventory.Inventory, string) ([]vulndb.Finding, time.Time, error) {
	return nil, time.Time{}, nil
}

// ScanningRule is a rule of a registry's scanning configuration: the repositories its filters match are
// scanned at its frequency.
type ScanningRule struct {
	ScanFrequency     string             `json:"scanFrequency"`
	RepositoryFilters []RepositoryFilter `json:"repositoryFilters"`
}

// RepositoryFilter matches repository names: FilterType WILDCARD, where * matches any characters.
type RepositoryFilter struct {
	Filter     string `json:"filter"`
	FilterType string `json:"filterType"`
}

// ScanningConfiguration is a registry's scanning configuration.
type ScanningConfiguration struct {
	ScanType string
	Rules    []ScanningRule
}

// RepositoryScanning is how a repository's images are scanned, under the registry's configuration when one
// is set, else under the repository's scanOnPush.
type RepositoryScanning struct {
	Repository     *store.Repository
	ScanType       string
	ScanFrequency  string
	ScanOnPush     bool
	AppliedFilters []RepositoryFilter
}

var repositoryFilterPattern = regexp.MustCompile(`^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$`)

// checkScanningConfiguration validates a configuration with ECR's messages.
func checkScanningConfiguration(c ScanningConfiguration) error {
	at := func(field, constraint string) error {
		return errf(KindInvalidParameter, "Invalid parameter at '%s' failed to satisfy constraint: '%s'", field, constraint)
	}
	if c.ScanType != ScanTypeBasic && c.ScanType != ScanTypeEnhanced {
		return at("scanType", "Member must satisfy enum value set: [BASIC, ENHANCED]")
	}
	if len(c.Rules) > 2 {
		return at("rules", "Member must have length less than or equal to 2")
	}
	seen := map[string]bool{}
	for i, r := range c.Rules {
		field := fmt.Sprintf("rules.%d.", i+1)
		switch r.ScanFrequency {
		case ScanOnPush, ContinuousScan, ManualScan:
		default:
			return at(field+"scanFrequency", "Member must satisfy enum value set: [SCAN_ON_PUSH, CONTINUOUS_SCAN, MANUAL]")
		}
		if c.ScanType == ScanTypeBasic && r.ScanFrequency != ScanOnPush {
			return errf(KindInvalidParameter, "Invalid parameter: scanFrequency %s is not supported with scanType BASIC; BASIC supports SCAN_ON_PUSH", r.ScanFrequency)
		}
		if seen[r.ScanFrequency] {
			return errf(KindInvalidParameter, "Invalid parameter: more than one rule has scanFrequency %s", r.ScanFrequency)
		}
		seen[r.ScanFrequency] = true
		if len(r.RepositoryFilters) > 100 {
			return at(field+"repositoryFilters", "Member must have length less than or equal to 100")
		}
		for j, f := range r.RepositoryFilters {
			ff := fmt.Sprintf("%srepositoryFilters.%d.", field, j+1)
			if f.FilterType != "WILDCARD" {
				return at(ff+"filterType", "Member must satisfy enum value set: [WILDCARD]")
			}
			if len(f.Filter) < 1 || len(f.Filter) > 255 || !repositoryFilterPattern.MatchString(f.Filter) {
				return at(ff+"filter", "Member must satisfy regular expression pattern: ^[a-z0-9*](?:[._\\-/a-z0-9*]?[a-z0-9*]+)*$")
			}
		}
	}
	return nil
}

// wildcardMatch tells whether name matches pattern, where * matches any run of characters.
func wildcardMatch(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(name, p)
		if i < 0 {
			return false
		}
		name = name[i+len(p):]
	}
	return strings.HasSuffix(name, parts[len(parts)-1])
}

// PutScanningConfiguration validates and sets a registry's scanning configuration; it supersedes the
// repositories' scanOnPush from then on.
func (s *Service) PutScanningConfiguration(ctx context.Context, registryID string, c ScanningConfiguration) error {
	if err := checkScanningConfiguration(c); err != nil {
		return err
	}
	if c.Rules == nil {
		c.Rules = []ScanningRule{}
	}
	rules, err := json.Marshal(c.Rules)
	if err != nil {
		return err
	}
	return internal(s.meta.Update(ctx, func(tx store.Tx) error {
		return tx.SetScanningConfiguration(store.ScanningConfiguration{RegistryID: registryID, ScanType: c.ScanType, Rules: string(rules), UpdatedAt: s.clock.Now()})
	}))
}

// ScanningConfiguration returns a registry's scanning configuration: BASIC without rules when none was set,
// and whether one was set.
func (s *Service) ScanningConfiguration(ctx context.Context, registryID string) (c ScanningConfiguration, set bool, err error) {
	err = s.meta.View(ctx, func(tx store.Tx) error {
		c, set, err = scanningConfiguration(tx, registryID)
		return err
	})
	return c, set, internal(err)
}

func scanningConfiguration(tx store.Tx, registryID string) (ScanningConfiguration, bool, error) {
	c := ScanningConfiguration{ScanType: ScanTypeBasic, Rules: []ScanningRule{}}
	stored, err := tx.ScanningConfiguration(registryID)
	if errors.Is(err, store.ErrNotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	c.ScanType = stored.ScanType
	return c, true, json.Unmarshal([]byte(stored.Rules), &c.Rules)
}

// repositoryScanning says how a repository's images are scanned. Under a registry configuration, the
// most frequent rule that matches the repository applies: continuous, then on push, then manual.
func repositoryScanning(c ScanningConfiguration, set bool, r *store.Repository) RepositoryScanning {
	rs := RepositoryScanning{Repository: r, ScanType: c.ScanType, ScanFrequency: ManualScan, AppliedFilters: []RepositoryFilter{}}
	if !set {
		if r.ScanOnPush {
			rs.ScanFrequency, rs.ScanOnPush = ScanOnPush, true
		}
		return rs
	}
	for _, freq := range []string{ContinuousScan, ScanOnPush, ManualScan} {
		for _, rule := range c.Rules {
			if rule.ScanFrequency != freq {
				continue
			}
			for _, f := range rule.RepositoryFilters {
				if wildcardMatch(f.Filter, r.Name) {
					rs.AppliedFilters = append(rs.AppliedFilters, f)
				}
			}
			if len(rs.AppliedFilters) > 0 {
				rs.ScanFrequency, rs.ScanOnPush = freq, freq != ManualScan
				return rs
			}
		}
	}
	return rs
}

// RepositoriesScanning says how each named repository of a registry is scanned; names of repositories
// that do not exist are returned apart.
func (s *Service) RepositoriesScanning(ctx context.Context, registryID string, names []string) (out []RepositoryScanning, missing []string, err error) {
	err = s.meta.View(ctx, func(tx store.Tx) error {
		c, set, err := scanningConfiguration(tx, registryID)
		if err != nil {
			return err
		}
		for _, name := range names {
			r, err := tx.GetRepository(registryID, name)
			if errors.Is(err, store.ErrNotFound) {
				missing = append(missing, name)
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, repositoryScanning(c, set, r))
		}
		return nil
	})
	return out, missing, internal(err)
}

// scannable tells whether an image is a container image a scan can read: a single-platform image
// manifest whose config is an image configuration (not an index, not another artifact).
func scannable(img *store.Image) bool {
	switch img.MediaType {
	case manifest.OCIManifest, manifest.DockerManifest:
	default:
		return false
	}
	switch img.ArtifactType {
	case "", "application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json":
		return true
	}
	return false
}

// scanJob is the payload of a scan job.
type scanJob struct {
	RepositoryID int64         `json:"repositoryId"`
	Digest       digest.Digest `json:"digest"`
}

// startScan records a scan of img in progress and queues the job that runs it, in tx. An image that cannot
// be scanned is recorded UNSUPPORTED_IMAGE at once. It reports whether a job was queued.
func (s *Service) startScan(tx store.Tx, repo *store.Repository, img *store.Image, scanType string, manual bool) (bool, error) {
	now := s.clock.Now()
	scan := store.ImageScan{RepositoryID: repo.ID, Digest: img.Digest, ScanType: scanType, Status: ScanInProgress, StartedAt: now}
	prev, err := tx.GetImageScan(repo.ID, img.Digest)
	switch {
	case err == nil:
		scan.ManualAt = prev.ManualAt
	case !errors.Is(err, store.ErrNotFound):
		return false, err
	}
	if manual {
		scan.ManualAt = now
	}
	if !scannable(img) {
		scan.Status, scan.Description = ScanUnsupportedImage, unsupportedTypeDescription
		if err := tx.PutImageScan(scan); err != nil {
			return false, err
		}
		return false, s.emitScan(tx, repo, img.Digest, &scan)
	}
	if err := tx.PutImageScan(scan); err != nil {
		return false, err
	}
	if err := tx.SetImageScanFindings(repo.ID, img.Digest, nil); err != nil {
		return false, err
	}
	payload, err := json.Marshal(scanJob{repo.ID, img.Digest})
	if err != nil {
		return false, err
	}
	// One job per scan requested: a scan requested while an older one runs gets a job of its own, and the
	// older one's result is dropped.
	return tx.EnqueueJob(&store.Job{Kind: ScanJobKind, UniqueKey: scanJobKey(repo.ID, img.Digest, now),
		Payload: payload, MaxAttempts: ScanAttempts, RunAt: now, CreatedAt: now})
}

// scanJobKey is the unique key of the job of the scan of an image started at started.
func scanJobKey(repoID int64, d digest.Digest, started time.Time) string {
	return fmt.Sprintf("%s/%d/%s/%d", ScanJobKind, repoID, d, started.UnixNano())
}

// scanOnPush starts the scan of a pushed image when the repository is scanned on push.
func (s *Service) scanOnPush(tx store.Tx, repo *store.Repository, img *store.Image) (bool, error) {
	c, set, err := scanningConfiguration(tx, repo.RegistryID)
	if err != nil {
		return false, err
	}
	rs := repositoryScanning(c, set, repo)
	if !rs.ScanOnPush {
		return false, nil
	}
	return s.startScan(tx, repo, img, rs.ScanType, false)
}

// wakeScans has the job runner look for the scan just queued.
func (s *Service) wakeScans() {
	if s.wakeJobs != nil {
		s.wakeJobs()
	}
}

// StartImageScan starts a scan of an image on request, which ECR allows once a day per image (a failed
// scan does not count); an image that is not a container image cannot be scanned.
func (s *Service) StartImageScan(ctx context.Context, registryID, name string, ref ImageRef) (*ImageDetail, *store.ImageScan, error) {
	var detail *ImageDetail
	var scan *store.ImageScan
	queued := false
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		img, err := findImage(tx, r, ref)
		if err != nil {
			return err
		}
		detail = img
		if !scannable(&img.Image) {
			return errf(KindUnsupported, "The image is of a type that cannot be scanned.")
		}
		if st, err := s.imageStorage(tx, r.ID, img.Digest); err != nil {
			return err
		} else if st.Status != ImageActive {
			return errf(KindImageArchived, "The image with digest '%s' is %s and cannot be scanned.", img.Digest, st.Status)
		}
		prev, err := tx.GetImageScan(r.ID, img.Digest)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if prev != nil && prev.Status != ScanFailed && !prev.ManualAt.IsZero() && s.clock.Now().Sub(prev.ManualAt) < manualScanQuota {
			return errf(KindLimitExceeded, "The scan quota per image has been exceeded. Wait and try again.")
		}
		c, set, err := scanningConfiguration(tx, registryID)
		if err != nil {
			return err
		}
		if queued, err = s.startScan(tx, r, &img.Image, repositoryScanning(c, set, r).ScanType, true); err != nil {
			return err
		}
		scan, err = tx.GetImageScan(r.ID, img.Digest)
		return err
	})
	if err != nil {
		return nil, nil, internal(err)
	}
	if queued {
		s.wakeScans()
	}
	return detail, scan, nil
}

// WakeJobsWith has the core call wake after it queued a scan, so the job runner looks for it at once.
// Call it before serving.
func (s *Service) WakeJobsWith(wake func()) { s.wakeJobs = wake }

// RunScan runs a scan job: it scans the image and records the result, unless the image or its scan in
// progress went away meanwhile. A scanner's failure is the scan's: it is recorded FAILED.
func (s *Service) RunScan(ctx context.Context, j store.Job) error {
	var p scanJob
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return fmt.Errorf("scan job %d: %w", j.ID, err)
	}
	var target ScanImage
	var started time.Time
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := tx.GetRepositoryByID(p.RepositoryID)
		if err != nil {
			return err
		}
		img, err := tx.GetImage(r.ID, p.Digest)
		if err != nil {
			return err
		}
		scan, err := tx.GetImageScan(r.ID, p.Digest)
		if err != nil {
			return err
		}
		if scan.Status != ScanInProgress {
			return store.ErrNotFound
		}
		started = scan.StartedAt
		target = ScanImage{RegistryID: r.RegistryID, Repository: r.Name, Digest: img.Digest, MediaType: img.MediaType, Manifest: img.Content, ScanType: scan.ScanType}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil // nothing to scan any more
	}
	if err != nil {
		return err
	}
	scanner := s.cfg.Scanner
	if scanner == nil {
		scanner = NopScanner{}
	}
	inv, findings, sourceUpdated, scanErr := s.scanWithin(ctx, scanner, target)
	if scanErr != nil && ctx.Err() != nil {
		return scanErr // the node is stopping: another attempt scans it
	}
	result := store.ImageScan{RepositoryID: p.RepositoryID, Digest: p.Digest, ScanType: target.ScanType, StartedAt: started,
		CompletedAt: s.clock.Now(), SourceUpdatedAt: sourceUpdated, SeverityCounts: map[string]int{}}
	var encoded [][]byte
	var invJSON []byte
	switch {
	case errors.Is(scanErr, ErrUnsupportedImage):
		result.Status, result.Description = ScanUnsupportedImage, unsupportedImageDescription
	case scanErr != nil:
		s.log.Warn("image scan failed", "registry", target.RegistryID, "repository", target.Repository, "digest", target.Digest, "err", scanErr)
		result.Status, result.Description = ScanFailed, scanFailedDescription // the cause, which may name server paths, is logged
	default:
		result.Status, result.Description = ScanComplete, scanCompleteDescription
		for _, f := range findings {
			result.SeverityCounts[f.Severity]++
			b, err := json.Marshal(f)
			if err != nil {
				return err
			}
			encoded = append(encoded, b)
		}
		if invJSON, err = json.Marshal(inv); err != nil {
			return err
		}
	}
	return internal(s.meta.Update(ctx, func(tx store.Tx) error {
		r, err := tx.GetRepositoryByID(p.RepositoryID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		cur, err := tx.GetImageScan(r.ID, p.Digest)
		if errors.Is(err, store.ErrNotFound) || err == nil && (cur.Status != ScanInProgress || !cur.StartedAt.Equal(started)) {
			return nil // the image went away, or another scan replaced this one
		}
		if err != nil {
			return err
		}
		result.ManualAt = cur.ManualAt
		if err := tx.PutImageScan(result); err != nil {
			return err
		}
		if err := tx.SetImageScanFindings(r.ID, p.Digest, encoded); err != nil {
			return err
		}
		if invJSON != nil {
			if err := tx.SetImageInventory(r.ID, p.Digest, invJSON); err != nil {
				return err
			}
		}
		return s.emitScan(tx, r, p.Digest, &result)
	}))
}

// errScanTimeout cancels a scan that ran longer than Config.ScanTimeout.
var errScanTimeout = errors.New("the scan took longer than its time limit")

// scanWithin runs the scanner under the scan timeout, on the service's clock: a crafted image (layers that
// expand without end) fails its scan rather than hold a scan worker for hours. The timeout is not ctx's, so
// that RunScan tells it from the node stopping.
func (s *Service) scanWithin(ctx context.Context, sc Scanner, img ScanImage) (inventory.Inventory, []vulndb.Finding, time.Time, error) {
	timeout := s.cfg.ScanTimeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	scanCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-s.clock.After(timeout):
			cancel(errScanTimeout)
		case <-scanCtx.Done():
		}
	}()
	inv, findings, updated, err := sc.Scan(scanCtx, img)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(scanCtx), errScanTimeout) {
		err = fmt.Errorf("%w after %v: %w", errScanTimeout, timeout, err)
	}
	return inv, findings, updated, err
}

// emitScan records that a scan of an image ended.
func (s *Service) emitScan(tx store.Tx, r *store.Repository, d digest.Digest, scan *store.ImageScan) error {
	tags, err := tx.ImageTags(r.ID, d)
	if err != nil {
		return err
	}
	counts := scan.SeverityCounts
	if counts == nil {
		counts = map[string]int{}
	}
	return s.emit(tx, Event{Type: EventImageScanned, RegistryID: r.RegistryID, Repository: r.Name, Digest: d, Tags: tags,
		ScanStatus: scan.Status, SeverityCounts: counts})
}

// ScanFindings is a page of an image's scan findings.
type ScanFindings struct {
	Image    *ImageDetail
	Scan     *store.ImageScan
	Findings []vulndb.Finding
	Next     string // where the next page starts, "" when this is the last
}

// ImageScanFindings returns an image's latest scan and a page of its findings: at most n after the
// position after ("" for the first page).
func (s *Service) ImageScanFindings(ctx context.Context, registryID, name string, ref ImageRef, after string, n int) (*ScanFindings, error) {
	var out ScanFindings
	pos := 0
	if after != "" {
		var err error
		if pos, err = strconv.Atoi(after); err != nil || pos < 0 {
			return nil, errf(KindInvalidParameter, "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'")
		}
	}
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		if out.Image, err = findImage(tx, r, ref); err != nil {
			return err
		}
		out.Scan, err = tx.GetImageScan(r.ID, out.Image.Digest)
		if errors.Is(err, store.ErrNotFound) {
			return &Error{Kind: KindScanNotFound, Message: "Image scan does not exist for the image", Fields: Fields{RegistryID: registryID, Repository: name, Digest: out.Image.Digest}}
		}
		if err != nil {
			return err
		}
		page, err := tx.ImageScanFindings(r.ID, out.Image.Digest, pos, n+1)
		if err != nil {
			return err
		}
		if len(page) > n {
			page = page[:n]
			out.Next = strconv.Itoa(page[n-1].Seq)
		}
		for _, f := range page {
			var v vulndb.Finding
			if err := json.Unmarshal(f.Data, &v); err != nil {
				return err
			}
			out.Findings = append(out.Findings, v)
		}
		return nil
	})
	if err != nil {
		return nil, internal(err)
	}
	return &out, nil
}

// ImageScans returns the latest scans of a repository's images among ds, by digest (images never scanned
// have none).
func (s *Service) ImageScans(ctx context.Context, registryID, name string, ds []digest.Digest) (map[digest.Digest]*store.ImageScan, error) {
	out := map[digest.Digest]*store.ImageScan{}
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		for _, d := range ds {
			scan, err := tx.GetImageScan(r.ID, d)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out[d] = scan
		}
		return nil
	})
	return out, internal(err)
}
