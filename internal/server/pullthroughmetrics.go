package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/upstream"
)

// pullThroughMetrics count what pull through caches did with their upstreams, and expose the requests
// each upstream host said are left in its rate limit.
type pullThroughMetrics struct {
	fetches *prometheus.CounterVec
	bytes   prometheus.Counter
	dialer  *upstream.Dialer // nil when the upstreams are dialed otherwise
	left    *prometheus.Desc
}

// wirePullThrough dials the upstreams with a dialer whose rate limits are exposed, unless the options
// dial them otherwise, and has the core's fetches counted.
func wirePullThrough(reg *prometheus.Registry, cfg *registry.UpstreamConfig) {
	m := &pullThroughMetrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_pull_through_fetches_total",
			Help: "Fetches from pull through cache upstreams and checks of cached tags, by result: fetched (a first pull), refreshed (a tag moved upstream), unchanged (a tag checked), not-found, denied, throttled, unavailable."},
			[]string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_pull_through_fetched_bytes_total",
			Help: "Bytes of manifests and blobs fetched from pull through cache upstreams."}),
		left: prometheus.NewDesc("wharf_pull_through_upstream_ratelimit_remaining",
			"Requests an upstream host said are left in its rate limit's window (its last ratelimit-remaining).", []string{"host"}, nil),
	}
	if cfg.Dial == nil {
		m.dialer = upstream.NewDialer(0)
		cfg.Dial = m.dialer.Dial
	}
	observe := cfg.Observe
	cfg.Observe = func(ev registry.UpstreamFetch) {
		m.fetches.WithLabelValues(ev.Result).Inc()
		m.bytes.Add(float64(ev.Bytes))
		if observe != nil {
			observe(ev)
		}
	}
	reg.MustRegister(m.fetches, m.bytes, m)
}

func (m *pullThroughMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.left }

func (m *pullThroughMetrics) Collect(ch chan<- prometheus.Metric) {
	if m.dialer == nil {
		return
	}
	for host, n := range m.dialer.Remaining() {
		ch <- prometheus.MustNewConstMetric(m.left, prometheus.GaugeValue, float64(n), host)
	}
}
