// Package jobs runs Wharf's durable background work: jobs kept in the metadata store, each run by one node at
// a time under a lease it renews, retried with exponential backoff and dead after their attempts, and
// periodic jobs that one node of many runs each period. Time is the injected clock's, so tests move it.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/store"
)

// Handler runs one job. An error fails the attempt: the job is retried after a backoff, until it has had
// its attempts. Its context ends when the node stops or loses the job's lease.
type Handler func(ctx context.Context, j store.Job) error

// Kind is a kind of job and how it runs.
type Kind struct {
	Name string
	Run  Handler
	// Concurrency is how many jobs of the kind one node runs at once. Default 1.
	Concurrency int
	// MaxAttempts is how many attempts a job has before it is dead. Default 5.
	MaxAttempts int
	// Backoff is the wait before the first retry; it doubles with each attempt, up to MaxBackoff.
	// Default 10 seconds.
	Backoff time.Duration
	// MaxBackoff, when set, bounds the wait between attempts below MaxBackoff.
	MaxBackoff time.Duration
	// Every, when set, runs the kind periodically: one job each period across all nodes on the store
	// (none while one still runs). The first runs a period after the kind is first seen.
	Every time.Duration
}

// MaxBackoff bounds the wait between attempts.
const MaxBackoff = time.Hour

// Options tune a Runner; zero values are the defaults.
type Options struct {
	Holder string        // this node's name in leases; default a random one
	Poll   time.Duration // how often the store is asked for due jobs; default 1 second, less for a shorter period
	Lease  time.Duration // how long a claim lasts without renewal; default 1 minute (renewed every third)
	// Grace is how long Run, stopping, waits for running jobs before it ends their contexts. Default 30 s.
	Grace time.Duration
	Log   *slog.Logger
	// Metrics, if set, receives the runner's series.
	Metrics prometheus.Registerer
}

// Runner claims and runs jobs of its registered kinds.
type Runner struct {
	meta  store.Store
	clock clock.Clock
	opts  Options
	log   *slog.Logger
	wake  chan struct{}
	m     *metrics

	mu      sync.Mutex
	kinds   map[string]*kind
	running map[int64]context.CancelFunc
	wg      sync.WaitGroup
}

type kind struct {
	Kind
	running int
}

// New returns a runner over meta. Register kinds, then Run.
func New(meta store.Store, clk clock.Clock, opts Options) *Runner {
	if clk == nil {
		clk = clock.Real{}
	}
	if opts.Holder == "" {
		opts.Holder = randomHolder()
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = time.Minute
	}
	if opts.Grace <= 0 {
		opts.Grace = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	r := &Runner{meta: meta, clock: clk, opts: opts, log: opts.Log, wake: make(chan struct{}, 1),
		kinds: map[string]*kind{}, running: map[int64]context.CancelFunc{}}
	r.m = newMetrics(r)
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(r.m)
	}
	return r
}

// Register adds a kind. It must be called before Run.
func (r *Runner) Register(k Kind) {
	if k.Concurrency <= 0 {
		k.Concurrency = 1
	}
	if k.MaxAttempts <= 0 {
		k.MaxAttempts = 5
	}
	if k.Backoff <= 0 {
		k.Backoff = 10 * time.Second
	}
	r.mu.Lock()
	r.kinds[k.Name] = &kind{Kind: k}
	r.mu.Unlock()
	r.m.register(k.Name)
}

// Holder is this runner's name in leases.
func (r *Runner) Holder() string { return r.opts.Holder }

// Wake makes the runner look for due jobs now rather than at its next poll (after an enqueue).
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Enqueue adds a job of kind to run now in the transaction tx, with payload marshaled as JSON (nil: none),
// and reports whether it was added (not when a job with its unique key is queued or running).
func Enqueue(tx store.Tx, now time.Time, kind, uniqueKey string, maxAttempts int, payload any) (bool, error) {
	var body []byte
	if payload != nil {
		var err error
		if body, err = json.Marshal(payload); err != nil {
			return false, err
		}
	}
	if maxAttempts <= 0 {
		maxAttempts = 5
	}
	return tx.EnqueueJob(&store.Job{Kind: kind, UniqueKey: uniqueKey, Payload: body, MaxAttempts: maxAttempts, RunAt: now, CreatedAt: now})
}

// Run claims and runs jobs until ctx ends; then it claims no more, waits up to the grace period for the
// jobs running, ends the contexts of those still running, and returns once they have returned.
func (r *Runner) Run(ctx context.Context) {
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	var renewed time.Time
	var poll <-chan time.Time // one timer at a time: a wake-up does not leave one behind
	for {
		now := r.clock.Now()
		if err := r.schedule(ctx, now); err != nil && ctx.Err() == nil {
			r.log.Warn("jobs: scheduling periodic jobs failed", "err", err)
		}
		if now.Sub(renewed) >= r.opts.Lease/3 {
			r.renew(ctx, now)
			renewed = now
		}
		if err := r.claim(ctx, jobCtx, now); err != nil && ctx.Err() == nil {
			r.log.Warn("jobs: claiming failed", "err", err)
		}
		if poll == nil {
			poll = r.clock.After(r.pollInterval())
		}
		select {
		case <-ctx.Done():
		case <-poll:
			poll = nil
		case <-r.wake:
		}
		if ctx.Err() != nil {
			break
		}
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(r.opts.Grace): // the wall clock's, like the server's shutdown
	}
	r.log.Warn("jobs: stopping the jobs still running after the grace period")
	cancelJobs()
	<-done
}

// pollInterval is Options.Poll, or the shortest period of a periodic kind if that is shorter: a kind
// that runs every 500 ms is run that often.
func (r *Runner) pollInterval() time.Duration {
	poll := r.opts.Poll
	r.mu.Lock()
	for _, k := range r.kinds {
		if k.Every > 0 && k.Every < poll {
			poll = k.Every
		}
	}
	r.mu.Unlock()
	return poll
}

// schedule enqueues the periodic jobs that are due.
func (r *Runner) schedule(ctx context.Context, now time.Time) error {
	var periodic []Kind
	r.mu.Lock()
	for _, k := range r.kinds {
		if k.Every > 0 {
			periodic = append(periodic, k.Kind)
		}
	}
	r.mu.Unlock()
	if len(periodic) == 0 {
		return nil
	}
	sort.Slice(periodic, func(i, j int) bool { return periodic[i].Name < periodic[j].Name })
	return r.meta.Update(ctx, func(tx store.Tx) error {
		for _, k := range periodic {
			due, err := tx.DueSchedule(k.Name, now, now.Add(k.Every), now.Add(k.Every))
			if err != nil {
				return err
			}
			if due {
				if _, err := Enqueue(tx, now, k.Name, "periodic:"+k.Name, k.MaxAttempts, nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// claim takes due jobs for the free slots of each kind and starts them.
func (r *Runner) claim(ctx, jobCtx context.Context, now time.Time) error {
	free := map[string]int{}
	r.mu.Lock()
	for name, k := range r.kinds {
		if n := k.Concurrency - k.running; n > 0 {
			free[name] = n
		}
	}
	r.mu.Unlock()
	if len(free) == 0 {
		return nil
	}
	names := make([]string, 0, len(free))
	for name := range free {
		names = append(names, name)
	}
	sort.Strings(names)
	var claimed []store.Job
	err := r.meta.Update(ctx, func(tx store.Tx) error {
		claimed = claimed[:0]
		for _, name := range names {
			jobs, err := tx.ClaimJobs(name, r.opts.Holder, now, now.Add(r.opts.Lease), free[name])
			if err != nil {
				return err
			}
			claimed = append(claimed, jobs...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, j := range claimed {
		r.start(jobCtx, j)
	}
	return nil
}

func (r *Runner) start(jobCtx context.Context, j store.Job) {
	ctx, cancel := context.WithCancel(jobCtx)
	r.mu.Lock()
	k := r.kinds[j.Kind]
	k.running++
	r.running[j.ID] = cancel
	r.mu.Unlock()
	r.m.running.WithLabelValues(j.Kind).Inc()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := r.runOne(ctx, k.Run, j)
		cancel()
		r.mu.Lock()
		delete(r.running, j.ID) // renewals stop before the job is released
		r.mu.Unlock()
		r.finish(k, j, err)
		r.mu.Lock()
		k.running--
		r.mu.Unlock()
		r.m.running.WithLabelValues(j.Kind).Dec()
		r.Wake()
	}()
}

// runOne runs a handler, turning a panic into a failure.
func (r *Runner) runOne(ctx context.Context, run Handler, j store.Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return run(ctx, j)
}

// finish records a job's outcome: deleted when it succeeded, else queued for a retry or dead.
func (r *Runner) finish(k *kind, j store.Job, runErr error) {
	ctx := context.Background()
	now := r.clock.Now()
	if runErr == nil {
		err := r.meta.Update(ctx, func(tx store.Tx) error { return tx.CompleteJob(j.ID, r.opts.Holder) })
		switch {
		case errors.Is(err, store.ErrNotFound):
			r.log.Warn("jobs: a job ran past its lease; another node may run it again", "kind", j.Kind, "id", j.ID)
		case err != nil:
			r.log.Error("jobs: recording a job done failed; it will run again", "kind", j.Kind, "id", j.ID, "err", err)
		}
		r.m.succeeded.WithLabelValues(j.Kind).Inc()
		return
	}
	r.m.failed.WithLabelValues(j.Kind).Inc()
	wait := Backoff(k.Backoff, j.Attempts)
	if k.MaxBackoff > 0 {
		wait = min(wait, k.MaxBackoff)
	}
	retryAt := now.Add(wait)
	var dead bool
	err := r.meta.Update(ctx, func(tx store.Tx) (err error) {
		dead, err = tx.FailJob(j.ID, r.opts.Holder, runErr.Error(), retryAt)
		return err
	})
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		r.log.Error("jobs: recording a failed attempt failed", "kind", j.Kind, "id", j.ID, "err", err)
	case dead:
		r.m.dead.WithLabelValues(j.Kind).Inc()
		r.log.Error("jobs: a job failed its last attempt and is dead", "kind", j.Kind, "id", j.ID, "attempts", j.Attempts, "err", runErr)
	default:
		r.log.Warn("jobs: attempt failed; retrying", "kind", j.Kind, "id", j.ID, "attempt", j.Attempts, "retry_at", retryAt, "err", runErr)
	}
}

// Backoff is the wait after a job's attempt-th failed attempt: base, doubling each attempt, at most MaxBackoff.
func Backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// renew extends the leases of the running jobs and ends those this node no longer holds.
func (r *Runner) renew(ctx context.Context, now time.Time) {
	r.mu.Lock()
	ids := make([]int64, 0, len(r.running))
	for id := range r.running {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var held []int64
	err := r.meta.Update(context.WithoutCancel(ctx), func(tx store.Tx) (err error) {
		held, err = tx.RenewJobs(r.opts.Holder, ids, now.Add(r.opts.Lease))
		return err
	})
	if err != nil {
		r.log.Warn("jobs: renewing leases failed", "err", err)
		return
	}
	keep := map[int64]bool{}
	for _, id := range held {
		keep[id] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if cancel, ok := r.running[id]; ok && !keep[id] {
			r.log.Warn("jobs: lost the lease of a running job; stopping it", "id", id)
			cancel()
		}
	}
}
