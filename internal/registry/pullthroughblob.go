package registry

import (
	"context"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

// A fetch holds a lease on each blob it fetches, until the blob is stored (or its fetch failed), so that
// the other nodes, which serve the pull's blob requests a load balancer sends them, wait for the blob
// rather than answer that it is unknown.

type blobWaitKey struct{}

// WithBlobWaitsFor bounds the waits for blobs other nodes fetch (StatBlob) of all the calls made with ctx
// to d from now in all, rather than each to its own maxBlobWait: for a call that looks up many blobs
// (ECR's BatchCheckLayerAvailability). Past it, a blob being fetched is unknown.
func WithBlobWaitsFor(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, blobWaitKey{}, time.Now().Add(d))
}

// maxBlobWait bounds how long a read waits for a blob another node fetches: longer than a lease lives
// unrenewed, so a fetch whose node died is not waited for longer than that.
const maxBlobWait = 2 * pullThroughLeaseTTL

// blobLeaseName names the lease on the fetch of a blob into a repository.
func blobLeaseName(registryID, name string, d digest.Digest) string {
	return "pull-through-blob/" + registryID + "/" + name + "@" + d.String()
}

// blobLeases are the leases a fetch holds on its blobs, with its own lease's holder.
type blobLeases struct {
	mu   sync.Mutex
	all  []string        // every lease taken: released when the fetch ends
	held map[string]bool // those still renewed: blobs not stored yet
}

// holdBlobs takes the leases on the blobs of p, before its manifest is served. A lease another fetch
// holds (a blob two pulls share) is taken when renewed once that fetch is done with it.
func (s *Service) holdBlobs(ctx context.Context, l *fetchLease, registryID, name string, p *pendingPull) {
	l.blobs.held = map[string]bool{}
	for d := range p.blobs {
		n := blobLeaseName(registryID, name, d)
		l.blobs.all = append(l.blobs.all, n)
		l.blobs.held[n] = true
	}
	if err := s.renewBlobs(ctx, l); err != nil {
		s.log.Warn("pull through cache: taking the leases of a fetch's blobs failed", "lease", l.name, "err", err)
	}
}

// renewBlobs renews the leases on the blobs not stored yet.
func (s *Service) renewBlobs(ctx context.Context, l *fetchLease) error {
	l.blobs.mu.Lock()
	names := make([]string, 0, len(l.blobs.held))
	for n := range l.blobs.held {
		names = append(names, n)
	}
	l.blobs.mu.Unlock()
	if len(names) == 0 {
		return nil
	}
	return s.meta.Update(ctx, func(tx store.Tx) error {
		now := s.clock.Now()
		for _, n := range names {
			if _, err := tx.AcquireLease(n, l.holder, now, pullThroughLeaseTTL); err != nil {
				return err
			}
		}
		return nil
	})
}

// releaseBlob releases the lease on a blob stored, or whose fetch failed.
func (s *Service) releaseBlob(ctx context.Context, l *fetchLease, registryID, name string, d digest.Digest) {
	n := blobLeaseName(registryID, name, d)
	l.blobs.mu.Lock()
	delete(l.blobs.held, n)
	l.blobs.mu.Unlock()
	if err := s.meta.Update(context.WithoutCancel(ctx), func(tx store.Tx) error { return tx.ReleaseLease(n, l.holder) }); err != nil {
		s.log.Warn("pull through cache: releasing a blob's lease failed", "lease", n, "err", err)
	}
}

// releaseBlobs releases the leases on the blobs of a fetch that ended: a renewal may have taken one again
// after it was released.
func (s *Service) releaseBlobs(ctx context.Context, l *fetchLease) {
	l.blobs.mu.Lock()
	names := l.blobs.all
	l.blobs.held = nil
	l.blobs.mu.Unlock()
	if len(names) == 0 {
		return
	}
	if err := s.meta.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		for _, n := range names {
			if err := tx.ReleaseLease(n, l.holder); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		s.log.Warn("pull through cache: releasing the leases of a fetch's blobs failed", "lease", l.name, "err", err)
	}
}

// blobLeaseHeld tells whether a fetch holds the lease on a blob (a read: a wait polls it).
func (s *Service) blobLeaseHeld(ctx context.Context, registryID, name string, d digest.Digest) (bool, error) {
	var held bool
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		held, err = tx.LeaseHeld(blobLeaseName(registryID, name, d), s.clock.Now())
		return err
	})
	return held, err
}

// awaitFetchedBlob waits for a blob of a repository under a pull through cache rule that is neither stored
// nor being fetched here: while another node's fetch holds its lease, until it is stored, at most
// maxBlobWait. A blob nobody fetches, or whose fetch failed, is unknown.
func (s *Service) awaitFetchedBlob(ctx context.Context, registryID, name string, d digest.Digest) (BlobInfo, error) {
	until := time.Now().Add(maxBlobWait)
	if shared, ok := ctx.Value(blobWaitKey{}).(time.Time); ok && shared.Before(until) {
		until = shared
	}
	wait, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	for {
		held, err := s.blobLeaseHeld(wait, registryID, name, d)
		if ctx.Err() != nil {
			return BlobInfo{}, ctx.Err()
		}
		if wait.Err() != nil {
			return BlobInfo{}, blobUnknown(d)
		}
		if err != nil {
			return BlobInfo{}, internal(err)
		}
		// Looked for after the lease: a blob stored before its lease was released is found.
		info, err := s.storedBlob(ctx, registryID, name, d)
		if KindOf(err) != KindBlobUnknown || !held {
			return info, err
		}
		if err := sleep(wait, leasePoll); err != nil {
			if ctx.Err() != nil {
				return BlobInfo{}, ctx.Err()
			}
			return BlobInfo{}, blobUnknown(d)
		}
	}
}
