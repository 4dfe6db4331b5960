package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const poll = time.Second

type env struct {
	t     *testing.T
	meta  store.Store
	clock *clock.Fake
}

func newEnv(t *testing.T) *env {
	meta, err := sqlite.Open(filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	return &env{t: t, meta: meta, clock: clock.NewFake(t0)}
}

// start runs a runner until the test ends (or stop is called).
func (e *env) start(r *jobs.Runner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	return stop
}

func (e *env) runner(holder string, reg prometheus.Registerer) *jobs.Runner {
	return jobs.New(e.meta, e.clock, jobs.Options{Holder: holder, Poll: poll, Lease: time.Minute, Grace: 5 * time.Second, Metrics: reg})
}

// tick lets every runner finish its round and go to sleep, then moves time by d, starting the next round.
func (e *env) tick(runners int, d time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.clock.WaitForWaiters(ctx, runners); err != nil {
		e.t.Fatal("runners did not go to sleep")
	}
	e.clock.Advance(d)
}

func (e *env) enqueue(kind, key string, attempts int) int64 {
	e.t.Helper()
	var j store.Job
	err := e.meta.Update(context.Background(), func(tx store.Tx) error {
		j = store.Job{Kind: kind, UniqueKey: key, MaxAttempts: attempts, RunAt: e.clock.Now(), CreatedAt: e.clock.Now()}
		_, err := tx.EnqueueJob(&j)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return j.ID
}

// recorded waits until the runner has recorded the last failed attempt of job id: its retry is due later,
// or it is dead. The test's time must not move before: the retry is reckoned from the time of the failure.
func (e *env) recorded(id int64) {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		j, err := e.job(id)
		if err != nil {
			e.t.Fatal(err)
		}
		if j.State == store.JobDead || j.RunAt.After(e.clock.Now()) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the failed attempt of job %d is not recorded: %+v", id, j)
		}
	}
}

func (e *env) job(id int64) (*store.Job, error) {
	var j *store.Job
	err := e.meta.View(context.Background(), func(tx store.Tx) (err error) { j, err = tx.GetJob(id); return err })
	return j, err
}

func receive[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
	}
	panic("unreachable")
}

func TestRunsRetriesAndBuriesJobs(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	r := e.runner("node-1", reg)
	attempts := make(chan int, 10)
	r.Register(jobs.Kind{Name: "deliver", MaxAttempts: 3, Backoff: time.Minute, Run: func(ctx context.Context, j store.Job) error {
		attempts <- j.Attempts
		if string(j.Payload) == `"ok"` {
			return nil
		}
		return errors.New("receiver down")
	}})
	var ok store.Job
	e.meta.Update(context.Background(), func(tx store.Tx) error {
		_, err := jobs.Enqueue(tx, e.clock.Now(), "deliver", "", 3, "ok")
		return err
	})
	bad := e.enqueue("deliver", "", 3)
	e.start(r)
	receive(t, attempts)
	receive(t, attempts)
	_ = ok
	e.recorded(bad)

	// The failed job waits for its backoff: 1 minute, then 2.
	e.tick(1, 59*time.Second)
	select {
	case n := <-attempts:
		t.Fatalf("attempt %d before the backoff passed", n)
	default:
	}
	e.tick(1, time.Second)
	if n := receive(t, attempts); n != 2 {
		t.Fatalf("attempt %d", n)
	}
	e.recorded(bad)
	e.tick(1, 2*time.Minute)
	if n := receive(t, attempts); n != 3 {
		t.Fatalf("attempt %d", n)
	}
	// After its last attempt the job is dead, and stays.
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := e.job(bad)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == store.JobDead {
			if j.LastError != "receiver down" || j.Attempts != 3 {
				t.Fatalf("dead job %+v", j)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not dead: %+v", j)
		}
		time.Sleep(time.Millisecond)
	}
	e.tick(1, time.Hour)
	e.tick(1, time.Hour)
	select {
	case n := <-attempts:
		t.Fatalf("a dead job ran again (attempt %d)", n)
	default:
	}
	// The runner counts a job's end just after recording it in the store.
	want := map[string]float64{"wharf_jobs_dead": 1, "wharf_jobs_dead_total": 1, "wharf_jobs_failed_total": 3,
		"wharf_jobs_succeeded_total": 1, "wharf_jobs_queued": 0, "wharf_jobs_running": 0}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		got := map[string]float64{}
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "deliver" {
					got[f.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics %v, want %v", got, want)
		}
	}
}

func TestConcurrencyLimit(t *testing.T) {
	e := newEnv(t)
	r := e.runner("node-1", nil)
	var now, peak atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	r.Register(jobs.Kind{Name: "scan", Concurrency: 2, Run: func(ctx context.Context, j store.Job) error {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		now.Add(-1)
		return nil
	}})
	for range 5 {
		e.enqueue("scan", "", 1)
	}
	e.start(r)
	receive(t, started)
	receive(t, started)
	e.tick(1, poll)
	e.tick(1, poll)
	if p := peak.Load(); p != 2 {
		t.Fatalf("%d jobs of a kind limited to 2 ran at once", p)
	}
	close(release)
	for range 3 {
		receive(t, started)
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak %d", p)
	}
}

// TestOneNodeRunsAJob: two runners on one store; a job runs on one of them, which renews its lease while
// the job runs, so the other never runs it too.
func TestOneNodeRunsAJob(t *testing.T) {
	e := newEnv(t)
	var runs atomic.Int32
	release := make(chan struct{})
	started := make(chan string, 4)
	for _, holder := range []string{"node-1", "node-2"} {
		r := e.runner(holder, nil)
		r.Register(jobs.Kind{Name: "replicate", Run: func(ctx context.Context, j store.Job) error {
			runs.Add(1)
			started <- holder
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}})
		e.start(r)
	}
	id := e.enqueue("replicate", "", 3)
	e.tick(2, poll)
	holder := receive(t, started)
	for range 30 { // ten minutes, ten leases' worth, renewed every third
		e.tick(2, 20*time.Second)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the job ran %d times", n)
	}
	j, err := e.job(id)
	if err != nil || j.Holder != holder || j.Attempts != 1 {
		t.Fatalf("job %+v, %v", j, err)
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := e.job(id); errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job was not completed")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLapsedLeaseIsRunAgain: a node that claimed a job died; once its lease lapses another node runs it.
func TestLapsedLeaseIsRunAgain(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue("gc", "", 3)
	e.meta.Update(context.Background(), func(tx store.Tx) error {
		_, err := tx.ClaimJobs("gc", "dead-node", e.clock.Now(), e.clock.Now().Add(time.Minute), 1)
		return err
	})
	ran := make(chan int, 1)
	r := e.runner("node-2", nil)
	r.Register(jobs.Kind{Name: "gc", Run: func(ctx context.Context, j store.Job) error { ran <- j.Attempts; return nil }})
	e.start(r)
	e.tick(1, 59*time.Second)
	select {
	case <-ran:
		t.Fatal("ran while another node's lease was live")
	default:
	}
	e.tick(1, time.Second)
	if n := receive(t, ran); n != 2 {
		t.Fatalf("attempt %d", n)
	}
	_ = id
}

func TestPeriodicJobsRunOncePerPeriodAcrossNodes(t *testing.T) {
	e := newEnv(t)
	var runs atomic.Int32
	ran := make(chan struct{}, 10)
	for _, holder := range []string{"node-1", "node-2", "node-3"} {
		r := e.runner(holder, nil)
		r.Register(jobs.Kind{Name: "lifecycle", Every: time.Hour, Run: func(ctx context.Context, j store.Job) error {
			runs.Add(1)
			ran <- struct{}{}
			return nil
		}})
		e.start(r)
	}
	e.tick(3, 59*time.Minute)
	e.tick(3, poll)
	if n := runs.Load(); n != 0 {
		t.Fatalf("ran %d times before its first period", n)
	}
	for period := 1; period <= 3; period++ {
		e.tick(3, time.Minute)
		receive(t, ran)
		for range 5 {
			e.tick(3, poll)
		}
		if n := runs.Load(); n != int32(period) {
			t.Fatalf("after %d periods: %d runs", period, n)
		}
		e.tick(3, 59*time.Minute-5*poll)
	}
}

// TestPeriodShorterThanPoll: a kind that runs more often than the runner polls runs each period.
func TestPeriodShorterThanPoll(t *testing.T) {
	e := newEnv(t)
	r := e.runner("node-1", nil)
	ran := make(chan struct{}, 10)
	r.Register(jobs.Kind{Name: "gc", Every: poll / 4, MaxAttempts: 1, Run: func(ctx context.Context, j store.Job) error {
		ran <- struct{}{}
		return nil
	}})
	e.start(r)
	for range 3 {
		e.tick(1, poll/4)
		receive(t, ran)
		e.done("gc") // a period that finds the last run still there skips
	}
}

// done waits until no job of kind is left in the store.
func (e *env) done(kind string) {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		var counts []store.JobCount
		if err := e.meta.View(context.Background(), func(tx store.Tx) (err error) {
			counts, err = tx.CountJobs(e.clock.Now())
			return err
		}); err != nil {
			e.t.Fatal(err)
		}
		left := false
		for _, c := range counts {
			left = left || c.Kind == kind && c.Queued+c.Running+c.Dead > 0
		}
		if !left {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("jobs of kind %s still there: %+v", kind, counts)
		}
	}
}

// TestGracefulStop: stopping waits for the running job, which completes.
func TestGracefulStop(t *testing.T) {
	e := newEnv(t)
	r := e.runner("node-1", nil)
	started, release := make(chan struct{}), make(chan struct{})
	r.Register(jobs.Kind{Name: "flush", Run: func(ctx context.Context, j store.Job) error {
		close(started)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}})
	id := e.enqueue("flush", "", 3)
	stop := e.start(r)
	<-started
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Run returned while a job was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	receive(t, stopped)
	if _, err := e.job(id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the job was not completed: %v", err)
	}
}

func TestBackoffDoublesUpToItsBound(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 20: time.Hour} {
		if got := jobs.Backoff(10*time.Second, attempt); got != want {
			t.Errorf("attempt %d: %v, want %v", attempt, got, want)
		}
	}
}
