package server

import (
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/internal/peer"
	"github.com/wharf-dev/wharf/internal/registry"
)

// wirePeers completes the configuration of replication to other regions' deployments: their HTTP client,
// the jobs' backoff, and the metrics of each attempt's outcome and of the bytes it pushed, by destination
// region. A peer reached by plain HTTP is warned of: its login and registry tokens cross the network
// unencrypted.
func wirePeers(c *registry.PeerConfig, region string, reg *prometheus.Registry, log *slog.Logger) {
	var plain []string
	for r, u := range c.Endpoints {
		if strings.HasPrefix(u, "http://") {
			plain = append(plain, r+"="+u)
		}
	}
	if len(plain) > 0 {
		sort.Strings(plain)
		log.Warn("replication peers reached by plain HTTP: their access key's signed logins and registry tokens cross the network unencrypted; use https outside a trusted network",
			"peers", strings.Join(plain, ","))
	}
	if c.Dial == nil {
		c.Dial = peer.Dial(region, 0)
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 10 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 10 * time.Minute
	}
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_replications_remote_total",
		Help: "Attempts of replications to other regions' deployments, by destination region and result (complete, failed, retry)."},
		[]string{"region", "result"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_replication_remote_bytes_total",
		Help: "Bytes of blobs pushed to other regions' deployments by replications, by destination region."}, []string{"region"})
	reg.MustRegister(runs, bytes)
	next := c.Observe
	c.Observe = func(region, result string, n int64) {
		runs.WithLabelValues(region, result).Inc()
		bytes.WithLabelValues(region).Add(float64(n))
		if next != nil {
			next(region, result, n)
		}
	}
}
