// Package server assembles Wharf: it opens the stores, builds the core and the pipeline, and serves the
// protocol adapters and /healthz on one listener, and /metrics on a listener of its own.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wharf-dev/wharf/internal/address"
	"github.com/wharf-dev/wharf/internal/audit"
	"github.com/wharf-dev/wharf/internal/authz"
	"github.com/wharf-dev/wharf/internal/blob"
	blobfs "github.com/wharf-dev/wharf/internal/blob/fs"
	blobs3 "github.com/wharf-dev/wharf/internal/blob/s3"
	"github.com/wharf-dev/wharf/internal/bodylimit"
	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/console"
	"github.com/wharf-dev/wharf/internal/ecrapi"
	"github.com/wharf-dev/wharf/internal/iamapi"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/scanner"
	"github.com/wharf-dev/wharf/internal/secrets"
	"github.com/wharf-dev/wharf/internal/secretsapi"
	"github.com/wharf-dev/wharf/internal/signing"
	"github.com/wharf-dev/wharf/internal/sigv4"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/postgres"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
	"github.com/wharf-dev/wharf/internal/throttle"
	"github.com/wharf-dev/wharf/internal/vulndb"
	"github.com/wharf-dev/wharf/internal/vulndb/download"
	"github.com/wharf-dev/wharf/internal/webhooks"
)

// Options are the settings of a Wharf instance.
type Options struct {
	Addr      string
	DataDir   string
	AccountID string // the default registry
	Region    string // default us-east-1
	// PublicURL is where clients reach Wharf, http(s)://host[:port]: the base of repository URIs,
	// proxyEndpoint and download URLs. Set it behind a load balancer or TLS proxy. Default: the scheme and
	// host each request was sent to. See package address for how accounts map to hosts.
	PublicURL string
	// TrustedProxies are the proxies in front of Wharf whose X-Forwarded-For and X-Forwarded-Proto
	// headers are believed (see forwarded); none by default, and the headers are ignored.
	TrustedProxies TrustedProxies
	// Bootstrap makes sure the default account and its admin user exist (wharf serve does; one-shot
	// commands do not). AdminCredentials, when set, is the admin's key instead of a random one.
	Bootstrap        bool
	AdminCredentials *identity.Credentials
	// ServerSecret seals access keys and signs tokens; every node shares it. Default: <data-dir>/server.key.
	ServerSecret string
	TLSCert      string
	TLSKey       string
	Registry     registry.Config
	GCInterval   time.Duration // 0 disables the periodic collection
	// LifecycleInterval is how often each repository's lifecycle policy is applied (0: never).
	LifecycleInterval time.Duration
	// KeyCacheTTL and PolicyCacheTTL are how long access keys and authorization facts (policies, groups,
	// resource tags) are cached: a change made by another process applies within them (default 5 s, 1 s).
	KeyCacheTTL, PolicyCacheTTL time.Duration
	// HeartbeatInterval is how often the node tells the others it is live, to share the throttle limits
	// (default 3 s; every node the same).
	HeartbeatInterval time.Duration
	// MetricsAddr is the address of the listener that serves /metrics; "" serves no metrics. They are not
	// on the registry's listener: they tell repository activity to anyone who can reach it.
	MetricsAddr string
	// MaxBodyMemory bounds the memory held by ECR, IAM and STS request bodies being read, across all
	// requests (default 64 MiB): those bodies are read whole before their signature can be checked.
	MaxBodyMemory int64
	// AuditRetention is how long the audit trail keeps its records (default 90 days).
	AuditRetention time.Duration
	// AuditDelivery is where the trail's log files are delivered: a directory, or s3://bucket/prefix
	// (reached with AuditS3's endpoint, region and path style); "" delivers none.
	AuditDelivery         string
	AuditDeliveryInterval time.Duration // default 5 minutes
	AuditS3               blobs3.Config
	// Throttle are the rate limits of callers' calls; nil: ECR's default quotas (throttle.Defaults).
	Throttle *throttle.Limits
	// Webhooks are the receivers of notifications (package webhooks).
	Webhooks []webhooks.Target
	// EventRetention is how long the outbox keeps events (default 7 days): consumers read them well before.
	EventRetention time.Duration
	// ScanDBSync, when its URL is set, is where the vulnerability database's advisories are downloaded from
	// every ScanDBSyncInterval (default 6 hours), by one node at a time.
	ScanDBSync         download.Source
	ScanDBSyncInterval time.Duration
	Clock              clock.Clock
	Log                *slog.Logger
}

func (o Options) maxBodyMemory() int64 {
	if o.MaxBodyMemory > 0 {
		return o.MaxBodyMemory
	}
	return 64 << 20
}

// Stores are the two storage back ends.
type Stores struct {
	Meta  store.Store
	Blobs blob.Store
	// Audit keeps the audit trail: with SQLite a database file of its own (audit.db in the data
	// directory), so that recording pulls never waits for the metadata's writer; nil is Meta.
	Audit store.Store
	// SharedBlobs tells that other nodes write to the blob store too.
	SharedBlobs bool
}

// trail is the store of the audit trail.
func (s *Stores) trail() store.Store {
	if s.Audit != nil {
		return s.Audit
	}
	return s.Meta
}

// Close closes the metadata stores.
func (s *Stores) Close() error {
	err := s.Meta.Close()
	if s.Audit != nil {
		err = errors.Join(err, s.Audit.Close())
	}
	return err
}

// OpenStores opens the embedded stores in a data directory: SQLite metadata and filesystem blobs.
func OpenStores(dataDir string) (*Stores, error) {
	return OpenStorage(context.Background(), Storage{DataDir: dataDir})
}

// Storage says where metadata and blobs live. The zero values are the embedded stores in DataDir.
type Storage struct {
	DataDir string
	// Metadata is "" (SQLite in DataDir) or a PostgreSQL URL, postgres://user:password@host:port/db?….
	Metadata string
	// Blobs is "" (files in DataDir) or an S3 bucket and key prefix, s3://bucket/prefix.
	Blobs            string
	S3Endpoint       string // an S3-compatible service instead of AWS S3
	S3Region         string // default: AWS_REGION
	S3ForcePathStyle bool
	// MustExist refuses to create an installation: the SQLite file must be there already, a PostgreSQL
	// database must hold Wharf's schema, blobs in files their directory. Only serve and migrate create one.
	MustExist bool
}

// ErrNoInstallation refuses to open storage that holds no installation (Storage.MustExist).
var ErrNoInstallation = errors.New("no Wharf installation")

// OpenStorage opens the metadata and blob stores.
func OpenStorage(ctx context.Context, s Storage) (*Stores, error) {
	if s.MustExist {
		if err := s.exists(); err != nil {
			return nil, err
		}
	}
	if (s.Metadata == "" || s.Blobs == "") && s.DataDir != "" {
		if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
			return nil, err
		}
	}
	var meta store.Store
	var err error
	switch {
	case s.Metadata == "":
		meta, err = sqlite.Open(filepath.Join(s.DataDir, "wharf.db"))
	case strings.HasPrefix(s.Metadata, "postgres://"), strings.HasPrefix(s.Metadata, "postgresql://"):
		meta, err = postgres.Open(s.Metadata)
	default:
		return nil, fmt.Errorf("--metadata %q: want a postgres:// URL, or nothing for SQLite in the data directory", s.Metadata)
	}
	if err != nil {
		return nil, err
	}
	var blobs blob.Store
	switch {
	case s.Blobs == "":
		blobs, err = blobfs.New(s.DataDir)
	case strings.HasPrefix(s.Blobs, "s3://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(s.Blobs, "s3://"), "/")
		blobs, err = blobs3.New(ctx, blobs3.Config{Bucket: bucket, Prefix: prefix, Endpoint: s.S3Endpoint,
			Region: s.S3Region, ForcePathStyle: s.S3ForcePathStyle, UploadGrace: time.Hour})
	default:
		err = fmt.Errorf("--blobs %q: want s3://bucket/prefix, or nothing for files in the data directory", s.Blobs)
	}
	var trail store.Store
	if err == nil && s.Metadata == "" {
		trail, err = sqlite.Open(filepath.Join(s.DataDir, "audit.db"))
	}
	if err != nil {
		meta.Close()
		return nil, err
	}
	return &Stores{Meta: meta, Blobs: blobs, SharedBlobs: s.Blobs != "", Audit: trail}, nil
}

// exists checks that the storage holds an installation, before anything is created.
func (s Storage) exists() error {
	if s.Metadata == "" {
		_, err := os.Stat(filepath.Join(s.DataDir, "wharf.db"))
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w in %s (run 'wharf serve' first, or pass --data-dir)", ErrNoInstallation, s.DataDir)
		}
		return err
	}
	if ok, err := postgres.HasSchema(s.Metadata); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w in the PostgreSQL database %s (run 'wharf migrate' or 'wharf serve' first)", ErrNoInstallation, RedactURL(s.Metadata))
	}
	if s.Blobs == "" { // the installation keeps its blobs in files: they are in its data directory
		if _, err := os.Stat(filepath.Join(s.DataDir, "blobs")); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: no blobs in %s (pass the --data-dir of the server, or --blobs)", ErrNoInstallation, s.DataDir)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// RedactURL returns a URL without its password (in the user part or a password parameter), for logs.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// App is a running Wharf.
type App struct {
	opts     Options
	stores   *Stores
	Service  *registry.Service
	Identity *identity.Service
	Handler  http.Handler
	// Metrics serves the Prometheus metrics (on Options.MetricsAddr when Run serves).
	Metrics   http.Handler
	log       *slog.Logger
	pipeline  *pipeline.Pipeline
	addresses *address.Book
	trail     *audit.Trail
	delivery  *audit.Delivery // nil when the trail is delivered nowhere
	// Jobs runs the durable background work (Run runs it).
	Jobs     *jobs.Runner
	limiter  *throttle.Limiter
	notifier *webhooks.Notifier
	// NewAdmin holds the default account's admin key when this start created it (shown once).
	NewAdmin *identity.Credentials
	// SigningKeys are the registries' image signing keys.
	SigningKeys *signing.Keys
	// Secrets are the accounts' Secrets Manager secrets (pull through cache credentials).
	Secrets *secrets.Service
	usage   *usageMetrics
}

// New builds an App over open stores: it makes sure the default account and its admin exist.
func New(opts Options, st *Stores) (*App, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.AccountID == "" {
		opts.AccountID = "000000000000"
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	m := newMetrics()
	st = m.timedStores(st) // every operation of the stores measured
	addresses := &address.Book{DefaultAccount: opts.AccountID}
	if opts.PublicURL != "" {
		o, err := address.ParseURL(opts.PublicURL)
		if err != nil {
			return nil, fmt.Errorf("public URL: %w", err)
		}
		addresses.Public = o
	}
	secret, err := identity.LoadOrCreateSecret(opts.DataDir, opts.ServerSecret)
	if err != nil {
		return nil, fmt.Errorf("server secret: %w", err)
	}
	keys, err := identity.NewKeyring(secret)
	if err != nil {
		return nil, err
	}
	ids := identity.New(st.Meta, keys, opts.Clock, opts.Region)
	ids.SetKeyCacheTTL(opts.KeyCacheTTL)
	var newAdmin *identity.Credentials
	if opts.Bootstrap {
		if newAdmin, err = ids.Bootstrap(context.Background(), opts.AccountID, opts.AdminCredentials); err != nil {
			return nil, fmt.Errorf("bootstrapping account %s: %w", opts.AccountID, err)
		}
	}
	opts.Registry.SharedBlobs = opts.Registry.SharedBlobs || st.SharedBlobs
	if opts.Registry.Scanner == nil {
		opts.Registry.Scanner = scanner.New(st.Blobs.Open, vulndb.New(st.Meta, opts.Clock.Now))
	}
	signingKeys := signing.NewKeys(st.Meta, keys, opts.Clock.Now) // each registry's, sealed with the server secret
	if opts.Registry.Signer == nil {
		opts.Registry.Signer = &signing.Signer{Keys: signingKeys, Now: opts.Clock.Now}
	}
	secretStore := secrets.New(st.Meta, keys, opts.Clock, opts.Region)
	if opts.Registry.Secrets == nil {
		opts.Registry.Secrets = secretStore // pull through cache credentials
	}
	wirePullThrough(m.reg, &opts.Registry.Upstreams)              // pull through cache rules' upstream registries
	wirePeers(&opts.Registry.Peers, opts.Region, m.reg, opts.Log) // replication to other regions' deployments
	svc := registry.New(st.Meta, st.Blobs, opts.Clock, opts.Registry, opts.Log)
	authorize := authz.NewPolicyAuthorizer(st.Meta, opts.Region, opts.Clock)
	// Replication into another account of this deployment, as the destination's registry policy allows.
	svc.ReplicateWith(opts.Region, authorize.RegistryAllows)
	authorize.CacheFor = opts.PolicyCacheTTL
	if opts.Throttle == nil {
		opts.Throttle = &throttle.Limits{}
	}
	limiter := throttle.New(opts.Throttle, opts.Clock)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wharf_live_nodes",
		Help: "Live nodes counted from their heartbeats: each holds this share of every throttle limit."},
		func() float64 { return float64(limiter.NodeCount()) }))
	trail := audit.NewTrail(st.trail(), opts.Region, opts.Log)
	delivery, err := auditDelivery(opts, st.trail())
	if err != nil {
		trail.Close()
		return nil, err
	}
	// The one pipeline: every adapter, the command line and background work call through it:
	// identify → throttle → decode → resolve → authorize → run → audit.
	pipe := &pipeline.Pipeline{
		Throttle:  limiter,
		Authorize: authorize,
		Audit:     []pipeline.Auditor{m, pipeline.LogAuditor{Log: opts.Log}, trail},
		Clock:     opts.Clock,
	}
	// Bodies of the AWS APIs are read whole before their signature can be checked: at most this much
	// memory is held by them at once (one access key at most half of it), and each must arrive at a
	// reasonable pace. Half must hold the largest body: a layer part, or a manifest in PutImage.
	if need := 2 * (max(ecrapi.MaxPartBody, 2*svc.Limits().ManifestSize+64<<10) + 1); opts.maxBodyMemory() < need {
		return nil, fmt.Errorf("--max-body-memory %d is under %d bytes, twice the largest request body", opts.maxBodyMemory(), need)
	}
	bodies := &bodylimit.Reader{Budget: bodylimit.NewBudget(opts.maxBodyMemory()), Wait: 2 * time.Second,
		MinRate: 64 << 10, Grace: 20 * time.Second, Idle: 10 * time.Second}
	account := opts.AccountID
	ociHandler := &oci.Handler{
		Service:   svc,
		Identity:  ids,
		Pipeline:  pipe,
		Bodies:    bodies,
		Addresses: addresses,
	}
	ecrHandler := &ecrapi.Handler{
		Service:         svc,
		Identity:        ids,
		Pipeline:        pipe,
		Signatures:      sigv4.NewIdentifier(ids, opts.Region, opts.Clock, "ecr").MustSign("x-amz-target"),
		Bodies:          bodies,
		Clock:           opts.Clock,
		Region:          opts.Region,
		Addresses:       addresses,
		TokenTTL:        12 * time.Hour,
		Paging:          &ecrapi.Paging{Keys: keys},
		PoliciesChanged: authorize.Invalidate,
		LockoutCheck:    authorize.PermitsWithPolicy,
	}
	iamHandler := &iamapi.Handler{
		Clock:           opts.Clock,
		Identity:        ids,
		Pipeline:        pipe,
		Signatures:      sigv4.NewIdentifier(ids, opts.Region, opts.Clock, "iam", "sts"),
		Bodies:          bodies,
		PoliciesChanged: authorize.Invalidate,
	}
	lookupHandler := &audit.Handler{
		Meta:       st.trail(),
		Pipeline:   pipe,
		Signatures: sigv4.NewIdentifier(ids, opts.Region, opts.Clock, "cloudtrail").MustSign("x-amz-target"),
		Bodies:     bodies,
	}
	secretsHandler := &secretsapi.Handler{
		Secrets:    secretStore,
		Pipeline:   pipe,
		Signatures: sigv4.NewIdentifier(ids, opts.Region, opts.Clock, "secretsmanager").MustSign("x-amz-target"),
		Bodies:     bodies,
		Keys:       keys,
	}
	web := &console.Console{Meta: st.Meta, Identity: ids, Pipeline: pipe, SignIn: consoleSignIn(ids),
		ECR: ecrHandler, IAM: iamHandler, CloudTrail: lookupHandler, Clock: opts.Clock, Region: opts.Region, Log: opts.Log,
		SecureCookies: strings.HasPrefix(opts.PublicURL, "https://"), PublicHost: addresses.Public.Host}
	mux := http.NewServeMux()
	mux.Handle("/console/", web.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := st.Meta.View(r.Context(), func(tx store.Tx) error { _, err := tx.CountRepositories(account); return err }); err != nil {
			http.Error(w, "metadata store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	// /v2 paths go straight to the registry API, which validates names itself, so hostile paths get an
	// answer in the OCI error format instead of the mux's cleaning redirects.
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !address.ValidHost(r.Host) { // as net/http refuses over HTTP/1: addresses are built on it
			http.Error(w, "malformed Host header", http.StatusBadRequest)
			return
		}
		if p := r.URL.Path; p == "/v2" || strings.HasPrefix(p, "/v2/") {
			// Registry bodies (layers) stream for as long as they are large, but may not stall.
			if r.Body != http.NoBody {
				r.Body = idleBody{r.Body, http.NewResponseController(w), bodyIdle}
			}
			ociHandler.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/console/") { // the console's calls carry the APIs' headers too
			mux.ServeHTTP(w, r)
			return
		}
		if ecrapi.IsECRRequest(r) {
			ecrHandler.ServeHTTP(w, r)
			return
		}
		if secretsapi.IsRequest(r) {
			secretsHandler.ServeHTTP(w, r)
			return
		}
		if audit.IsLookupRequest(r) {
			lookupHandler.ServeHTTP(w, r)
			return
		}
		if iamapi.IsQueryRequest(r) {
			iamHandler.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	a := &App{opts: opts, stores: st, Service: svc, Identity: ids, Handler: forwarded(opts.TrustedProxies, observe(m, opts.Log, root)),
		Metrics: promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}), log: opts.Log, pipeline: pipe, addresses: addresses, limiter: limiter, NewAdmin: newAdmin,
		trail: trail, delivery: delivery, SigningKeys: signingKeys, Secrets: secretStore,
		Jobs:     jobs.New(st.Meta, opts.Clock, jobs.Options{Log: opts.Log, Metrics: m.reg}),
		notifier: webhooks.New(st.Meta, opts.Clock, opts.Region, opts.Webhooks, opts.Log, m.reg)}
	trail.Node, trail.Deliver = a.Jobs.Holder(), delivery != nil
	trail.Start()
	a.registerAuditMetrics(m.reg)
	a.usage = newUsageMetrics(a)
	m.reg.MustRegister(a.usage)
	a.registerJobs()
	return a, nil
}

// registerJobs registers the kinds of background work. Periodic passes run on one node each period and
// are not retried: the next period is their retry.
func (a *App) registerJobs() {
	if a.opts.GCInterval > 0 {
		a.Jobs.Register(jobs.Kind{Name: "gc", Every: a.opts.GCInterval, MaxAttempts: 1,
			Run: func(ctx context.Context, _ store.Job) error { a.collectGarbage(ctx); return nil }})
	}
	if a.opts.LifecycleInterval > 0 {
		// Lifecycle looks for due repositories every minute (or more often with a shorter interval), so
		// each policy is applied about an interval after it was set or last applied, across restarts.
		a.Jobs.Register(jobs.Kind{Name: "lifecycle", Every: min(a.opts.LifecycleInterval, time.Minute), MaxAttempts: 1,
			Run: func(ctx context.Context, _ store.Job) error { a.applyLifecycle(ctx); return nil }})
	}
	a.notifier.Register(a.Jobs, time.Second)
	// Image scans, with opts.Registry.Scanner (the layers read, matched against the vulnerability database).
	// Each goes through the pipeline, as all background work does (logs, metrics, audit).
	a.Jobs.Register(jobs.Kind{Name: registry.ScanJobKind, Concurrency: 2, MaxAttempts: registry.ScanAttempts,
		Run: func(ctx context.Context, j store.Job) error {
			return a.background(ctx, "scan", "wharf:ScanImage", func(ctx context.Context) error { return a.Service.RunScan(ctx, j) })
		}})
	// Images signed on push under the registry's signing configuration.
	a.Jobs.Register(jobs.Kind{Name: registry.SignJobKind, Concurrency: 2, MaxAttempts: registry.SignAttempts,
		Run: func(ctx context.Context, j store.Job) error {
			return a.background(ctx, "signing", "wharf:SignImage", func(ctx context.Context) error { return a.Service.RunSign(ctx, j) })
		}})
	// Images replicated to each destination of the registry's replication configuration in this region.
	a.Jobs.Register(jobs.Kind{Name: registry.ReplicateJobKind, Concurrency: 2, MaxAttempts: registry.ReplicateAttempts,
		Backoff: a.opts.Registry.Peers.RetryBase, MaxBackoff: a.opts.Registry.Peers.RetryMax, Run: a.replicateImage})
	a.Service.WakeJobsWith(a.Jobs.Wake)
	// The upkeep of scans (stuck scans failed, unused images' scans expired, re-matching queued) and the
	// re-matching of images scanned continuously when the vulnerability database changed.
	a.Jobs.Register(jobs.Kind{Name: registry.ScanUpkeepKind, Every: registry.ScanUpkeepInterval, MaxAttempts: 1,
		Run: func(ctx context.Context, _ store.Job) error {
			return a.background(ctx, "scan upkeep", "wharf:ScanUpkeep", a.Service.ScanUpkeep)
		}})
	a.Jobs.Register(jobs.Kind{Name: registry.RematchJobKind, MaxAttempts: registry.RematchAttempts,
		Run: func(ctx context.Context, j store.Job) error {
			return a.background(ctx, "re-match", "wharf:RematchImages", func(ctx context.Context) error { return a.Service.RunRematch(ctx, j) })
		}})
	retention := a.opts.EventRetention
	if retention <= 0 {
		retention = 7 * 24 * time.Hour
	}
	a.Jobs.Register(jobs.Kind{Name: "events-prune", Every: time.Hour, MaxAttempts: 1, Run: func(ctx context.Context, _ store.Job) error {
		return a.stores.Meta.Update(ctx, func(tx store.Tx) error {
			_, err := tx.PruneEvents(a.opts.Clock.Now().Add(-retention))
			return err
		})
	}})
	a.Jobs.Register(jobs.Kind{Name: "usage-prune", Every: 24 * time.Hour, MaxAttempts: 1, Run: func(ctx context.Context, _ store.Job) error {
		return a.background(ctx, "usage", "wharf:PrunePullCounts", func(ctx context.Context) error { _, err := a.Service.PrunePullCounts(ctx); return err })
	}})
	if a.delivery != nil {
		a.Jobs.Register(jobs.Kind{Name: "audit-delivery", Every: a.deliveryInterval(), MaxAttempts: 1,
			Run: func(ctx context.Context, _ store.Job) error { a.deliverTrail(ctx); return nil }})
	}
	a.Jobs.Register(jobs.Kind{Name: "console-sessions-prune", Every: time.Hour, MaxAttempts: 1, Run: func(ctx context.Context, _ store.Job) error {
		return a.stores.Meta.Update(ctx, func(tx store.Tx) error {
			_, err := tx.DeleteConsoleSessions("", "", a.opts.Clock.Now())
			return err
		})
	}})
	// Secrets whose recovery window has passed are deleted for good.
	a.Jobs.Register(jobs.Kind{Name: "secrets-purge", Every: time.Hour, MaxAttempts: 1, Run: func(ctx context.Context, _ store.Job) error {
		return a.background(ctx, "secrets", "wharf:DeleteScheduledSecrets", func(ctx context.Context) error {
			n, err := a.Secrets.Purge(ctx)
			if n > 0 {
				a.log.Info("deleted secrets whose recovery window passed", "count", n)
			}
			return err
		})
	}})
	a.Jobs.Register(jobs.Kind{Name: "audit-prune", Every: time.Hour, MaxAttempts: 1,
		Run: func(ctx context.Context, _ store.Job) error { a.pruneTrail(ctx); return nil }})
	// Scan results reach the audit trail from the outbox, whichever node scanned.
	a.Jobs.Register(jobs.Kind{Name: "audit-scans", Every: time.Second, MaxAttempts: 1,
		Run: func(ctx context.Context, _ store.Job) error {
			if err := a.auditScans(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("audit: recording scan results failed; the next pass tries again", "err", err)
			}
			return nil
		}})
	if a.opts.ScanDBSync.URL != "" {
		every := a.opts.ScanDBSyncInterval
		if every <= 0 {
			every = 6 * time.Hour
		}
		syncer := download.NewSyncer(vulndb.New(a.stores.Meta, a.opts.Clock.Now), a.opts.ScanDBSync)
		a.Jobs.Register(jobs.Kind{Name: "scan-db-sync", Every: every, MaxAttempts: 1,
			Run: func(ctx context.Context, _ store.Job) error { a.syncScanDB(ctx, syncer); return nil }})
	}
}

// syncEmptyScanDB queues a sync at once when syncs are on and the vulnerability database was never
// imported: the first periodic one would come only a period after the server started.
func (a *App) syncEmptyScanDB(ctx context.Context) error {
	if a.opts.ScanDBSync.URL == "" {
		return nil
	}
	return a.stores.Meta.Update(ctx, func(tx store.Tx) error {
		if at, err := tx.AdvisoriesUpdated(); err != nil || !at.IsZero() {
			return err
		}
		_, err := jobs.Enqueue(tx, a.opts.Clock.Now(), "scan-db-sync", "periodic:scan-db-sync", 1, nil)
		return err
	})
}

// syncScanDB downloads the vulnerability database's advisories and imports them, logging what changed.
func (a *App) syncScanDB(ctx context.Context, syncer *download.Syncer) {
	var stats []download.SyncStats
	err := a.background(ctx, "scan-db-sync", "wharf:ImportVulnerabilities", func(ctx context.Context) (err error) {
		stats, err = syncer.Sync(ctx)
		return err
	})
	for _, st := range stats {
		a.log.Info("vulnerability database synced", "ecosystem", st.Ecosystem, "unchanged", st.Unchanged, "bytes", st.Bytes,
			"advisories", st.Read, "changed", st.Changed, "invalid", st.Invalid)
	}
	if err != nil && ctx.Err() == nil {
		a.log.Error("syncing the vulnerability database failed", "err", err)
	}
}

// Run serves until ctx ends, then shuts down gracefully. ready, if not nil, receives the bound address.
func (a *App) Run(ctx context.Context, ready chan<- string) error {
	if n, err := a.Service.RemoveAbandonedUploads(ctx); err != nil {
		return fmt.Errorf("cleaning abandoned uploads: %w", err)
	} else if n > 0 {
		a.log.Info("removed abandoned upload files", "count", n)
	}
	tcp, err := net.Listen("tcp", a.opts.Addr)
	if err != nil {
		return err
	}
	var ln net.Listener = bigBufferListener{tcp}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if a.opts.TLSCert != "" || a.opts.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(a.opts.TLSCert, a.opts.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	var metricsSrv *http.Server
	if a.opts.MetricsAddr != "" {
		mln, err := net.Listen("tcp", a.opts.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.Metrics)
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, ErrorLog: srv.ErrorLog}
		go metricsSrv.Serve(mln)
		a.log.Info("metrics listening", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	a.warnMovedAddresses(ctx)
	public := a.opts.PublicURL
	if public == "" {
		public = scheme + "://<the host each request names>"
	}
	a.log.Info("wharf listening", "addr", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String(), "public_url", public,
		"region", a.opts.Region, "account", a.opts.AccountID)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	if err := a.syncEmptyScanDB(ctx); err != nil {
		return err
	}
	bgCtx, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	background.Add(1)
	go func() {
		defer background.Done()
		a.Jobs.Run(bgCtx)
	}()

	// Heartbeats: the nodes on one metadata store share each throttle limit.
	background.Add(1)
	go func() {
		defer background.Done()
		(&throttle.Nodes{Store: a.stores.Meta, Limiter: a.limiter, Clock: a.opts.Clock, Log: a.log, Interval: a.opts.HeartbeatInterval}).Run(bgCtx)
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		a.log.Info("shutting down: draining requests", "cause", context.Cause(ctx), "timeout", shutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err = srv.Shutdown(sctx); err == nil {
			a.log.Info("requests drained")
		} else {
			err = fmt.Errorf("requests still running after %s: %w", shutdownTimeout, err)
		}
		cancel()
	}
	if metricsSrv != nil {
		metricsSrv.Close()
	}
	stopBackground()
	background.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// shutdownTimeout is how long a stopping server waits for the requests in flight.
const shutdownTimeout = 30 * time.Second

// bigBufferListener gives accepted connections a large send buffer, so one layer download keeps the
// socket full between sendfile calls instead of waking up for every few hundred kilobytes.
type bigBufferListener struct{ net.Listener }

func (l bigBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4 << 20)
	}
	return c, err
}

// WriteAdminCredentials writes an admin key to <data-dir>/admin-credentials in the aws CLI's credentials
// file format, readable by its owner only.
func WriteAdminCredentials(dataDir string, c *identity.Credentials) (string, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil { // with shared storage nothing else created it
		return "", err
	}
	path := filepath.Join(dataDir, "admin-credentials")
	body := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", c.AccessKeyID, c.SecretAccessKey)
	return path, os.WriteFile(path, []byte(body), 0o600)
}

// background runs Wharf's own work through the pipeline, as the service principal.
func (a *App) background(ctx context.Context, protocol, action string, run func(ctx context.Context) error) error {
	call := &pipeline.Call{Protocol: protocol, Credential: pipeline.As(identity.ServiceIn(""))}
	call.ErrorCode = actionErrorCode(call)
	return a.pipeline.Do(ctx, call, pipeline.Op{Action: action, Run: func(ctx context.Context, _ *pipeline.Call) error { return run(ctx) }})
}

func (a *App) collectGarbage(ctx context.Context) {
	err := a.background(ctx, "gc", "wharf:CollectGarbage", func(ctx context.Context) error {
		_, err := a.Service.CollectGarbage(ctx)
		return err
	})
	if errors.Is(err, registry.ErrGCBusy) {
		a.log.Debug("garbage collection: another process is collecting")
	} else if err != nil && ctx.Err() == nil {
		a.log.Error("garbage collection failed", "err", err)
	}
}

// applyLifecycle applies the lifecycle policies that are due and logs every image it expires.
func (a *App) applyLifecycle(ctx context.Context) {
	var results []registry.LifecycleResult
	err := a.background(ctx, "lifecycle", "ecr:PolicyExecutionEvent", func(ctx context.Context) (err error) {
		results, err = a.Service.RunLifecycle(ctx, registry.LifecycleRun{Due: a.opts.LifecycleInterval})
		return err
	})
	switch {
	case errors.Is(err, registry.ErrLifecycleBusy):
		a.log.Debug("lifecycle: another process is applying policies")
	case err != nil && ctx.Err() == nil:
		a.log.Error("applying lifecycle policies failed", "err", err)
	}
	for _, res := range results {
		for _, e := range res.Expired {
			a.log.Info("lifecycle expired an image", "registry", res.RegistryID, "repository", res.Repository,
				"digest", e.Digest, "tags", e.Tags, "rule_priority", e.Rule)
		}
	}
	a.auditExpiries(results)
}

// warnMovedAddresses names the default account's repositories whose path is not their name: on a host
// without an account id, a name beginning with an account id addresses that account, so these
// repositories are reached at <host>/<default account>/<name> (their repositoryUri says so), not at the
// address they had before.
func (a *App) warnMovedAddresses(ctx context.Context) {
	repos, _, err := a.Service.ListRepositories(ctx, a.opts.AccountID, "", 1000)
	if err != nil {
		return
	}
	for _, r := range repos {
		if r.Name[0] > '9' {
			break // names are sorted: those beginning with digits come first
		}
		if path := a.addresses.Path(address.Origin{}, a.opts.AccountID, r.Name); path != r.Name {
			a.log.Warn("repository reached under the default account's id: a path beginning with an account id names that account",
				"repository", r.Name, "path", path)
		}
	}
}

// actionErrorCode names the errors of a call with no protocol of its own (the command line, background
// work) in the codes of its action's API: IAM's for iam: and sts: actions, ECR's for the others.
func actionErrorCode(c *pipeline.Call) func(error) (string, string) {
	return func(err error) (string, string) {
		if strings.HasPrefix(c.Action, "iam:") || strings.HasPrefix(c.Action, "sts:") {
			return iamapi.ErrorCode(err)
		}
		return ecrapi.ErrorCode(err)
	}
}

// Do runs an operation of the command line through the pipeline, as the root of account: identified,
// authorized, audited like any other call.
func (a *App) Do(ctx context.Context, account string, op pipeline.Op) error {
	call := &pipeline.Call{Protocol: "cli", RegistryID: account, UserAgent: "wharf-cli", Credential: pipeline.As(identity.RootOf(account))}
	call.ErrorCode = actionErrorCode(call)
	return a.pipeline.Do(ctx, call, op)
}

// Close flushes the core and the audit trail and closes the stores.
func (a *App) Close() error {
	a.usage.close()
	a.trail.Close()
	return errors.Join(a.Service.Close(), a.stores.Close())
}

// bodyIdle is how long a registry request's body may send nothing before the connection is dropped.
const bodyIdle = time.Minute

// idleBody reads a request body with a deadline that each read pushes back: a body may take as long as
// its size needs, but not stall.
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (b idleBody) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(time.Now().Add(b.idle))
	return b.ReadCloser.Read(p)
}

// Unwrap returns the body beneath, for a reader that keeps deadlines of its own (bodylimit).
func (b idleBody) Unwrap() io.ReadCloser { return b.ReadCloser }

// consoleSignIn checks the console's sign-ins against the users' login profiles.
func consoleSignIn(ids *identity.Service) console.SignInFunc {
	return func(ctx context.Context, account, user, password string) (identity.Principal, bool, error) {
		p, res, err := ids.SignIn(ctx, account, user, password)
		switch {
		case errors.Is(err, identity.ErrSignInFailed):
			err = console.ErrSignInFailed
		case errors.Is(err, identity.ErrPasswordExpired):
			err = &registry.Error{Kind: registry.KindUnauthorized, Message: "Your password has expired. Ask your administrator to reset it."}
		}
		return p, res.PasswordResetRequired, err
	}
}
