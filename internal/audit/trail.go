package audit

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/store"
)

// Trail is the pipeline's auditor that keeps the records in the store (see Decode for their chunks).
//
// A call that changes something is recorded before its response is sent: Record writes it, a chunk of its
// own, in a transaction right after the change's (so a crash between the two loses that one record).
// Read-only calls — pulls above all — are appended to a buffer in memory, what they share with earlier
// calls (caller, operation) pointed to rather than copied, and written in the background, a chunk per
// account and batch, at most FlushEvery after the call or once BatchSize records wait, and on SQLite
// committed without waiting for the disk: the process dying loses the reads of the last FlushEvery at
// most, a power loss or an operating system crash also those committed since the last durable write (a
// mutating call's record, or SQLite's checkpoint). When writing falls behind so far that MaxPending
// records wait, a read's record is written before its response too.
type Trail struct {
	meta   store.Store
	region string
	log    *slog.Logger

	// FlushEvery, BatchSize and MaxPending bound how long, and how many, read records wait; Node names
	// this process in the chunks it writes; Deliver tells that chunks wait for delivery (else they are
	// written as delivered). Set them before the first call.
	FlushEvery time.Duration
	BatchSize  int
	MaxPending int
	Node       string
	Deliver    bool

	// Written counts the records written (a record of a call across accounts once for each).
	Written atomic.Int64

	mu      sync.Mutex
	pending []fields
	spare   []fields // the last batch written, emptied, for the next
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started sync.Once

	flushMu sync.Mutex // one batch at a time
	memoMu  sync.Mutex
	memo    *memo
}

// NewTrail returns a trail over the store; Start starts its writer of read records.
func NewTrail(meta store.Store, region string, log *slog.Logger) *Trail {
	if log == nil {
		log = slog.Default()
	}
	return &Trail{meta: meta, region: region, log: log, FlushEvery: time.Second, BatchSize: 8192, MaxPending: 100000,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), memo: newMemo(region)}
}

// Start starts the writer of read records (once the trail's settings are set).
func (t *Trail) Start() *Trail {
	t.started.Do(func() { go t.run() })
	return t
}

// Record implements pipeline.Auditor. A read's record is worked out from what the trail has seen
// already (its caller, its operation: memo) and appended to the buffer; the writer encodes it.
func (t *Trail) Record(c *pipeline.Call, err error, _ time.Duration) {
	if c.Action == "" || c.Caller.Anonymous() {
		return
	}
	_, name, _ := strings.Cut(c.Action, ":")
	e := entryOf(c, err)
	if !ReadOnly(name) {
		t.writeNow(e, true)
		return
	}
	e.output = nil // a read's result is not recorded
	var op *opOf
	if !memoizable(&e) { // worked out before taking the lock: the summary of its input may take a while
		op = newOp(&e, t.region)
	}
	t.memoMu.Lock()
	fl, ok := t.memo.fieldsOf(&e, op)
	t.memoMu.Unlock()
	if !ok {
		return
	}
	t.mu.Lock()
	if len(t.pending) >= t.MaxPending {
		t.mu.Unlock()
		t.write(encode(t.region, fl), false)
		return
	}
	t.pending = append(t.pending, fl)
	full := len(t.pending) == t.BatchSize
	t.mu.Unlock()
	if full {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

// writeNow writes one call's record, on disk before it returns when durable.
func (t *Trail) writeNow(e entry, durable bool) {
	if fl, ok := newMemo(t.region).fieldsOf(&e, nil); ok {
		t.write(encode(t.region, fl), durable)
	}
}

// encode is the chunks of records of a batch.
func encode(region string, records ...fields) []store.AuditChunk {
	b := newBatch()
	for i := range records {
		b.add(&records[i])
	}
	return b.chunks(region)
}

// lazyUpdater is a store that can commit without waiting for the disk (SQLite).
type lazyUpdater interface {
	UpdateLazy(ctx context.Context, fn func(store.Tx) error) error
}

// write stores chunks, on disk before it returns when durable.
func (t *Trail) write(chunks []store.AuditChunk, durable bool) {
	if len(chunks) == 0 {
		return
	}
	records := 0
	for i := range chunks {
		chunks[i].Node, chunks[i].Delivered = t.Node, !t.Deliver
		records += chunks[i].Records
	}
	update := t.meta.Update
	if l, ok := t.meta.(lazyUpdater); ok && !durable {
		update = l.UpdateLazy
	}
	if err := update(context.Background(), func(tx store.Tx) error { return tx.AddAuditChunks(chunks) }); err != nil {
		t.log.Error("audit trail: writing records failed", "err", err, "records", records)
		return
	}
	t.Written.Add(int64(records))
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
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	t.mu.Lock()
	pending := t.pending
	t.pending, t.spare = t.spare, nil
	t.mu.Unlock()
	if len(pending) == 0 {
		t.mu.Lock()
		t.spare = pending
		t.mu.Unlock()
		return
	}
	chunks := encode(t.region, pending...)
	clear(pending)
	t.mu.Lock()
	t.spare = pending[:0]
	t.mu.Unlock()
	t.write(chunks, false)
}

// Close writes the records that wait and stops the writer.
func (t *Trail) Close() {
	t.started.Do(func() { close(t.done) }) // never started: nothing runs
	t.once.Do(func() { close(t.stop) })
	<-t.done
	t.Flush()
}
