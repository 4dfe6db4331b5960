// Package server assembles Wharf: it opens the stores, builds the core and the pipeline, and serves the
// protocol adapters, /healthz and /metrics on one listener.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wharf-dev/wharf/internal/blob"
	blobfs "github.com/wharf-dev/wharf/internal/blob/fs"
	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

// Options are the settings of a Wharf instance.
type Options struct {
	Addr       string
	DataDir    string
	AccountID  string // the default registry
	TLSCert    string
	TLSKey     string
	Registry   registry.Config
	GCInterval time.Duration // 0 disables the periodic collection
	Clock      clock.Clock
	Log        *slog.Logger
}

// Stores are the two storage back ends.
type Stores struct {
	Meta  store.Store
	Blobs blob.Store
}

// OpenStores opens the embedded stores in a data directory: SQLite metadata and filesystem blobs.
func OpenStores(dataDir string) (*Stores, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	meta, err := sqlite.Open(filepath.Join(dataDir, "wharf.db"))
	if err != nil {
		return nil, err
	}
	blobs, err := blobfs.New(dataDir)
	if err != nil {
		meta.Close()
		return nil, err
	}
	return &Stores{Meta: meta, Blobs: blobs}, nil
}

// App is a running Wharf.
type App struct {
	opts    Options
	stores  *Stores
	Service *registry.Service
	Handler http.Handler
	log     *slog.Logger
}

// New builds an App over open stores.
func New(opts Options, st *Stores) *App {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.AccountID == "" {
		opts.AccountID = "000000000000"
	}
	svc := registry.New(st.Meta, st.Blobs, opts.Clock, opts.Registry, opts.Log)
	m := newMetrics()
	pipe := &pipeline.Pipeline{
		// Identify, Throttle and Authorize are added by the authentication and IAM work; until then
		// every caller is anonymous and may do everything.
		Audit: []pipeline.Auditor{m, pipeline.LogAuditor{Log: opts.Log}},
		Clock: opts.Clock,
	}
	account := opts.AccountID
	ociHandler := &oci.Handler{
		Service:     svc,
		Pipeline:    pipe,
		RegistryFor: func(*http.Request) string { return account },
		Challenge:   `Basic realm="wharf"`,
		Log:         opts.Log,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := st.Meta.View(r.Context(), func(tx store.Tx) error { _, err := tx.CountRepositories(account); return err }); err != nil {
			http.Error(w, "metadata store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	// /v2 paths go straight to the registry API, which validates names itself, so hostile paths get an
	// answer in the OCI error format instead of the mux's cleaning redirects.
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "/v2" || strings.HasPrefix(p, "/v2/") {
			ociHandler.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	return &App{opts: opts, stores: st, Service: svc, Handler: m.instrument(root), log: opts.Log}
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
	a.log.Info("wharf serving", "addr", ln.Addr().String(), "scheme", scheme, "data_dir", a.opts.DataDir)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	gcDone := make(chan struct{})
	gcCtx, stopGC := context.WithCancel(ctx)
	go func() {
		defer close(gcDone)
		a.collectPeriodically(gcCtx)
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
	}
	stopGC()
	<-gcDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

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

func (a *App) collectPeriodically(ctx context.Context) {
	if a.opts.GCInterval <= 0 {
		return
	}
	t := time.NewTicker(a.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := a.Service.CollectGarbage(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("garbage collection failed", "err", err)
			}
		}
	}
}

// Close flushes the core and closes the stores.
func (a *App) Close() error {
	return errors.Join(a.Service.Close(), a.stores.Meta.Close())
}
