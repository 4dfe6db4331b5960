package audit

import (
	"context"
	"log/slog"
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
// BatchSize records wait: a crash loses at most the reads of the last FlushEvery. When writing falls
// behind so far that MaxPending records wait, a read's record is written before its response too.
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
	pending []store.AuditEvent
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// NewTrail returns a trail over the metadata store and starts its writer of read records.
func NewTrail(meta store.Store, region string, log *slog.Logger) *Trail {
	t := &Trail{meta: meta, region: region, log: log, FlushEvery: time.Second, BatchSize: 500, MaxPending: 20000,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t
}

// Record implements pipeline.Auditor.
func (t *Trail) Record(c *pipeline.Call, err error, _ time.Duration) {
	events := Events(c, err, t.region)
	if len(events) == 0 {
		return
	}
	if !events[0].ReadOnly {
		t.write(events)
		return
	}
	t.mu.Lock()
	if len(t.pending) >= t.MaxPending {
		t.mu.Unlock()
		t.write(events)
		return
	}
	t.pending = append(t.pending, events...)
	full := len(t.pending) >= t.BatchSize
	t.mu.Unlock()
	if full {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

func (t *Trail) write(events []store.AuditEvent) {
	if err := t.meta.Update(context.Background(), func(tx store.Tx) error { return tx.AddAuditEvents(events) }); err != nil {
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
	t.pending = nil
	t.mu.Unlock()
	if len(batch) > 0 {
		t.write(batch)
	}
}

// Close writes the records that wait and stops the writer.
func (t *Trail) Close() {
	t.once.Do(func() { close(t.stop) })
	<-t.done
}
