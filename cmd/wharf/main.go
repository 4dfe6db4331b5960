// Command wharf is a self-hosted container registry that speaks the OCI Distribution API and Amazon ECR's.
//
//	wharf serve                 run the registry
//	wharf repo create NAME      create a repository
//	wharf repo list             list repositories
//	wharf repo delete NAME      delete a repository (--force: with its images)
//	wharf gc                    reclaim the storage of deleted images now
//	wharf lifecycle run|history apply lifecycle policies now; list what they expired
//	wharf migrate               bring the metadata schema up to date
//	wharf migrate-storage       copy a single-node installation into PostgreSQL and S3
//	wharf admin …               manage accounts, users and access keys
//	wharf version               print the version and what the binary was built with
//
// The commands are listed in cli.go; 'wharf help' prints them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only with --pprof-addr, on its own listener
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	blobs3 "github.com/wharf-dev/wharf/internal/blob/s3"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/peer"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/store/sqlstore"
	"github.com/wharf-dev/wharf/internal/throttle"
	"github.com/wharf-dev/wharf/internal/vulndb/download"
	"github.com/wharf-dev/wharf/internal/webhooks"
)

func main() {
	config.Shared(serverSettings()...)
	os.Exit(dispatch(os.Args[1:]))
}

// common holds the settings the commands share: where the installation is, and the registry's rules. It
// starts with the defaults; each command declares the flags of the settings it reads.
type common struct {
	dataDir      string
	accountID    string
	region       string
	publicURL    string
	serverSecret string
	createOnPush bool
	upstreamHTTP bool
	ptcRefresh   time.Duration
	logLevel     slog.Level
	logFormat    string
	gcGrace      time.Duration
	uploadTTL    time.Duration
	cacheTTL     time.Duration
	keyCacheTTL  time.Duration
	policyTTL    time.Duration
	heartbeat    time.Duration
	limits       registry.Limits
	manifestSize int64
	storage      server.Storage
	blobRedirect bool
	scan         scanSettings
	restoreTime  time.Duration
	prices       registry.Prices
}

func newCommon() *common {
	return &common{dataDir: "./wharf-data", accountID: "000000000000", region: "us-east-1", logFormat: "text",
		gcGrace: time.Hour, uploadTTL: 24 * time.Hour, cacheTTL: time.Second, blobRedirect: true, manifestSize: 4 << 20,
		limits: registry.Limits{RepositoriesPerRegistry: 100000, ImagesPerRepository: 100000, TagsPerImage: 1000, LayersPerImage: 10000}}
}

// commonFlags returns a command's flag set with the flags of every command on an installation: where its
// storage is (--config, --data-dir, --metadata, --blobs, --s3-…), its account, region and secret, and logging.
func commonFlags(name string) (*flag.FlagSet, *common) {
	fs, c := newFlagSet(name), newCommon()
	fs.String("config", "", "JSON config file of flag names and values")
	fs.StringVar(&c.dataDir, "data-dir", c.dataDir, "directory for metadata and blobs (with the embedded stores)")
	fs.StringVar(&c.storage.Metadata, "metadata", "", "PostgreSQL URL for the metadata, postgres://user:password@host:port/db (default: SQLite in the data directory)")
	fs.StringVar(&c.storage.Blobs, "blobs", "", "S3 bucket for the blobs, s3://bucket/prefix (default: files in the data directory)")
	fs.StringVar(&c.storage.S3Endpoint, "s3-endpoint", "", "endpoint of an S3-compatible service (MinIO, Ceph, versitygw …); default AWS S3")
	fs.StringVar(&c.storage.S3Region, "s3-region", "", "region of the bucket (default: AWS_REGION)")
	fs.BoolVar(&c.storage.S3ForcePathStyle, "s3-force-path-style", false, "address the bucket in the path (most S3-compatible services)")
	fs.StringVar(&c.accountID, "account-id", c.accountID, "12-digit id of the default account (its registry)")
	fs.StringVar(&c.region, "region", c.region, "the region this installation serves")
	fs.StringVar(&c.serverSecret, "server-secret", "", "base64 secret that seals access keys and signs tokens, shared by all nodes (default: <data-dir>/server.key)")
	fs.TextVar(&c.logLevel, "log-level", c.logLevel, "log `level`: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", c.logFormat, "log `format`: text or json")
	return fs, c
}

// registryFlags adds the flags of the registry's rules that only a server reads.
func (c *common) registryFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.blobRedirect, "blob-redirect", c.blobRedirect, "send registry clients to presigned S3 URLs for layer bytes (false: proxy them through Wharf)")
	fs.StringVar(&c.publicURL, "public-url", "", "`URL` where clients reach Wharf, http(s)://host[:port]: the base of repository URIs, proxyEndpoint and download URLs (default: the scheme and host each request was sent to); set it behind a load balancer or TLS proxy")
	fs.BoolVar(&c.createOnPush, "create-on-push", false, "create repositories on first push instead of refusing the push")
	fs.BoolVar(&c.upstreamHTTP, "pull-through-allow-http", false, "let pull through cache rules name upstream registries by plain http:// URLs (a trusted network only)")
	fs.DurationVar(&c.ptcRefresh, "pull-through-refresh", registry.DefaultPullThroughRefresh, "how often a tag pulled through a cache is checked against its upstream at most (ECR: 24h)")
	c.gcFlags(fs)
	fs.DurationVar(&c.cacheTTL, "manifest-cache-ttl", c.cacheTTL, "longest a cached manifest or tag list is served after another process changed it (negative: no cache)")
	fs.DurationVar(&c.keyCacheTTL, "key-cache-ttl", 5*time.Second, "longest an access key deleted or deactivated by another process keeps working (keys are cached this long)")
	fs.DurationVar(&c.policyTTL, "policy-cache-ttl", time.Second, "longest a change of policies, groups or resource tags made by another process takes to apply (they are cached this long)")
	fs.DurationVar(&c.heartbeat, "heartbeat-interval", 3*time.Second, "how often this node tells the others on the metadata store it is live, to share the throttle limits (the same on every node; a node is live for 10/3 of it)")
	c.repositoryLimitFlag(fs)
	fs.IntVar(&c.limits.ImagesPerRepository, "max-images", c.limits.ImagesPerRepository, "images per repository")
	fs.IntVar(&c.limits.TagsPerImage, "max-tags-per-image", c.limits.TagsPerImage, "tags per image")
	fs.IntVar(&c.limits.LayersPerImage, "max-layers", c.limits.LayersPerImage, "layers per image")
	fs.Int64Var(&c.manifestSize, "max-manifest-size", c.manifestSize, "largest manifest in bytes")
	c.scanFlags(fs)
	fs.DurationVar(&c.restoreTime, "restore-time", registry.DefaultRestoreTime, "how long the restore of an archived image takes (it is ACTIVATING, not pullable, until then)")
	c.priceFlags(fs)
}

// gcFlags adds the settings garbage collection reads.
func (c *common) gcFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.gcGrace, "gc-grace", c.gcGrace, "garbage collection spares blobs younger than this (0s: none; only when no push is running)")
	fs.DurationVar(&c.uploadTTL, "upload-ttl", c.uploadTTL, "idle upload sessions are dropped after this")
}

// repositoryLimitFlag adds the limit that creating a repository checks.
func (c *common) repositoryLimitFlag(fs *flag.FlagSet) {
	fs.IntVar(&c.limits.RepositoriesPerRegistry, "max-repositories", c.limits.RepositoriesPerRegistry, "repositories per registry")
}

func (c *common) logger() (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", c.logFormat)
}

func (c *common) registryConfig() registry.Config {
	l := c.limits
	l.ManifestSize = c.manifestSize
	grace := c.gcGrace
	if grace <= 0 {
		grace = time.Nanosecond // "0s": collect everything unused now (the core reads zero as its default)
	}
	cacheTTL := c.cacheTTL
	if cacheTTL == 0 {
		cacheTTL = -1 // 0 means no cache here; the core reads zero as its default
	}
	cfg := registry.Config{CreateOnPush: c.createOnPush, Limits: l, GCGrace: grace, UploadTTL: c.uploadTTL, ManifestCacheTTL: cacheTTL,
		BlobRedirect: c.blobRedirect, Upstreams: registry.UpstreamConfig{AllowHTTP: c.upstreamHTTP, Refresh: c.ptcRefresh}}
	c.scan.apply(&cfg)
	cfg.RestoreTime = c.restoreTime
	cfg.Prices = c.prices
	return cfg
}

// parseAndOpen parses a one-shot command's flags and its positional arguments, one for each name in
// argNames, and opens the installation's stores and core. It refuses to create an installation.
func (c *common) parseAndOpen(fs *flag.FlagSet, args []string, argNames ...string) ([]string, *server.App, error) {
	pos, err := parseArgs(fs, args, argNames...)
	if err != nil {
		return nil, nil, err
	}
	app, err := c.open()
	return pos, app, err
}

// open opens the stores and the core of an existing installation, for the one-shot commands.
func (c *common) open() (*server.App, error) {
	log, err := c.logger()
	if err != nil {
		return nil, err
	}
	st, err := c.stores(true)
	if err != nil {
		return nil, err
	}
	app, err := server.New(c.options(log), st)
	if err != nil {
		st.Close()
		return nil, err
	}
	return app, nil
}

// openStorage opens the stores, creating them where there are none: for serve.
func (c *common) openStorage() (*server.Stores, error) { return c.stores(false) }

// stores opens the stores; with mustExist, only those of an existing installation.
func (c *common) stores(mustExist bool) (*server.Stores, error) {
	st := c.storage
	st.DataDir, st.MustExist = c.dataDir, mustExist
	if st.Metadata != "" && c.serverSecret == "" {
		return nil, errors.New("with --metadata on PostgreSQL, set --server-secret (WHARF_SERVER_SECRET): every node must share it")
	}
	return server.OpenStorage(context.Background(), st)
}

func (c *common) options(log *slog.Logger) server.Options {
	o := server.Options{DataDir: c.dataDir, AccountID: c.accountID, Region: c.region, PublicURL: c.publicURL,
		ServerSecret: c.serverSecret, Registry: c.registryConfig(), KeyCacheTTL: c.keyCacheTTL, PolicyCacheTTL: c.policyTTL,
		HeartbeatInterval: c.heartbeat, Log: log}
	id, secret := os.Getenv("WHARF_ADMIN_ACCESS_KEY_ID"), os.Getenv("WHARF_ADMIN_SECRET_ACCESS_KEY")
	if id != "" && secret != "" {
		o.AdminCredentials = &identity.Credentials{AccessKeyID: id, SecretAccessKey: secret}
	}
	return o
}

// do runs one command through the pipeline, as the root of account: like every other call it is
// identified, authorized on its targets and audited.
func do(app *server.App, account, action string, targets []pipeline.Target, run func(ctx context.Context) error) error {
	return app.Do(context.Background(), account, pipeline.Op{
		Action:  action,
		Resolve: func(*pipeline.Call) ([]pipeline.Target, error) { return targets, nil },
		Run:     func(ctx context.Context, _ *pipeline.Call) error { return run(ctx) },
	})
}

// iamTarget is the target of an IAM action on an entity ("user/NAME", "group/NAME", "role/NAME").
func iamTarget(action, account, entity string) []pipeline.Target {
	return []pipeline.Target{{Action: action, Resource: "arn:aws:iam::" + account + ":" + entity}}
}

// serverSettings are the names of the server's flags: the settings a config file shared by every command
// may hold.
func serverSettings() []string {
	fs, _, _ := serveFlags()
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// serveSettings are serve's own flags.
type serveSettings struct {
	addr, tlsCert, tlsKey, pprofAddr, metricsAddr      string
	gcEvery, lifecycleEvery                            time.Duration
	maxBodyMemory                                      int64
	auditRetention, auditDeliveryEvery, eventRetention time.Duration
	auditDelivery, throttle, webhooks                  string
	trustedProxies                                     string
	scanDBSync, scanDBEcosystems                       string
	scanDBSyncEvery                                    time.Duration
	peers                                              peer.Endpoints
	peerRetry                                          registry.PeerConfig
}

func serveFlags() (*flag.FlagSet, *common, *serveSettings) {
	fs, c := commonFlags("serve")
	c.registryFlags(fs)
	s := &serveSettings{peers: peer.Endpoints{}}
	fs.StringVar(&s.addr, "addr", "127.0.0.1:5000", "address to listen on")
	fs.Var(s.peers, "replication-peer", "`REGION=URL` of the Wharf deployment serving another region, which images are replicated to (repeatable)")
	fs.Var(s.peers, "replication-peers", "replication peers, comma-separated REGION=URL (as --replication-peer)")
	fs.DurationVar(&s.peerRetry.RetryFor, "replication-retry-for", 24*time.Hour, "how long a replication to another region's deployment that cannot be reached is retried before it is FAILED")
	fs.DurationVar(&s.peerRetry.RetryBase, "replication-retry-base", 10*time.Second, "wait before the first retry of a replication; it doubles with each attempt")
	fs.DurationVar(&s.peerRetry.RetryMax, "replication-retry-max", 10*time.Minute, "longest wait between retries of a replication")
	fs.StringVar(&s.trustedProxies, "trusted-proxies", "", "networks (`CIDR[,CIDR…]`, or addresses) of the reverse proxies or load balancers in front: from them, the client's address is taken from X-Forwarded-For and https from X-Forwarded-Proto (default: none, the headers are ignored)")
	fs.StringVar(&s.tlsCert, "tls-cert", "", "TLS certificate file (PEM); plain HTTP when unset")
	fs.StringVar(&s.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.DurationVar(&s.gcEvery, "gc-interval", time.Hour, "how often garbage collection runs (0: never)")
	fs.DurationVar(&s.lifecycleEvery, "lifecycle-interval", time.Hour, "how often each repository's lifecycle policy is applied (0: never)")
	fs.StringVar(&s.pprofAddr, "pprof-addr", "", "serve Go's profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6060")
	fs.StringVar(&s.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at /metrics on this address, e.g. 127.0.0.1:9102 (default: not served; never on --addr)")
	fs.DurationVar(&s.auditRetention, "audit-retention", 90*24*time.Hour, "how long the audit trail keeps its records for LookupEvents")
	fs.StringVar(&s.auditDelivery, "audit-delivery", "", "deliver the audit trail as CloudTrail log files to this directory or s3://bucket/prefix (default: nowhere)")
	fs.DurationVar(&s.auditDeliveryEvery, "audit-delivery-interval", 5*time.Minute, "how often the audit trail's log files are delivered")
	fs.Int64Var(&s.maxBodyMemory, "max-body-memory", 64<<20, "bytes of ECR, IAM and STS request bodies held at once, across all requests (they are read whole before their signature is checked)")
	fs.StringVar(&s.throttle, "throttle", "", `rate limits as JSON, {"default"|ACCOUNT: {ACTION|"ecr:*"|"*": {"rate": N, "burst": N}}}; rate 0 lifts a limit (default: ECR's quotas)`)
	fs.StringVar(&s.webhooks, "webhooks", "", `webhook targets as JSON, [{"name": N, "url": U, "secret": S, "detailTypes": […], "actionTypes": […], "repositories": […]}] (see the README)`)
	fs.DurationVar(&s.eventRetention, "event-retention", 7*24*time.Hour, "how long the outbox keeps events after they happened")
	fs.StringVar(&s.scanDBSync, "scan-db-sync-url", "", "download the vulnerability database's advisories from URL/<ecosystem>/all.zip, e.g. "+download.OSVDevURL+" (default: no download; import with 'wharf scan-db import')")
	fs.StringVar(&s.scanDBEcosystems, "scan-db-sync-ecosystems", strings.Join(download.DefaultEcosystems, ","), "the ecosystems --scan-db-sync-url downloads, comma-separated")
	fs.DurationVar(&s.scanDBSyncEvery, "scan-db-sync-interval", 6*time.Hour, "how often --scan-db-sync-url is downloaded (an empty database at once)")
	return fs, c, s
}

func serve(args []string) error {
	fs, c, s := serveFlags()
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	proxies, err := server.ParseTrustedProxies(s.trustedProxies)
	if err != nil {
		return err
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	b := readBuildInfo()
	log.Info("wharf starting", "version", b.Version, "commit", b.Commit, "modified", b.Modified, "go", b.Go, "platform", b.Platform,
		"metadata", c.describeMetadata(), "blobs", c.describeBlobs())
	st, err := c.openStorage()
	if err != nil {
		return err
	}
	opts := c.options(log)
	opts.TrustedProxies = proxies
	opts.Addr, opts.TLSCert, opts.TLSKey, opts.GCInterval, opts.Bootstrap = s.addr, s.tlsCert, s.tlsKey, s.gcEvery, true
	opts.LifecycleInterval, opts.MaxBodyMemory, opts.MetricsAddr = s.lifecycleEvery, s.maxBodyMemory, s.metricsAddr
	opts.AuditRetention, opts.AuditDelivery, opts.AuditDeliveryInterval = s.auditRetention, s.auditDelivery, s.auditDeliveryEvery
	opts.AuditS3 = blobs3.Config{Endpoint: c.storage.S3Endpoint, Region: c.storage.S3Region, ForcePathStyle: c.storage.S3ForcePathStyle}
	if opts.Throttle, err = throttle.ParseLimits(s.throttle); err != nil {
		return err
	}
	if opts.Webhooks, err = webhooks.ParseTargets(s.webhooks); err != nil {
		return err
	}
	opts.Registry.Peers = s.peerRetry
	opts.Registry.Peers.Endpoints = s.peers
	opts.EventRetention = s.eventRetention
	opts.ScanDBSync = download.Source{URL: s.scanDBSync, Ecosystems: ecosystems(s.scanDBEcosystems)}
	opts.ScanDBSyncInterval = s.scanDBSyncEvery
	app, err := server.New(opts, st)
	if err != nil {
		st.Close()
		return err
	}
	switch {
	case app.NewAdmin != nil && opts.AdminCredentials != nil:
		// The operator chose this key: Wharf neither prints its secret nor writes it anywhere.
		fmt.Printf("Gave the admin of account %s the access key %s from WHARF_ADMIN_ACCESS_KEY_ID.\n", c.accountID, app.NewAdmin.AccessKeyID)
	case app.NewAdmin != nil:
		path, err := server.WriteAdminCredentials(c.dataDir, app.NewAdmin)
		if err != nil {
			return err
		}
		fmt.Printf("Created the admin of account %s. Its access key, shown once, is also in %s:\n  AWS_ACCESS_KEY_ID=%s\n  AWS_SECRET_ACCESS_KEY=%s\n",
			c.accountID, path, app.NewAdmin.AccessKeyID, app.NewAdmin.SecretAccessKey)
	}
	if s.pprofAddr != "" {
		go func() {
			log.Info("profiler listening", "addr", s.pprofAddr)
			log.Warn("profiler stopped", "err", http.ListenAndServe(s.pprofAddr, nil))
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runErr := app.Run(ctx, nil)
	err = errors.Join(runErr, app.Close())
	if err == nil {
		log.Info("wharf stopped")
	}
	return err
}

// describeMetadata tells where the metadata is, for the log: without a password.
func (c *common) describeMetadata() string {
	if c.storage.Metadata == "" {
		return "sqlite " + filepath.Join(c.dataDir, "wharf.db")
	}
	return "postgresql " + server.RedactURL(c.storage.Metadata)
}

// describeBlobs tells where the blobs are, for the log.
func (c *common) describeBlobs() string {
	if c.storage.Blobs == "" {
		return "filesystem " + c.dataDir
	}
	if c.storage.S3Endpoint != "" {
		return c.storage.Blobs + " at " + c.storage.S3Endpoint
	}
	return c.storage.Blobs
}

func repoCreate(args []string) error {
	fs, c := commonFlags("repo create")
	mutability := fs.String("image-tag-mutability", "MUTABLE", "MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION")
	exclusions := fs.String("image-tag-mutability-exclusion-filters", "", "the *_WITH_EXCLUSION settings' wildcard filters, comma-separated (latest,dev-*)")
	scan := fs.Bool("scan-on-push", false, "scan images on push")
	c.repositoryLimitFlag(fs)
	pos, app, err := c.parseAndOpen(fs, args, "NAME")
	if err != nil {
		return err
	}
	defer app.Close()
	acct, name := c.accountID, pos[0]
	var r *registry.Repository
	err = do(app, acct, "ecr:CreateRepository", []pipeline.Target{pipeline.Repository("ecr:CreateRepository", acct, name)}, func(ctx context.Context) (err error) {
		var filters []string
		if *exclusions != "" {
			filters = strings.Split(*exclusions, ",")
		}
		r, err = app.Service.CreateRepository(ctx, registry.Repository{RegistryID: acct, Name: name,
			TagMutability: strings.ToUpper(*mutability), TagMutabilityExclusions: filters, ScanOnPush: *scan})
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("created repository %s (registry %s, tags %s)\n", r.Name, r.RegistryID, r.TagMutability)
	return nil
}

func repoList(args []string) error {
	fs, c := commonFlags("repo list")
	_, app, err := c.parseAndOpen(fs, args)
	if err != nil {
		return err
	}
	defer app.Close()
	acct := c.accountID
	return do(app, acct, "ecr:DescribeRepositories", []pipeline.Target{pipeline.Repository("ecr:DescribeRepositories", acct, "")}, func(ctx context.Context) error {
		for after := ""; ; {
			names, more, err := app.Service.Catalog(ctx, acct, after, 1000)
			if err != nil {
				return err
			}
			for _, n := range names {
				fmt.Println(n)
			}
			if !more {
				return nil
			}
			after = names[len(names)-1]
		}
	})
}

func repoDelete(args []string) error {
	fs, c := commonFlags("repo delete")
	force := fs.Bool("force", false, "delete the repository's images too")
	pos, app, err := c.parseAndOpen(fs, args, "NAME")
	if err != nil {
		return err
	}
	defer app.Close()
	acct, name := c.accountID, pos[0]
	err = do(app, acct, "ecr:DeleteRepository", []pipeline.Target{pipeline.Repository("ecr:DeleteRepository", acct, name)}, func(ctx context.Context) error {
		_, err := app.Service.DeleteRepository(ctx, acct, name, *force)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("deleted repository %s\n", name)
	return nil
}

func gc(args []string) error {
	fs, c := commonFlags("gc")
	c.gcFlags(fs)
	_, app, err := c.parseAndOpen(fs, args)
	if err != nil {
		return err
	}
	defer app.Close()
	var st registry.GCStats
	collect := func() error {
		return do(app, c.accountID, "wharf:CollectGarbage", nil, func(ctx context.Context) (err error) {
			st, err = app.Service.CollectGarbage(ctx)
			return err
		})
	}
	err = collect()
	for wait := 0; errors.Is(err, registry.ErrGCBusy) && wait < 60; wait++ { // a server's pass is running
		time.Sleep(time.Second)
		err = collect()
	}
	if err != nil {
		return err
	}
	fmt.Printf("removed %d blobs (%d bytes), %d unused blob links, %d idle uploads\n",
		st.BlobsDeleted, st.BytesFreed, st.LinksRemoved, st.UploadsPurged)
	return nil
}

// migrateCmd runs the schema migrations of the metadata store (serve and every command also do, first).
func migrateCmd(args []string) error {
	fs, c := commonFlags("migrate")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	st, err := server.OpenStorage(context.Background(), server.Storage{DataDir: c.dataDir, Metadata: c.storage.Metadata})
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Printf("metadata schema is at version %d\n", sqlstore.SchemaVersion())
	return nil
}

// migrateStorage copies the embedded storage of --from-data-dir into the storage the flags name.
func migrateStorage(args []string) error {
	fs, c := commonFlags("migrate-storage")
	fromDir := fs.String("from-data-dir", "", "data directory of the installation to copy (its wharf.db and blobs)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := required(fs, "from-data-dir", *fromDir); err != nil {
		return err
	}
	if c.storage.Metadata == "" && c.storage.Blobs == "" {
		return usageError(fs, "missing --metadata or --blobs: the storage to copy into")
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := os.Stat(filepath.Join(*fromDir, "wharf.db")); err != nil {
		return fmt.Errorf("--from-data-dir: %w", err)
	}
	from, err := server.OpenStores(*fromDir)
	if err != nil {
		return err
	}
	defer from.Close()
	dest := c.storage
	dest.DataDir = c.dataDir
	to, err := server.OpenStorage(ctx, dest)
	if err != nil {
		return err
	}
	defer to.Close()
	rep, err := server.MigrateStorage(ctx, from, to, log)
	if err != nil {
		return err
	}
	total := 0
	for _, n := range rep.Rows {
		total += n
	}
	fmt.Printf("copied %d blobs (%d bytes, every digest verified) and %d metadata rows (%d repositories, %d images, %d tags)\n",
		rep.Blobs, rep.Bytes, total, rep.Rows["repositories"], rep.Rows["images"], rep.Rows["tags"])
	fmt.Printf("start the nodes with --server-secret set to the contents of %s (access keys are sealed with it)\n",
		filepath.Join(*fromDir, "server.key"))
	return nil
}

// lifecycleRun applies lifecycle policies on demand. It works while a server runs on the same storage: one
// process applies policies at a time, so it waits for a running pass.
func lifecycleRun(args []string) error {
	fs, c := commonFlags("lifecycle run")
	dryRun := fs.Bool("dry-run", false, "report what the policies expire without deleting anything")
	repository := fs.String("repository", "", "only this repository")
	_, app, err := c.parseAndOpen(fs, args)
	if err != nil {
		return err
	}
	defer app.Close()
	acct := c.accountID
	run := registry.LifecycleRun{RegistryID: acct, Repository: *repository, DryRun: *dryRun}
	var results []registry.LifecycleResult
	apply := func() error {
		return do(app, acct, "ecr:PolicyExecutionEvent", []pipeline.Target{pipeline.Repository("ecr:PolicyExecutionEvent", acct, *repository)}, func(ctx context.Context) (err error) {
			results, err = app.Service.RunLifecycle(ctx, run)
			return err
		})
	}
	err = apply()
	for wait := 0; errors.Is(err, registry.ErrLifecycleBusy) && wait < 60; wait++ {
		time.Sleep(time.Second)
		err = apply()
	}
	verb, total := "expired", 0
	if *dryRun {
		verb = "would expire"
	}
	for _, res := range results {
		for _, e := range res.Expired {
			fmt.Printf("%s\t%s\t%s\t%s\trule %d\n", verb, res.Repository, e.Digest, strings.Join(e.Tags, ","), e.Rule)
			total++
		}
		for _, e := range res.Transitioned {
			fmt.Printf("%s\t%s\t%s\t%s\trule %d\n", strings.Replace(verb, "expire", "archive", 1), res.Repository, e.Digest, strings.Join(e.Tags, ","), e.Rule)
		}
	}
	if err != nil {
		return err
	}
	fmt.Printf("%d images %s\n", total, verb)
	return nil
}

// lifecycleHistory lists the images lifecycle expired in a repository, newest first.
func lifecycleHistory(args []string) error {
	fs, c := commonFlags("lifecycle history")
	repository := fs.String("repository", "", "the repository (required)")
	limit := fs.Int("limit", 100, "at most this many events")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *repository == "" {
		return usageError(fs, "missing --repository")
	}
	app, err := c.open()
	if err != nil {
		return err
	}
	defer app.Close()
	acct := c.accountID
	var events []registry.LifecycleEvent
	err = do(app, acct, "ecr:GetLifecyclePolicy", []pipeline.Target{pipeline.Repository("ecr:GetLifecyclePolicy", acct, *repository)}, func(ctx context.Context) (err error) {
		events, err = app.Service.LifecycleHistory(ctx, acct, *repository, *limit)
		return err
	})
	if err != nil {
		return err
	}
	for _, e := range events {
		fmt.Printf("%s\t%s\t%s\trule %d\tpushed %s\n", e.At.Format(time.RFC3339), e.Digest, strings.Join(e.Tags, ","), e.Rule, e.PushedAt.Format(time.RFC3339))
	}
	return nil
}

// adminFlags returns the flag set of an admin command.
func adminFlags(sub string) (*flag.FlagSet, *common) { return commonFlags("admin " + sub) }

// onEntity opens the installation and runs fn as the root of the account (--account-id), authorized as
// action on one of its IAM entities ("user/ci", "group/devs"): what the admin commands that act on one
// user, group or role do.
func (c *common) onEntity(action, entity string, fn func(ctx context.Context, app *server.App, acct string) error) error {
	app, err := c.open()
	if err != nil {
		return err
	}
	defer app.Close()
	acct := c.accountID
	return do(app, acct, action, iamTarget(action, acct, entity), func(ctx context.Context) error { return fn(ctx, app, acct) })
}

func printCredentials(creds *identity.Credentials) error {
	return json.NewEncoder(os.Stdout).Encode(map[string]string{"AccessKeyId": creds.AccessKeyID, "SecretAccessKey": creds.SecretAccessKey})
}

func adminCreateAccount(args []string) error {
	fs, c := adminFlags("create-account")
	_, app, err := c.parseAndOpen(fs, args)
	if err != nil {
		return err
	}
	defer app.Close()
	var creds *identity.Credentials
	if err := do(app, c.accountID, "wharf:CreateAccount", nil, func(ctx context.Context) (err error) {
		creds, err = app.Identity.CreateAccount(ctx, c.accountID)
		return err
	}); err != nil {
		return err
	}
	return printCredentials(creds)
}

func adminCreateUser(args []string) error {
	fs, c := adminFlags("create-user")
	pos, err := parseArgs(fs, args, "NAME")
	if err != nil {
		return err
	}
	var u *identity.User
	if err := c.onEntity("iam:CreateUser", "user/"+pos[0], func(ctx context.Context, app *server.App, acct string) (err error) {
		u, err = app.Identity.CreateUser(ctx, acct, pos[0])
		return err
	}); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]string{"UserName": u.Name, "UserId": u.UserID, "Arn": "arn:aws:iam::" + u.AccountID + ":user/" + u.Name})
}

func adminCreateAccessKey(args []string) error {
	fs, c := adminFlags("create-access-key")
	pos, err := parseArgs(fs, args, "USER")
	if err != nil {
		return err
	}
	var creds *identity.Credentials
	if err := c.onEntity("iam:CreateAccessKey", "user/"+pos[0], func(ctx context.Context, app *server.App, acct string) (err error) {
		creds, err = app.Identity.CreateAccessKey(ctx, acct, pos[0])
		return err
	}); err != nil {
		return err
	}
	return printCredentials(creds)
}

func adminDeleteAccessKey(args []string) error {
	fs, c := adminFlags("delete-access-key")
	pos, app, err := c.parseAndOpen(fs, args, "KEY-ID")
	if err != nil {
		return err
	}
	defer app.Close()
	key := pos[0]
	owner, user, err := app.Identity.KeyOwner(context.Background(), key) // acts in the key's own account
	if err != nil {
		return err
	}
	return do(app, owner, "iam:DeleteAccessKey", iamTarget("iam:DeleteAccessKey", owner, "user/"+user), func(ctx context.Context) error {
		return app.Identity.DeleteAccessKey(ctx, key)
	})
}

// adminAttachPolicy attaches a managed policy to a user, a group or a role (kind).
func adminAttachPolicy(kind string) func([]string) error {
	return func(args []string) error {
		fs, c := adminFlags("attach-" + kind + "-policy")
		policyARN := fs.String("policy-arn", "", "ARN of the managed policy (required)")
		pos, err := parseArgs(fs, args, "NAME")
		if err != nil {
			return err
		}
		if err := required(fs, "policy-arn", *policyARN); err != nil {
			return err
		}
		name := pos[0]
		return c.onEntity(policyAction("Attach", kind), kind+"/"+name, func(ctx context.Context, app *server.App, acct string) error {
			if kind == "user" {
				return app.Identity.AttachUserPolicy(ctx, acct, name, *policyARN)
			}
			return app.Identity.AttachOwnerPolicy(ctx, acct, kind, name, *policyARN)
		})
	}
}

// adminPutPolicy sets an inline policy of a user, a group or a role (kind).
func adminPutPolicy(kind string) func([]string) error {
	return func(args []string) error {
		fs, c := adminFlags("put-" + kind + "-policy")
		policyName := fs.String("policy-name", "", "name of the inline policy (required)")
		policyDoc := fs.String("policy-document", "", "the policy as JSON, or file://PATH (required)")
		pos, err := parseArgs(fs, args, "NAME")
		if err != nil {
			return err
		}
		if err := required(fs, "policy-name", *policyName, "policy-document", *policyDoc); err != nil {
			return err
		}
		doc, err := readDocument(*policyDoc)
		if err != nil {
			return err
		}
		name := pos[0]
		return c.onEntity(policyAction("Put", kind), kind+"/"+name, func(ctx context.Context, app *server.App, acct string) error {
			if kind == "user" {
				return app.Identity.PutUserPolicy(ctx, acct, name, *policyName, doc)
			}
			return app.Identity.PutOwnerPolicy(ctx, acct, kind, name, *policyName, doc)
		})
	}
}

func adminCreateGroup(args []string) error {
	fs, c := adminFlags("create-group")
	pos, err := parseArgs(fs, args, "NAME")
	if err != nil {
		return err
	}
	return c.onEntity("iam:CreateGroup", "group/"+pos[0], func(ctx context.Context, app *server.App, acct string) error {
		_, err := app.Identity.CreateGroup(ctx, acct, pos[0])
		return err
	})
}

// adminGroupMembership adds a user to a group, or removes it (add false).
func adminGroupMembership(add bool) func([]string) error {
	sub, action := "remove-user-from-group", "iam:RemoveUserFromGroup"
	if add {
		sub, action = "add-user-to-group", "iam:AddUserToGroup"
	}
	return func(args []string) error {
		fs, c := adminFlags(sub)
		group := fs.String("group", "", "the group (required)")
		pos, err := parseArgs(fs, args, "USER")
		if err != nil {
			return err
		}
		if err := required(fs, "group", *group); err != nil {
			return err
		}
		user := pos[0]
		return c.onEntity(action, "group/"+*group, func(ctx context.Context, app *server.App, acct string) error {
			if add {
				return app.Identity.AddUserToGroup(ctx, acct, *group, user)
			}
			return app.Identity.RemoveUserFromGroup(ctx, acct, *group, user)
		})
	}
}

func adminCreateRole(args []string) error {
	fs, c := adminFlags("create-role")
	policyDoc := fs.String("policy-document", "", "the trust policy as JSON, or file://PATH (required)")
	pos, err := parseArgs(fs, args, "NAME")
	if err != nil {
		return err
	}
	if err := required(fs, "policy-document", *policyDoc); err != nil {
		return err
	}
	doc, err := readDocument(*policyDoc)
	if err != nil {
		return err
	}
	var r *identity.Role
	if err := c.onEntity("iam:CreateRole", "role/"+pos[0], func(ctx context.Context, app *server.App, acct string) (err error) {
		r, err = app.Identity.CreateRole(ctx, acct, pos[0], doc, 0)
		return err
	}); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]string{"RoleName": r.Name, "RoleId": r.RoleID, "Arn": "arn:aws:iam::" + r.AccountID + ":role/" + r.Name})
}

func adminDeleteUser(args []string) error {
	fs, c := adminFlags("delete-user")
	pos, err := parseArgs(fs, args, "NAME")
	if err != nil {
		return err
	}
	return c.onEntity("iam:DeleteUser", "user/"+pos[0], func(ctx context.Context, app *server.App, acct string) error {
		return app.Identity.DeleteUser(ctx, acct, pos[0])
	})
}

// policyAction is the IAM action that attaches or puts (verb) a policy of a user, a group or a role
// (kind): iam:AttachGroupPolicy, iam:PutRolePolicy.
func policyAction(verb, kind string) string {
	return "iam:" + verb + strings.ToUpper(kind[:1]) + kind[1:] + "Policy"
}

// readDocument returns a policy given inline or as file://PATH.
func readDocument(arg string) (string, error) {
	if path, ok := strings.CutPrefix(arg, "file://"); ok {
		data, err := os.ReadFile(path)
		return string(data), err
	}
	return arg, nil
}
