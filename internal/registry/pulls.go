package registry

import (
	"context"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

// pullRecorder keeps images' last pull times in memory and writes them in batches, so a pull costs no write.
type pullRecorder struct {
	s       *Service
	mu      sync.Mutex
	pending map[int64]map[digest.Digest]time.Time
	stop    chan struct{}
	done    chan struct{}
}

func newPullRecorder(s *Service, every time.Duration) *pullRecorder {
	p := &pullRecorder{s: s, pending: map[int64]map[digest.Digest]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
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

func (p *pullRecorder) record(repoID int64, d digest.Digest, at time.Time) {
	p.mu.Lock()
	m := p.pending[repoID]
	if m == nil {
		m = map[digest.Digest]time.Time{}
		p.pending[repoID] = m
	}
	m[d] = at
	p.mu.Unlock()
}

// flush writes what was recorded; pulls of deleted images are simply dropped.
func (p *pullRecorder) flush() {
	p.mu.Lock()
	batch := p.pending
	p.pending = map[int64]map[digest.Digest]time.Time{}
	p.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := p.s.meta.Update(context.Background(), func(tx store.Tx) error {
		for repoID, pulls := range batch {
			if err := tx.TouchPulls(repoID, pulls); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		p.s.log.Warn("recording pull times failed", "err", err)
	}
}

// Flush writes the recorded pull times now.
func (s *Service) FlushPulls() { s.pulls.flush() }

func (p *pullRecorder) close() error {
	close(p.stop)
	<-p.done
	return nil
}
