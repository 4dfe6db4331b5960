// Package webhooks notifies HTTP receivers of what happens in the registry, in EventBridge's event format
// for ECR. A dispatcher, a periodic job, reads the core's outbox of events past its cursor and, in one
// transaction, enqueues one delivery job for each (event, matching target) and moves the cursor: each event
// is enqueued once however many nodes share the store. A delivery job POSTs the event, signed with the
// target's secret; the job system retries it with backoff until it is dead. Delivery is at least once: a
// node dying after a receiver took an event but before the job was recorded done delivers it again.
package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

const (
	// Consumer is the dispatcher's cursor in the outbox.
	Consumer = "webhooks"
	// DispatchKind is the kind of the dispatcher's job; a delivery's kind is KindPrefix and the target's name.
	DispatchKind = "webhook-dispatch"
	KindPrefix   = "webhook:"
	// dispatchBatch is how many events one dispatch transaction reads at most.
	dispatchBatch = 200
	// responseLimit is how much of a receiver's answer is read (for the log of a failed attempt).
	responseLimit = 1024
)

// Headers of a delivery.
const (
	SignatureHeader = "X-Wharf-Signature"
	EventIDHeader   = "X-Wharf-Event-Id"
	TimestampHeader = "X-Wharf-Timestamp"
)

// Notifier dispatches and delivers events to the configured targets.
type Notifier struct {
	meta    store.Store
	clock   clock.Clock
	region  string
	targets map[string]Target
	order   []Target
	client  *http.Client
	log     *slog.Logger
	m       *metrics
}

// New returns a notifier of targets. Its metrics, registered on reg when not nil, exist even with no target.
func New(meta store.Store, clk clock.Clock, region string, targets []Target, log *slog.Logger, reg prometheus.Registerer) *Notifier {
	n := &Notifier{meta: meta, clock: clk, region: region, targets: map[string]Target{}, order: targets, log: log, m: newMetrics()}
	for _, t := range targets {
		n.targets[t.Name] = t
	}
	// Redirects are not followed: a receiver answering 3xx has not taken the event, and the operator's URL
	// is the only place events go.
	n.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if reg != nil {
		reg.MustRegister(n.m.deliveries, n.m.duration)
	}
	return n
}

// Register adds the dispatcher, run every dispatchEvery, and one delivery kind per target to the runner.
// With no target it adds nothing: the events stay in the outbox (until pruned) and the cursor where it is.
func (n *Notifier) Register(r *jobs.Runner, dispatchEvery time.Duration) {
	if len(n.order) == 0 {
		return
	}
	// A failed dispatch is not retried: the next period's dispatch takes the events from the same cursor.
	r.Register(jobs.Kind{Name: DispatchKind, Every: dispatchEvery, MaxAttempts: 1,
		Run: func(ctx context.Context, _ store.Job) error {
			if err := n.Dispatch(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("webhooks: dispatching events failed; the next dispatch tries again", "err", err)
			}
			return nil
		}})
	for _, t := range n.order {
		r.Register(jobs.Kind{Name: KindPrefix + t.Name, Concurrency: 4, MaxAttempts: t.Attempts, Backoff: time.Duration(t.Backoff),
			Run: n.deliver})
	}
}

// delivery is a delivery job's payload: the rendered event, signed when it is sent.
type delivery struct {
	Target string          `json:"target"`
	ID     string          `json:"id"`
	Body   json.RawMessage `json:"body"`
}

// Dispatch enqueues deliveries for the events past the cursor, a batch per transaction, until none is left.
func (n *Notifier) Dispatch(ctx context.Context) error {
	for {
		var read int
		err := n.meta.Update(ctx, func(tx store.Tx) error {
			var err error
			read, err = n.dispatchBatch(tx)
			return err
		})
		if err != nil || read < dispatchBatch {
			return err
		}
	}
}

func (n *Notifier) dispatchBatch(tx store.Tx) (int, error) {
	pos, err := tx.EventCursor(Consumer)
	if err != nil {
		return 0, err
	}
	events, err := tx.EventsAfter(pos, dispatchBatch)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	now := n.clock.Now()
	for _, se := range events {
		e, err := registry.DecodeEvent(se)
		if err != nil {
			n.log.Error("webhooks: an event in the outbox does not decode; skipped", "id", se.ID, "type", se.Type, "err", err)
			continue
		}
		for _, env := range Render(e, n.region) {
			env.ID = newID()
			body, err := json.Marshal(env)
			if err != nil {
				return 0, err
			}
			for _, t := range n.order {
				if !t.Matches(&env) {
					continue
				}
				if _, err := jobs.Enqueue(tx, now, KindPrefix+t.Name, "", t.Attempts, delivery{Target: t.Name, ID: env.ID, Body: body}); err != nil {
					return 0, err
				}
			}
		}
	}
	return len(events), tx.SetEventCursor(Consumer, events[len(events)-1].Position)
}

// deliver runs one delivery attempt.
func (n *Notifier) deliver(ctx context.Context, j store.Job) error {
	var d delivery
	if err := json.Unmarshal(j.Payload, &d); err != nil {
		return fmt.Errorf("delivery payload: %w", err)
	}
	t, ok := n.targets[d.Target]
	if !ok { // configured no more under this name
		n.log.Warn("webhooks: a delivery's target is no longer configured; dropped", "target", d.Target, "event_id", d.ID)
		return nil
	}
	start := time.Now()
	err := n.post(ctx, t, d)
	n.m.duration.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		n.m.deliveries.WithLabelValues("delivered").Inc()
	case j.Attempts >= j.MaxAttempts:
		n.m.deliveries.WithLabelValues("dead").Inc()
	default:
		n.m.deliveries.WithLabelValues("failed").Inc()
	}
	return err
}

// post sends one signed event. A 2xx answer delivers it; anything else, or no answer within the target's
// timeout, fails the attempt.
func (n *Notifier) post(ctx context.Context, t Target, d delivery) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(t.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(d.Body))
	if err != nil {
		return err
	}
	var env struct{ Time time.Time }
	json.Unmarshal(d.Body, &env)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Wharf-Webhooks/1")
	req.Header.Set(SignatureHeader, Sign(t.Secret, d.Body))
	req.Header.Set(EventIDHeader, d.ID)
	req.Header.Set(TimestampHeader, strconv.FormatInt(env.Time.Unix(), 10))
	res, err := n.client.Do(req)
	if err != nil {
		if uerr := (*url.Error)(nil); errors.As(err, &uerr) {
			err = uerr.Err // without the URL, which may carry a token in its query
		}
		return fmt.Errorf("target %s: %w", t.Name, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 == 2 {
		return nil
	}
	answer, _ := io.ReadAll(io.LimitReader(res.Body, responseLimit))
	return fmt.Errorf("target %s answered %s: %.200q", t.Name, res.Status, answer)
}

type metrics struct {
	deliveries *prometheus.CounterVec
	duration   prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_webhook_deliveries_total",
			Help: "Webhook delivery attempts by result: delivered (2xx), failed (retried later), dead (the last attempt failed)."},
			[]string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wharf_webhook_delivery_duration_seconds",
			Help: "Time of webhook delivery attempts, until the receiver answered or the attempt failed.", Buckets: prometheus.DefBuckets}),
	}
	for _, r := range []string{"delivered", "failed", "dead"} {
		m.deliveries.WithLabelValues(r)
	}
	return m
}
