package registry

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// Prices is the price table of estimated costs, in US dollars. The defaults are ECR's us-east-1 list
// prices, simplified: no free tier and no volume tiers.
type Prices struct {
	StorageGBMonth float64 // per GB (2^30 bytes) stored for a month; default 0.10
	TransferOutGB  float64 // per GB (2^30 bytes) transferred out; default 0.09
}

// DefaultPrices are ECR's us-east-1 list prices.
var DefaultPrices = Prices{StorageGBMonth: 0.10, TransferOutGB: 0.09}

const gb = 1 << 30

// Cost is an estimated monthly cost in US dollars.
type Cost struct {
	Storage, Transfer, Total float64
}

// estimate is the monthly cost of storing bytes for a month and of transferring out, in a month, what was
// pulled over days days (scaled to 30 days).
func (p Prices) estimate(bytes, pulled int64, days int) Cost {
	c := Cost{Storage: float64(bytes) / gb * p.StorageGBMonth, Transfer: float64(pulled) / gb * 30 / float64(days) * p.TransferOutGB}
	c.Total = c.Storage + c.Transfer
	return c
}

// UsageOptions select what Usage reports.
type UsageOptions struct {
	// Repositories names the repositories to report; none: a page of the registry's repositories, by name,
	// after After, at most Max (default 100).
	Repositories []string
	After        string
	Max          int
	Days         int  // the days of pull counts, today (UTC) included; default 30, at most 366
	Totals       bool // the registry's totals
}

// DayUsage is what was pulled on a day (UTC).
type DayUsage struct {
	Day         time.Time
	Pulls       int64 // image pulls: manifest GETs and BatchGetImage's images
	BytesPulled int64 // blob bytes served, and the whole blob for each URL to the blob store handed out
}

// UsageFigures are the figures of a repository or of a registry.
type UsageFigures struct {
	// StorageBytes counts each distinct blob (layer, config) the images reference and each manifest once.
	StorageBytes int64
	Pulls        int64 // over the days reported
	BytesPulled  int64
	Daily        []DayUsage // the days reported with pulls, oldest first
	Cost         Cost
}

// RepositoryUsage is a repository's usage.
type RepositoryUsage struct {
	Name         string
	Images, Tags int
	UsageFigures
	// SharedBytes are the bytes of StorageBytes other repositories of the registry hold too; ShareBytes
	// divides each blob among the repositories that hold it (a blob k repositories hold counts size/k), so
	// the shares of all the repositories sum to the registry's storage. Cost.Storage is on the share.
	SharedBytes int64
	ShareBytes  float64
}

// Usage is a registry's usage: a page of its repositories and, when asked for, its totals.
type Usage struct {
	RegistryID      string
	Since           time.Time // the first day of pull counts
	Days            int
	Repositories    []RepositoryUsage
	More            bool          // more repositories after the last
	Totals          *UsageFigures // the registry's, repositories deleted since included in pulls
	RepositoryCount int           // how many repositories the registry has (with Totals)
}

// Usage reports storage, pulls and estimated monthly costs. Storage is computed from the images present
// when asked (what they reference), never kept in counters, so it is exact after any pushes, deletions,
// lifecycle expiries and collections. Pull counts are counted in memory and written every
// Config.PullFlushInterval, so the last seconds' may not show yet.
func (s *Service) Usage(ctx context.Context, registryID string, opt UsageOptions) (*Usage, error) {
	if opt.Days <= 0 {
		opt.Days = 30
	}
	opt.Days = min(opt.Days, 366)
	if opt.Max <= 0 {
		opt.Max = 100
	}
	now := s.clock.Now().UTC()
	since := day(now).AddDate(0, 0, 1-opt.Days)
	u := &Usage{RegistryID: registryID, Since: since, Days: opt.Days}
	prices := s.cfg.Prices
	err := s.meta.View(ctx, func(tx store.Tx) error {
		var page []store.RepositoryStorage
		var pulls []store.PullCount
		if len(opt.Repositories) > 0 {
			for _, name := range opt.Repositories {
				if err := ValidateRepositoryName(name); err != nil {
					return err
				}
			}
			for names := range slices.Chunk(opt.Repositories, store.MaxNamedRepositories) {
				st, err := tx.NamedRepositoryStorage(registryID, names)
				if err != nil {
					return err
				}
				page = append(page, st...)
			}
			found := map[string]bool{}
			for _, st := range page {
				found[st.Name] = true
			}
			for _, name := range opt.Repositories {
				if !found[name] {
					return repoNotFound(registryID, name)
				}
				pc, err := tx.PullCounts(registryID, name, name, since)
				if err != nil {
					return err
				}
				pulls = append(pulls, pc...)
			}
		} else {
			repos, err := tx.ListRepositories(registryID, opt.After, opt.Max+1)
			if err != nil {
				return err
			}
			if len(repos) > opt.Max {
				repos, u.More = repos[:opt.Max], true
			}
			if len(repos) > 0 {
				first, last := repos[0].Name, repos[len(repos)-1].Name
				if page, err = tx.RepositoryStorage(registryID, first, last); err != nil {
					return err
				}
				if pulls, err = tx.PullCounts(registryID, first, last, since); err != nil {
					return err
				}
			}
		}
		byName := map[string][]store.PullCount{}
		for _, p := range pulls {
			byName[p.Repository] = append(byName[p.Repository], p)
		}
		for _, st := range page {
			r := RepositoryUsage{Name: st.Name, Images: st.Images, Tags: st.Tags}
			r.StorageBytes = st.Bytes
			for _, k := range slices.Sorted(maps.Keys(st.Holders)) { // in order: the same sum each time
				b := st.Holders[k]
				r.ShareBytes += float64(b) / float64(k)
				if k > 1 {
					r.SharedBytes += b
				}
			}
			r.figures(byName[st.Name])
			r.Cost = prices.estimate(0, r.BytesPulled, opt.Days)
			r.Cost.Storage = r.ShareBytes / gb * prices.StorageGBMonth
			r.Cost.Total = r.Cost.Storage + r.Cost.Transfer
			u.Repositories = append(u.Repositories, r)
		}
		if !opt.Totals {
			return nil
		}
		t := &UsageFigures{}
		var err error
		if t.StorageBytes, err = tx.RegistryStorage(registryID); err != nil {
			return err
		}
		if u.RepositoryCount, err = tx.CountRepositories(registryID); err != nil {
			return err
		}
		total, err := tx.PullCounts(registryID, "", "", since)
		if err != nil {
			return err
		}
		t.figures(total)
		t.Cost = prices.estimate(t.StorageBytes, t.BytesPulled, opt.Days)
		u.Totals = t
		return nil
	})
	if err != nil {
		return nil, internal(err)
	}
	return u, nil
}

// figures sums one repository's (or the registry's) daily counts.
func (f *UsageFigures) figures(counts []store.PullCount) {
	f.Daily = []DayUsage{}
	for _, c := range counts {
		f.Pulls += c.Pulls
		f.BytesPulled += c.Bytes
		f.Daily = append(f.Daily, DayUsage{Day: c.Day, Pulls: c.Pulls, BytesPulled: c.Bytes})
	}
}

// day is the UTC midnight that begins t's day.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// CountPulls counts n image pulls from a repository that did not go through GetManifest with a caller
// (BatchGetImage's images).
func (s *Service) CountPulls(registryID, name string, n int) {
	s.pulls.count(registryID, name, s.clock.Now(), int64(n), 0)
}

// CountBytesPulled counts blob bytes pulled from a repository: those Wharf sent, or the whole blob for a
// URL to the blob store it handed out (it does not see that download).
func (s *Service) CountBytesPulled(registryID, name string, n int64) {
	if n > 0 {
		s.pulls.count(registryID, name, s.clock.Now(), 0, n)
	}
}

// Prices returns the price table of the estimated costs.
func (s *Service) Prices() Prices { return s.cfg.Prices }

// UsageRegistries lists the registries that have repositories.
func (s *Service) UsageRegistries(ctx context.Context) (ids []string, err error) {
	err = s.meta.View(ctx, func(tx store.Tx) error {
		ids, err = tx.UsageRegistries()
		return err
	})
	return ids, internal(err)
}

// PullCountDays is how long pull counts are kept: Usage reports at most 366 days.
const PullCountDays = 400

// PrunePullCounts deletes the pull counts older than PullCountDays.
func (s *Service) PrunePullCounts(ctx context.Context) (int, error) {
	var n int
	err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
		n, err = tx.PrunePullCounts(day(s.clock.Now()).AddDate(0, 0, -PullCountDays))
		return err
	})
	return n, internal(err)
}
