// Package registry is Wharf's domain core. It owns every rule of the registry — repository names and
// existence, images and tags, tag mutability, limits, blob visibility, uploads and garbage collection —
// so that the OCI API, the ECR API, the console and the CLI are thin adapters over one behaviour.
package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/wharf-dev/wharf/internal/blob"
	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/store"
)

// Limits are ECR's default service quotas (adjustable, as ECR's are); zero means the default.
type Limits struct {
	RepositoriesPerRegistry int   // 100,000
	ImagesPerRepository     int   // 100,000
	TagsPerImage            int   // 1,000
	LayersPerImage          int   // 10,000: ECR sets none; the manifest's size bounds them first
	ManifestSize            int64 // 4 MiB
	// CreationTemplatesPerRegistry bounds a registry's repository creation templates: 100.
	CreationTemplatesPerRegistry int
	// PullThroughCacheRulesPerRegistry bounds a registry's pull through cache rules: 50.
	PullThroughCacheRulesPerRegistry int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.RepositoriesPerRegistry, 100000)
	def(&l.ImagesPerRepository, 100000)
	def(&l.TagsPerImage, 1000)
	def(&l.LayersPerImage, 10000)
	def(&l.CreationTemplatesPerRegistry, 100)
	def(&l.PullThroughCacheRulesPerRegistry, 50)
	if l.ManifestSize <= 0 {
		l.ManifestSize = 4 << 20
	}
	return l
}

// Config tunes the core.
type Config struct {
	CreateOnPush bool
	Limits       Limits
	// GCGrace spares blobs and blob links younger than this from garbage collection, so the layers of a
	// push in progress survive until its manifest arrives. Default 1 hour.
	GCGrace time.Duration
	// UploadTTL is how long an idle upload session lives. Default 24 hours.
	UploadTTL time.Duration
	// PullFlushInterval is how often recorded pull times are written. Default 10 seconds.
	PullFlushInterval time.Duration
	// ManifestCacheTTL bounds how long a cached manifest may be served after another process (a CLI
	// command, another node) changed its tag. Changes made through this Service invalidate at once.
	// Default 1 second; negative disables the cache.
	ManifestCacheTTL time.Duration
	// SharedBlobs says that other processes append to uploads in the same blob store (several nodes on
	// S3): each chunk of an upload then holds a lease on it in the metadata store, so that two requests for
	// one upload on two nodes cannot interleave their bytes.
	SharedBlobs bool
	// BlobRedirect sends clients to the blob store for layer bytes (a presigned S3 URL) when the blob store
	// can presign; off, Wharf proxies the bytes.
	BlobRedirect bool
	// Scanner scans images; nil finds nothing (scans complete without findings).
	Scanner Scanner
	// ScanTimeout bounds one scan; a scan that takes longer is FAILED. Default 30 minutes.
	ScanTimeout time.Duration
	// RescanDuration is how long an image scanned continuously is monitored after it was last pushed or
	// pulled; past it, its scan is SCAN_ELIGIBILITY_EXPIRED. Default 14 days; negative: for its lifetime.
	RescanDuration time.Duration
	// Signer signs the images a registry's signing configuration matches, when they are pushed; nil
	// records their signing FAILED.
	Signer ImageSigner
	// RestoreTime is how long the restore of an archived image takes. Default DefaultRestoreTime (ECR's).
	RestoreTime time.Duration
	// Prices are the prices of Usage's estimated costs. Default DefaultPrices (ECR's).
	Prices Prices
	// Secrets give the values of the secrets pull through cache rules name (their credentials); nil finds
	// none.
	Secrets SecretValues
	// Upstreams tunes how pull through cache rules reach their upstream registries.
	Upstreams UpstreamConfig
	// Peers are the deployments of other regions images are replicated to.
	Peers PeerConfig
}

// Service is the registry core.
type Service struct {
	meta  store.Store
	blobs blob.Store
	clock clock.Clock
	cfg   Config
	log   *slog.Logger
	pulls *pullRecorder
	locks keyedMutex
	cache *manifestCache
	// background counts work that outlives a call (lifecycle previews); Close waits for it.
	background sync.WaitGroup
	// wakeJobs has the job runner look for due jobs now (a scan just queued); set by ScanJobs.
	wakeJobs   func()
	exclusions exclusionCache // each registry's pull time update exclusions
	checks     tagChecks      // when this node next checks each pulled tag of a pull through cache
	signing    signingCache   // each registry's signing configuration
	// replication: the region, the destinations' authorizer and each registry's configuration.
	replication replication
	// previewGate, when set by a test, holds previews in progress until it is closed.
	previewGate chan struct{}
	// schema1Key signs the schema 1 manifests converted for old clients (made on first use).
	schema1Key func() (*ecdsa.PrivateKey, error)
	// sbomBuild lets one SBOM be built at a time: the largest inventory's document takes GiBs to write.
	sbomBuild chan struct{}
	// inflight are the pull throughs in progress, which serve what they fetch as it arrives.
	inflight inflightSet
}

// New returns a Service over the given stores. Close flushes what it buffers.
func New(meta store.Store, blobs blob.Store, clk clock.Clock, cfg Config, log *slog.Logger) *Service {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.Default()
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.GCGrace <= 0 {
		cfg.GCGrace = time.Hour
	}
	if cfg.UploadTTL <= 0 {
		cfg.UploadTTL = 24 * time.Hour
	}
	if cfg.PullFlushInterval <= 0 {
		cfg.PullFlushInterval = 10 * time.Second
	}
	if cfg.ManifestCacheTTL == 0 {
		cfg.ManifestCacheTTL = time.Second
	}
	if cfg.ScanTimeout <= 0 {
		cfg.ScanTimeout = 30 * time.Minute
	}
	if cfg.RescanDuration == 0 {
		cfg.RescanDuration = DefaultRescanDuration
	}
	if cfg.Prices == (Prices{}) {
		cfg.Prices = DefaultPrices
	}
	s := &Service{meta: meta, blobs: blobs, clock: clk, cfg: cfg, log: log, cache: newManifestCache(cfg.ManifestCacheTTL, 32<<20),
		sbomBuild: make(chan struct{}, 1)}
	s.pulls = newPullRecorder(s, cfg.PullFlushInterval)
	s.schema1Key = sync.OnceValues(func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	return s
}

// Close writes buffered pull times.
func (s *Service) Close() error {
	s.background.Wait()
	return s.pulls.close()
}

// Limits returns the limits in force.
func (s *Service) Limits() Limits { return s.cfg.Limits }

// newUploadID returns an upload's id: a random UUID (version 4), as ECR's uploadId is.
func newUploadID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// internal wraps an unexpected store or blob error. Storage that is full is said so: it is no fault of
// the request, retrying at once does not help, and the operator must act.
func internal(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, store.ErrFull) || errors.Is(err, blob.ErrFull) {
		return &Error{Kind: KindStorageFull, Message: "The registry's storage is full: nothing was stored. Retry when the operator has freed space.", Err: err}
	}
	return &Error{Kind: KindInternal, Message: err.Error(), Err: err}
}

// keyedMutex serialises work on one key (an upload) inside this process.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedEntry)
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
