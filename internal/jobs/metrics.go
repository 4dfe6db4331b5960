package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/internal/store"
)

// metrics are the runner's series: what this node ran, and (read from the store at each scrape) what waits
// across all nodes.
type metrics struct {
	r                       *Runner
	running                 *prometheus.GaugeVec
	succeeded, failed, dead *prometheus.CounterVec
	queued, deadNow         *prometheus.Desc
}

func newMetrics(r *Runner) *metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"kind"})
	}
	return &metrics{
		r: r,
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wharf_jobs_running", Help: "Jobs this node is running, by kind.",
		}, []string{"kind"}),
		succeeded: counter("wharf_jobs_succeeded_total", "Jobs this node ran to success, by kind."),
		failed:    counter("wharf_jobs_failed_total", "Failed job attempts on this node, by kind."),
		dead:      counter("wharf_jobs_dead_total", "Jobs that failed their last attempt on this node, by kind."),
		queued: prometheus.NewDesc("wharf_jobs_queued", "Jobs waiting to run (due or backing off), by kind, across all nodes.",
			[]string{"kind"}, nil),
		deadNow: prometheus.NewDesc("wharf_jobs_dead", "Dead jobs waiting for an operator, by kind, across all nodes.",
			[]string{"kind"}, nil),
	}
}

// register shows a kind's series from the start, at zero, so that rates and alerts see their first
// increase.
func (m *metrics) register(kind string) {
	m.running.WithLabelValues(kind)
	m.succeeded.WithLabelValues(kind)
	m.failed.WithLabelValues(kind)
	m.dead.WithLabelValues(kind)
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.running.Describe(ch)
	m.succeeded.Describe(ch)
	m.failed.Describe(ch)
	m.dead.Describe(ch)
	ch <- m.queued
	ch <- m.deadNow
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.running.Collect(ch)
	m.succeeded.Collect(ch)
	m.failed.Collect(ch)
	m.dead.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var counts []store.JobCount
	if err := m.r.meta.View(ctx, func(tx store.Tx) (err error) {
		counts, err = tx.CountJobs(m.r.clock.Now())
		return err
	}); err != nil {
		m.r.log.Warn("jobs: counting jobs for metrics failed", "err", err)
		return
	}
	// Every kind this node runs is shown, at zero when none of its jobs waits.
	m.r.mu.Lock()
	shown := make(map[string]bool, len(m.r.kinds))
	for name := range m.r.kinds {
		shown[name] = false
	}
	m.r.mu.Unlock()
	for _, c := range counts {
		ch <- prometheus.MustNewConstMetric(m.queued, prometheus.GaugeValue, float64(c.Queued), c.Kind)
		ch <- prometheus.MustNewConstMetric(m.deadNow, prometheus.GaugeValue, float64(c.Dead), c.Kind)
		shown[c.Kind] = true
	}
	for kind, ok := range shown {
		if !ok {
			ch <- prometheus.MustNewConstMetric(m.queued, prometheus.GaugeValue, 0, kind)
			ch <- prometheus.MustNewConstMetric(m.deadNow, prometheus.GaugeValue, 0, kind)
		}
	}
}

func randomHolder() string {
	var b [8]byte
	rand.Read(b[:])
	return "node-" + hex.EncodeToString(b[:])
}
