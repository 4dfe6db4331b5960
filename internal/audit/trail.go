package audit

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/store"
)

// Trail is the pipeline's auditor that keeps the records in the metadata store.
//
// A call that changes something is recorded before its response is sent: Record writes it in a
// transaction of its own, right after the change's (so a crash between the two loses that one record).
// Read-only calls — pulls above all — are written in batches, at most FlushEvery after the call or once
// BatchSize records wait, and on SQLite committed without waiting for the disk: the process dying loses
// the reads of the last FlushEvery at most, a power loss or an operating system crash also those
// committed since the last durable write (a mutating call's record, or SQLite's checkpoint). When writing
// falls behind so far that MaxPending records wait, a read's record is written before its response too.
type Trail struct {
	meta   store.Store
	region string
	log    *slog.Logger

	// FlushEvery, BatchSize and MaxPending bound how long, and how many, read records wait (set before
	// the first call).
	FlushEvery time.Duration
	BatchSize  int
	MaxPending int

	mu      sync.Mutex
	pending []read
	spare   []read // the last batch written, emptied, for the next
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// NewTrail returns a trail over the metadata store and starts its writer of read records.
func NewTrail(meta store.Store, region string, log *slog.Logger) *Trail {
	if log == nil {
		log = slog.Default()
	}
	t := &Trail{meta: meta, region: region, log: log, FlushEvery: time.Second, BatchSize: 5000, MaxPending: 50000,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t
}

// read is a read-only call waiting to be recorded: what its record needs of the call, without what the
// transport holds (its credential, the request), and the outcome.
type read struct {
	c      pipeline.Call
	failed bool
}

// errFailed stands for a read's error, whose code and message were taken when it was recorded.
var errFailed = errors.New("failed")

// Record implements pipeline.Auditor.
func (t *Trail) Record(c *pipeline.Call, err error, _ time.Duration) {
	if c.Action == "" || c.Caller.Anonymous() {
		return
	}
	_, name, _ := strings.Cut(c.Action, ":")
	if !ReadOnly(name) {
		t.write(Events(c, err, t.region), true)
		return
	}
	// A read's record is built by the writer, off the request's path.
	r := read{c: *c, failed: err != nil}
	r.c.Credential, r.c.Output = nil, nil
	if err != nil {
		code, msg := errorOf(c, err)
		r.c.ErrorCode = func(error) (string, string) { return code, msg }
	}
	t.mu.Lock()
	if len(t.pending) >= t.MaxPending {
		t.mu.Unlock()
		t.write(Events(c, err, t.region), false)
		return
	}
	t.pending = append(t.pending, r)
	full := len(t.pending) >= t.BatchSize
	t.mu.Unlock()
	if full {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

// lazyUpdater is a store that can commit without waiting for the disk (SQLite).
type lazyUpdater interface {
	UpdateLazy(ctx context.Context, fn func(store.Tx) error) error
}

// write stores events, on disk before it returns when durable.
func (t *Trail) write(events []store.AuditEvent, durable bool) {
	if len(events) == 0 {
		return
	}
	update := t.meta.Update
	if l, ok := t.meta.(lazyUpdater); ok && !durable {
		update = l.UpdateLazy
	}
	if err := update(context.Background(), func(tx store.Tx) error { return tx.AddAuditEvents(events) }); err != nil {
		t.log.Error("audit trail: writing records failed", "err", err, "records", len(events), "event", events[0].Name)
	}
}

func (t *Trail) run() {
	defer close(t.done)
	tick := time.NewTicker(t.FlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-t.kick:
		case <-t.stop:
			t.Flush()
			return
		}
		t.Flush()
	}
}

// Flush writes the read records that wait.
func (t *Trail) Flush() {
	t.mu.Lock()
	batch := t.pending
	t.pending, t.spare = t.spare, nil
	t.mu.Unlock()
	defer func() {
		clear(batch)
		t.mu.Lock()
		t.spare = batch[:0]
		t.mu.Unlock()
	}()
	out := make([]store.AuditEvent, 0, len(batch))
	for i := range batch {
		var err error
		if batch[i].failed {
			err = errFailed
		}
		out = append(out, events(&batch[i].c, err, t.region, true)...)
	}
	t.write(out, false)
}

// Close writes the records that wait and stops the writer.
func (t *Trail) Close() {
	t.once.Do(func() { close(t.stop) })
	<-t.done
}
