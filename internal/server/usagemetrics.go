package server

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/internal/registry"
)

const (
	// usageMetricsEvery is how old the usage gauges may get: a scrape that finds them older starts a pass.
	usageMetricsEvery = 5 * time.Minute
	// usageMetricsRepositories bounds wharf_storage_bytes to each account's largest repositories.
	usageMetricsRepositories = 500
)

// usageMetrics exports usage (registry.Service.Usage) as gauges: per account its storage, pulls and bytes
// pulled over the last 30 days and estimated monthly cost, and the storage of its largest repositories.
// A pass over the accounts computes them; a scrape gets the last pass's figures and, when they are older
// than usageMetricsEvery, starts the next in the background, so a scrape never waits for one and nothing
// is computed while nobody scrapes.
type usageMetrics struct {
	app                                   *App
	storage, account, pulls, pulled, cost *prometheus.Desc
	mu                                    sync.Mutex
	at                                    time.Time
	running, closed                       bool
	pass                                  sync.WaitGroup
	last                                  []prometheus.Metric
}

func newUsageMetrics(a *App) *usageMetrics {
	acct := []string{"account"}
	return &usageMetrics{app: a,
		storage: prometheus.NewDesc("wharf_storage_bytes", "Bytes of the distinct blobs and manifests a repository's images reference (blobs other repositories share counted in each; the largest 500 repositories of each account).", []string{"account", "repository"}, nil),
		account: prometheus.NewDesc("wharf_account_storage_bytes", "Bytes of the distinct blobs and manifests an account's images reference, each once.", acct, nil),
		pulls:   prometheus.NewDesc("wharf_account_pulls_30d", "Image pulls from an account's repositories over the last 30 days (UTC), today's included.", acct, nil),
		pulled:  prometheus.NewDesc("wharf_account_bytes_pulled_30d", "Blob bytes pulled from an account's repositories over the last 30 days (UTC), today's included.", acct, nil),
		cost:    prometheus.NewDesc("wharf_estimated_monthly_cost_usd", "An account's estimated monthly cost in US dollars: its storage, and its last 30 days' transfer out, at the configured prices.", acct, nil),
	}
}

func (m *usageMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.storage, m.account, m.pulls, m.pulled, m.cost} {
		ch <- d
	}
}

func (m *usageMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	if !m.running && !m.closed && time.Since(m.at) >= usageMetricsEvery {
		m.running = true
		m.pass.Go(m.refresh)
	}
	last := m.last
	m.mu.Unlock()
	for _, x := range last {
		ch <- x
	}
}

// close waits for a pass under way and starts no more.
func (m *usageMetrics) close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.pass.Wait()
}

// refresh computes the gauges anew, through the pipeline as all background work.
func (m *usageMetrics) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), usageMetricsEvery)
	defer cancel()
	var out []prometheus.Metric
	err := m.app.background(ctx, "usage", "wharf:DescribeUsage", func(ctx context.Context) error {
		ids, err := m.app.Service.UsageRegistries(ctx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			opt := registry.UsageOptions{Max: 1000, Totals: true, Days: 30}
			var repos []registry.RepositoryUsage
			for {
				u, err := m.app.Service.Usage(ctx, id, opt)
				if err != nil {
					return err
				}
				if t := u.Totals; t != nil {
					out = append(out, prometheus.MustNewConstMetric(m.account, prometheus.GaugeValue, float64(t.StorageBytes), id),
						prometheus.MustNewConstMetric(m.pulls, prometheus.GaugeValue, float64(t.Pulls), id),
						prometheus.MustNewConstMetric(m.pulled, prometheus.GaugeValue, float64(t.BytesPulled), id),
						prometheus.MustNewConstMetric(m.cost, prometheus.GaugeValue, t.Cost.Total, id))
				}
				repos = append(repos, u.Repositories...)
				if !u.More {
					break
				}
				opt.After, opt.Totals = u.Repositories[len(u.Repositories)-1].Name, false
			}
			slices.SortFunc(repos, func(a, b registry.RepositoryUsage) int { return cmp.Compare(b.StorageBytes, a.StorageBytes) })
			for _, r := range repos[:min(len(repos), usageMetricsRepositories)] {
				out = append(out, prometheus.MustNewConstMetric(m.storage, prometheus.GaugeValue, float64(r.StorageBytes), id, r.Name))
			}
		}
		return nil
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running, m.at = false, time.Now()
	if err != nil {
		m.app.log.Warn("usage metrics: the pass failed; the next scrape tries again", "err", err)
		m.at = time.Time{}
		return
	}
	m.last = out
}
