package registry

import (
	"context"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

// pullRecorder keeps images' last pull times and the pull counts of each repository and day in memory
// and writes them in batches, so a pull costs no write.
type pullRecorder struct {
	s       *Service
	mu      sync.Mutex
	pending map[int64]map[digest.Digest]time.Time
	counts  map[countKey]*store.PullCount
	stop    chan struct{}
	done    chan struct{}
}

// countKey is a repository's day: Unix days.
type countKey struct {
	registryID, name string
	day              int64
}

func newPullRecorder(s *Service, every time.Duration) *pullRecorder {
	p := &pullRecorder{s: s, pending: map[int64]map[digest.Digest]time.Time{}, counts: map[countKey]*store.PullCount{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-s.clock.After(every):
				p.flush()
			case <-p.stop:
				p.flush()
				return
			}
		}
	}()
	return p
}

// pull counts an image pull from a repository and, when touch, records the image's pull time.
func (p *pullRecorder) pull(registryID, name string, repoID int64, d digest.Digest, at time.Time, touch bool) {
	p.mu.Lock()
	p.add(registryID, name, at, 1, 0)
	if touch {
		m := p.pending[repoID]
		if m == nil {
			m = map[digest.Digest]time.Time{}
			p.pending[repoID] = m
		}
		m[d] = at
	}
	p.mu.Unlock()
}

// count counts pulls and bytes pulled from a repository.
func (p *pullRecorder) count(registryID, name string, at time.Time, pulls, bytes int64) {
	p.mu.Lock()
	p.add(registryID, name, at, pulls, bytes)
	p.mu.Unlock()
}

func (p *pullRecorder) add(registryID, name string, at time.Time, pulls, bytes int64) {
	k := countKey{registryID, name, at.Unix() / 86400}
	c := p.counts[k]
	if c == nil {
		c = &store.PullCount{RegistryID: registryID, Repository: name, Day: time.Unix(k.day*86400, 0).UTC()}
		p.counts[k] = c
	}
	c.Pulls += pulls
	c.Bytes += bytes
}

// flush writes what was recorded; pull times of deleted images are simply dropped. Pull counts are added
// to the stored ones, each repository's and its registry's; counts a failed write did not store are kept
// for the next.
func (p *pullRecorder) flush() {
	p.mu.Lock()
	batch, counts := p.pending, p.counts
	p.pending, p.counts = map[int64]map[digest.Digest]time.Time{}, map[countKey]*store.PullCount{}
	p.mu.Unlock()
	if len(batch) == 0 && len(counts) == 0 {
		return
	}
	rows := make([]store.PullCount, 0, 2*len(counts))
	registries := map[countKey]*store.PullCount{}
	for _, c := range counts {
		rows = append(rows, *c)
		k := countKey{c.RegistryID, "", c.Day.Unix() / 86400}
		if r := registries[k]; r != nil {
			r.Pulls, r.Bytes = r.Pulls+c.Pulls, r.Bytes+c.Bytes
		} else {
			registries[k] = &store.PullCount{RegistryID: c.RegistryID, Day: c.Day, Pulls: c.Pulls, Bytes: c.Bytes}
		}
	}
	for _, r := range registries {
		rows = append(rows, *r)
	}
	err := p.s.meta.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.AddPulls(rows); err != nil {
			return err
		}
		for repoID, pulls := range batch {
			if err := tx.TouchPulls(repoID, pulls); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		p.s.log.Warn("recording pulls failed", "err", err)
		p.mu.Lock()
		for k, c := range counts {
			if cur := p.counts[k]; cur != nil {
				cur.Pulls, cur.Bytes = cur.Pulls+c.Pulls, cur.Bytes+c.Bytes
			} else {
				p.counts[k] = c
			}
		}
		p.mu.Unlock()
	}
}

// FlushPulls writes the recorded pull times and counts now.
func (s *Service) FlushPulls() { s.pulls.flush() }

func (p *pullRecorder) close() error {
	close(p.stop)
	<-p.done
	return nil
}
