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

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/store/sqlstore"
)

const usage = `usage: wharf <command> [flags]

commands:
  serve                 run the registry
  repo create NAME      create a repository
  repo list             list repositories
  repo delete NAME      delete a repository (--force deletes its images too)
  gc                    reclaim the storage of deleted images now
  migrate               bring the metadata schema up to date (serve does it too)
  migrate-storage --from-data-dir DIR --metadata postgres://… --blobs s3://…   copy a single-node installation
  backup --to DIR|s3://bucket/prefix               back up the installation while it runs (SQLite metadata)
  restore --from DIR|s3://bucket/prefix            restore a backup into an empty --data-dir
  healthcheck [--url URL]                          exit 0 if the server answers /healthz with 200, else 1
  lifecycle run [--dry-run] [--repository NAME]   apply lifecycle policies now (--dry-run: only report)
  lifecycle history --repository NAME [--limit N] list the images lifecycle expired, newest first
  admin create-account --account-id ID      create an account; prints its admin key as JSON
  admin create-user --account-id ID NAME    create an IAM user
  admin create-access-key --account-id ID NAME   create an access key for a user; prints it as JSON
  admin delete-access-key KEY-ID            delete an access key
  admin attach-user-policy --account-id ID --policy-arn ARN NAME   attach an AWS managed policy
  admin put-user-policy --account-id ID --policy-name P --policy-document FILE|JSON NAME   set an inline policy
  admin create-group --account-id ID NAME; admin add-user-to-group|remove-user-from-group --account-id ID --group G USER
  admin create-role --account-id ID --policy-document TRUST NAME
  admin attach-group-policy|attach-role-policy --account-id ID --policy-arn ARN NAME
  admin put-group-policy|put-role-policy --account-id ID --policy-name P --policy-document FILE|JSON NAME
  admin delete-user --account-id ID NAME    delete a user that has no keys, policies or groups left

Every flag can also be set as WHARF_<FLAG> in the environment (--data-dir as WHARF_DATA_DIR) or in a JSON
config file (--config); flags win over the environment, which wins over the file.
Run 'wharf <command> -h' for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(args)
	case "repo":
		err = repo(args)
	case "gc":
		err = gc(args)
	case "lifecycle":
		err = lifecycleCmd(args)
	case "migrate":
		err = migrateCmd(args)
	case "migrate-storage":
		err = migrateStorage(args)
	case "admin":
		err = admin(args)
	case "backup":
		err = backupCmd(args)
	case "restore":
		err = restoreCmd(args)
	case "healthcheck":
		err = healthcheck(args)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "wharf: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wharf:", err)
		os.Exit(1)
	}
}

// common holds the flags every command shares: where the data is and what the registry's rules are.
type common struct {
	dataDir      string
	accountID    string
	region       string
	hostname     string
	serverSecret string
	createOnPush bool
	logLevel     string
	gcGrace      time.Duration
	uploadTTL    time.Duration
	cacheTTL     time.Duration
	limits       registry.Limits
	manifestSize int64
	storage      server.Storage
	blobRedirect bool
}

func commonFlags(name string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet("wharf "+name, flag.ContinueOnError)
	c := &common{}
	fs.String("config", "", "JSON config file of flag names and values")
	fs.StringVar(&c.dataDir, "data-dir", "./wharf-data", "directory for metadata and blobs (with the embedded stores)")
	fs.StringVar(&c.storage.Metadata, "metadata", "", "PostgreSQL URL for the metadata, postgres://user:password@host:port/db (default: SQLite in the data directory)")
	fs.StringVar(&c.storage.Blobs, "blobs", "", "S3 bucket for the blobs, s3://bucket/prefix (default: files in the data directory)")
	fs.StringVar(&c.storage.S3Endpoint, "s3-endpoint", "", "endpoint of an S3-compatible service (MinIO, Ceph, versitygw …); default AWS S3")
	fs.StringVar(&c.storage.S3Region, "s3-region", "", "region of the bucket (default: AWS_REGION)")
	fs.BoolVar(&c.storage.S3ForcePathStyle, "s3-force-path-style", false, "address the bucket in the path (most S3-compatible services)")
	fs.BoolVar(&c.blobRedirect, "blob-redirect", true, "send registry clients to presigned S3 URLs for layer bytes (false: proxy them through Wharf)")
	fs.StringVar(&c.accountID, "account-id", "000000000000", "12-digit id of the default account (its registry)")
	fs.StringVar(&c.region, "region", "us-east-1", "the region this installation serves")
	fs.StringVar(&c.hostname, "hostname", "", "registry host in repository URIs and proxyEndpoint (default: the listen address)")
	fs.StringVar(&c.serverSecret, "server-secret", "", "base64 secret that seals access keys and signs tokens, shared by all nodes (default: <data-dir>/server.key)")
	fs.BoolVar(&c.createOnPush, "create-on-push", false, "create repositories on first push instead of refusing the push")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.gcGrace, "gc-grace", time.Hour, "garbage collection spares blobs younger than this (0s: none; only when no push is running)")
	fs.DurationVar(&c.uploadTTL, "upload-ttl", 24*time.Hour, "idle upload sessions are dropped after this")
	fs.DurationVar(&c.cacheTTL, "manifest-cache-ttl", time.Second, "longest a cached manifest or tag list is served after another process changed it (negative: no cache)")
	fs.IntVar(&c.limits.RepositoriesPerRegistry, "max-repositories", 1000, "repositories per registry")
	fs.IntVar(&c.limits.ImagesPerRepository, "max-images", 1000, "images per repository")
	fs.IntVar(&c.limits.TagsPerImage, "max-tags-per-image", 100, "tags per image")
	fs.IntVar(&c.limits.LayersPerImage, "max-layers", 127, "layers per image")
	fs.Int64Var(&c.manifestSize, "max-manifest-size", 4<<20, "largest manifest in bytes")
	return fs, c
}

func (c *common) logger() (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv})), nil
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
	return registry.Config{CreateOnPush: c.createOnPush, Limits: l, GCGrace: grace, UploadTTL: c.uploadTTL, ManifestCacheTTL: cacheTTL,
		BlobRedirect: c.blobRedirect}
}

// parseAndOpen parses a one-shot command's flags and opens the stores and the core; it returns the
// positional arguments.
func (c *common) parseAndOpen(fs *flag.FlagSet, args []string) ([]string, *server.App, error) {
	pos, err := config.Parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	app, err := c.open()
	return pos, app, err
}

// open opens the stores and the core for the one-shot commands.
func (c *common) open() (*server.App, error) {
	log, err := c.logger()
	if err != nil {
		return nil, err
	}
	st, err := c.openStorage()
	if err != nil {
		return nil, err
	}
	app, err := server.New(c.options(log), st)
	if err != nil {
		st.Meta.Close()
		return nil, err
	}
	return app, nil
}

func (c *common) openStorage() (*server.Stores, error) {
	st := c.storage
	st.DataDir = c.dataDir
	if st.Metadata != "" && c.serverSecret == "" {
		return nil, errors.New("with --metadata on PostgreSQL, set --server-secret (WHARF_SERVER_SECRET): every node must share it")
	}
	return server.OpenStorage(context.Background(), st)
}

func (c *common) options(log *slog.Logger) server.Options {
	o := server.Options{DataDir: c.dataDir, AccountID: c.accountID, Region: c.region, Hostname: c.hostname,
		ServerSecret: c.serverSecret, Registry: c.registryConfig(), Log: log}
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

func serve(args []string) error {
	fs, c := commonFlags("serve")
	addr := fs.String("addr", "127.0.0.1:5000", "address to listen on")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (PEM); plain HTTP when unset")
	tlsKey := fs.String("tls-key", "", "TLS private key file (PEM)")
	gcEvery := fs.Duration("gc-interval", time.Hour, "how often garbage collection runs (0: never)")
	lifecycleEvery := fs.Duration("lifecycle-interval", time.Hour, "how often each repository's lifecycle policy is applied (0: never)")
	pprofAddr := fs.String("pprof-addr", "", "serve Go's profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6060")
	maxBodyMemory := fs.Int64("max-body-memory", 64<<20, "bytes of ECR, IAM and STS request bodies held at once, across all requests (they are read whole before their signature is checked)")
	if _, err := config.Parse(fs, args); err != nil {
		return err
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	st, err := c.openStorage()
	if err != nil {
		return err
	}
	opts := c.options(log)
	opts.Addr, opts.TLSCert, opts.TLSKey, opts.GCInterval, opts.Bootstrap = *addr, *tlsCert, *tlsKey, *gcEvery, true
	opts.LifecycleInterval, opts.MaxBodyMemory = *lifecycleEvery, *maxBodyMemory
	app, err := server.New(opts, st)
	if err != nil {
		st.Meta.Close()
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
	if *pprofAddr != "" {
		go func() {
			log.Info("profiler listening", "addr", *pprofAddr)
			log.Warn("profiler stopped", "err", http.ListenAndServe(*pprofAddr, nil))
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runErr := app.Run(ctx, nil)
	return errors.Join(runErr, app.Close())
}

func repo(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: wharf repo create|list|delete [flags] [NAME]")
	}
	sub := args[0]
	fs, c := commonFlags("repo " + sub)
	mutability := fs.String("image-tag-mutability", "MUTABLE", "MUTABLE or IMMUTABLE (create)")
	scan := fs.Bool("scan-on-push", false, "scan images on push (create)")
	force := fs.Bool("force", false, "delete the repository's images too (delete)")
	pos, app, err := c.parseAndOpen(fs, args[1:])
	if err != nil {
		return err
	}
	defer app.Close()
	acct := c.accountID
	switch sub {
	case "create":
		if len(pos) != 1 {
			return errors.New("usage: wharf repo create [flags] NAME")
		}
		var r *registry.Repository
		err := do(app, acct, "ecr:CreateRepository", []pipeline.Target{pipeline.Repository("ecr:CreateRepository", acct, pos[0])}, func(ctx context.Context) (err error) {
			r, err = app.Service.CreateRepository(ctx, registry.Repository{RegistryID: acct, Name: pos[0],
				TagMutability: strings.ToUpper(*mutability), ScanOnPush: *scan})
			return err
		})
		if err != nil {
			return err
		}
		fmt.Printf("created repository %s (registry %s, tags %s)\n", r.Name, r.RegistryID, r.TagMutability)
	case "list":
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
	case "delete":
		if len(pos) != 1 {
			return errors.New("usage: wharf repo delete [--force] NAME")
		}
		err := do(app, acct, "ecr:DeleteRepository", []pipeline.Target{pipeline.Repository("ecr:DeleteRepository", acct, pos[0])}, func(ctx context.Context) error {
			_, err := app.Service.DeleteRepository(ctx, acct, pos[0], *force)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Printf("deleted repository %s\n", pos[0])
	default:
		return fmt.Errorf("unknown repo command %q (create, list, delete)", sub)
	}
	return nil
}

func gc(args []string) error {
	fs, c := commonFlags("gc")
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
	if _, err := config.Parse(fs, args); err != nil {
		return err
	}
	st, err := server.OpenStorage(context.Background(), server.Storage{DataDir: c.dataDir, Metadata: c.storage.Metadata})
	if err != nil {
		return err
	}
	defer st.Meta.Close()
	fmt.Printf("metadata schema is at version %d\n", sqlstore.SchemaVersion())
	return nil
}

// migrateStorage copies the embedded storage of --from-data-dir into the storage the flags name.
func migrateStorage(args []string) error {
	fs, c := commonFlags("migrate-storage")
	fromDir := fs.String("from-data-dir", "", "data directory of the installation to copy (its wharf.db and blobs)")
	if _, err := config.Parse(fs, args); err != nil {
		return err
	}
	if *fromDir == "" || (c.storage.Metadata == "" && c.storage.Blobs == "") {
		return errors.New("usage: wharf migrate-storage --from-data-dir DIR --metadata postgres://… --blobs s3://bucket/prefix [--s3-endpoint URL]")
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
	defer from.Meta.Close()
	dest := c.storage
	dest.DataDir = c.dataDir
	to, err := server.OpenStorage(ctx, dest)
	if err != nil {
		return err
	}
	defer to.Meta.Close()
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

// lifecycleCmd applies lifecycle policies on demand or shows what they expired. It works while a server
// runs on the same storage: one process applies policies at a time, so it waits for a running pass.
func lifecycleCmd(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: wharf lifecycle run|history [flags]")
	}
	sub := args[0]
	fs, c := commonFlags("lifecycle " + sub)
	dryRun := fs.Bool("dry-run", false, "report what the policies expire without deleting anything (run)")
	repository := fs.String("repository", "", "only this repository (run); the repository (history)")
	limit := fs.Int("limit", 100, "at most this many events (history)")
	_, app, err := c.parseAndOpen(fs, args[1:])
	if err != nil {
		return err
	}
	defer app.Close()
	acct := c.accountID
	switch sub {
	case "run":
		run := registry.LifecycleRun{RegistryID: acct, Repository: *repository, DryRun: *dryRun}
		var results []registry.LifecycleResult
		apply := func() error {
			return do(app, acct, "ecr:PolicyExecutionEvent", []pipeline.Target{pipeline.Repository("ecr:PolicyExecutionEvent", acct, *repository)}, func(ctx context.Context) (err error) {
				results, err = app.Service.RunLifecycle(ctx, run)
				return err
			})
		}
		err := apply()
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
		}
		if err != nil {
			return err
		}
		fmt.Printf("%d images %s\n", total, verb)
	case "history":
		if *repository == "" {
			return errors.New("usage: wharf lifecycle history --repository NAME [--limit N]")
		}
		var events []registry.LifecycleEvent
		err := do(app, acct, "ecr:GetLifecyclePolicy", []pipeline.Target{pipeline.Repository("ecr:GetLifecyclePolicy", acct, *repository)}, func(ctx context.Context) (err error) {
			events, err = app.Service.LifecycleHistory(ctx, acct, *repository, *limit)
			return err
		})
		if err != nil {
			return err
		}
		for _, e := range events {
			fmt.Printf("%s\t%s\t%s\trule %d\tpushed %s\n", e.At.Format(time.RFC3339), e.Digest, strings.Join(e.Tags, ","), e.Rule, e.PushedAt.Format(time.RFC3339))
		}
	default:
		return fmt.Errorf("unknown lifecycle command %q (run, history)", sub)
	}
	return nil
}

func admin(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: wharf admin COMMAND [flags] [NAME]; 'wharf help' lists the commands")
	}
	sub := args[0]
	fs, c := commonFlags("admin " + sub)
	policyARN := fs.String("policy-arn", "", "managed policy ARN (attach-user-policy, attach-group-policy, attach-role-policy)")
	policyName := fs.String("policy-name", "", "inline policy name (put-user-policy, put-group-policy, put-role-policy)")
	policyDoc := fs.String("policy-document", "", "policy JSON, or file://PATH (put-user-policy; create-role: the trust policy)")
	group := fs.String("group", "", "group name (add-user-to-group, remove-user-from-group)")
	pos, app, err := c.parseAndOpen(fs, args[1:])
	if err != nil {
		return err
	}
	defer app.Close()
	acct := c.accountID
	printJSON := func(creds *identity.Credentials) error {
		return json.NewEncoder(os.Stdout).Encode(map[string]string{"AccessKeyId": creds.AccessKeyID, "SecretAccessKey": creds.SecretAccessKey})
	}
	one := func(usage string) (string, error) {
		if len(pos) != 1 {
			return "", errors.New("usage: wharf admin " + usage)
		}
		return pos[0], nil
	}
	switch sub {
	case "create-account":
		var creds *identity.Credentials
		err := do(app, acct, "wharf:CreateAccount", nil, func(ctx context.Context) (err error) {
			creds, err = app.Identity.CreateAccount(ctx, acct)
			return err
		})
		if err != nil {
			return err
		}
		return printJSON(creds)
	case "create-user":
		name, err := one("create-user --account-id ID NAME")
		if err != nil {
			return err
		}
		var u *identity.User
		if err := do(app, acct, "iam:CreateUser", iamTarget("iam:CreateUser", acct, "user/"+name), func(ctx context.Context) (err error) {
			u, err = app.Identity.CreateUser(ctx, acct, name)
			return err
		}); err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(map[string]string{"UserName": u.Name, "UserId": u.UserID, "Arn": "arn:aws:iam::" + u.AccountID + ":user/" + u.Name})
	case "create-access-key":
		name, err := one("create-access-key --account-id ID USER")
		if err != nil {
			return err
		}
		var creds *identity.Credentials
		if err := do(app, acct, "iam:CreateAccessKey", iamTarget("iam:CreateAccessKey", acct, "user/"+name), func(ctx context.Context) (err error) {
			creds, err = app.Identity.CreateAccessKey(ctx, acct, name)
			return err
		}); err != nil {
			return err
		}
		return printJSON(creds)
	case "delete-access-key":
		key, err := one("delete-access-key KEY-ID")
		if err != nil {
			return err
		}
		owner, user, err := app.Identity.KeyOwner(context.Background(), key) // acts in the key's own account
		if err != nil {
			return err
		}
		return do(app, owner, "iam:DeleteAccessKey", iamTarget("iam:DeleteAccessKey", owner, "user/"+user), func(ctx context.Context) error {
			return app.Identity.DeleteAccessKey(ctx, key)
		})
	case "attach-user-policy", "attach-group-policy", "attach-role-policy":
		name, err := one(sub + " --account-id ID --policy-arn ARN NAME")
		if err != nil || *policyARN == "" {
			return errors.New("usage: wharf admin " + sub + " --account-id ID --policy-arn ARN NAME")
		}
		kind, action := ownerKind(sub)
		return do(app, acct, action, iamTarget(action, acct, kind+"/"+name), func(ctx context.Context) error {
			if kind == "user" {
				return app.Identity.AttachUserPolicy(ctx, acct, name, *policyARN)
			}
			return app.Identity.AttachOwnerPolicy(ctx, acct, kind, name, *policyARN)
		})
	case "put-user-policy", "put-group-policy", "put-role-policy":
		name, err := one(sub + " --account-id ID --policy-name NAME --policy-document JSON|file://PATH NAME")
		if err != nil || *policyName == "" || *policyDoc == "" {
			return errors.New("usage: wharf admin " + sub + " --account-id ID --policy-name NAME --policy-document JSON|file://PATH NAME")
		}
		doc, err := readDocument(*policyDoc)
		if err != nil {
			return err
		}
		kind, action := ownerKind(sub)
		return do(app, acct, action, iamTarget(action, acct, kind+"/"+name), func(ctx context.Context) error {
			if kind == "user" {
				return app.Identity.PutUserPolicy(ctx, acct, name, *policyName, doc)
			}
			return app.Identity.PutOwnerPolicy(ctx, acct, kind, name, *policyName, doc)
		})
	case "create-group":
		name, err := one("create-group --account-id ID NAME")
		if err != nil {
			return err
		}
		return do(app, acct, "iam:CreateGroup", iamTarget("iam:CreateGroup", acct, "group/"+name), func(ctx context.Context) error {
			_, err := app.Identity.CreateGroup(ctx, acct, name)
			return err
		})
	case "add-user-to-group":
		name, err := one("add-user-to-group --account-id ID --group GROUP USER")
		if err != nil || *group == "" {
			return errors.New("usage: wharf admin add-user-to-group --account-id ID --group GROUP USER")
		}
		return do(app, acct, "iam:AddUserToGroup", iamTarget("iam:AddUserToGroup", acct, "group/"+*group), func(ctx context.Context) error {
			return app.Identity.AddUserToGroup(ctx, acct, *group, name)
		})
	case "remove-user-from-group":
		name, err := one("remove-user-from-group --account-id ID --group GROUP USER")
		if err != nil || *group == "" {
			return errors.New("usage: wharf admin remove-user-from-group --account-id ID --group GROUP USER")
		}
		return do(app, acct, "iam:RemoveUserFromGroup", iamTarget("iam:RemoveUserFromGroup", acct, "group/"+*group), func(ctx context.Context) error {
			return app.Identity.RemoveUserFromGroup(ctx, acct, *group, name)
		})
	case "create-role":
		name, err := one("create-role --account-id ID --policy-document TRUST-POLICY NAME")
		if err != nil || *policyDoc == "" {
			return errors.New("usage: wharf admin create-role --account-id ID --policy-document TRUST-POLICY NAME")
		}
		doc, err := readDocument(*policyDoc)
		if err != nil {
			return err
		}
		var r *identity.Role
		if err := do(app, acct, "iam:CreateRole", iamTarget("iam:CreateRole", acct, "role/"+name), func(ctx context.Context) (err error) {
			r, err = app.Identity.CreateRole(ctx, acct, name, doc, 0)
			return err
		}); err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(map[string]string{"RoleName": r.Name, "RoleId": r.RoleID, "Arn": "arn:aws:iam::" + r.AccountID + ":role/" + r.Name})
	case "delete-user":
		name, err := one("delete-user --account-id ID NAME")
		if err != nil {
			return err
		}
		return do(app, acct, "iam:DeleteUser", iamTarget("iam:DeleteUser", acct, "user/"+name), func(ctx context.Context) error {
			return app.Identity.DeleteUser(ctx, acct, name)
		})
	}
	return fmt.Errorf("unknown admin command %q", sub)
}

// ownerKind tells which kind of entity an attach-…-policy or put-…-policy command names, and its IAM action.
func ownerKind(sub string) (kind, action string) {
	verb, rest, _ := strings.Cut(sub, "-")
	kind, _, _ = strings.Cut(rest, "-")
	action = "iam:" + strings.ToUpper(verb[:1]) + verb[1:] + strings.ToUpper(kind[:1]) + kind[1:] + "Policy"
	return kind, action
}

// readDocument returns a policy given inline or as file://PATH.
func readDocument(arg string) (string, error) {
	if path, ok := strings.CutPrefix(arg, "file://"); ok {
		data, err := os.ReadFile(path)
		return string(data), err
	}
	return arg, nil
}
