package registry

import (
	"context"
	"errors"

	"github.com/wharf-dev/wharf/internal/store"
)

// GCStats reports what a garbage collection did.
type GCStats struct {
	UploadsPurged int   // idle upload sessions dropped
	LinksRemoved  int   // repository blob links no image used
	BlobsDeleted  int   // blobs whose bytes were removed
	BytesFreed    int64 // their total size
}

const gcBatch = 500

// gcLease is held by the one process collecting garbage.
const gcLease = "gc"

// ErrGCBusy is returned when another process is collecting garbage.
var ErrGCBusy = errf(KindTryAgain, "garbage collection is running in another process; try again later")

// lease takes the named lease for this call under a new holder id, or returns busy when another process
// holds it. release gives it back.
func (s *Service) lease(ctx context.Context, name string, busy error) (holder string, release func(), err error) {
	holder = newID()
	var ok bool
	if err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
		ok, err = tx.AcquireLease(name, holder, s.clock.Now(), leaseTTL)
		return err
	}); err != nil {
		return "", nil, internal(err)
	}
	if !ok {
		return "", nil, busy
	}
	return holder, func() {
		s.meta.Update(context.WithoutCancel(ctx), func(tx store.Tx) error { return tx.ReleaseLease(name, holder) })
	}, nil
}

// CollectGarbage reclaims storage online, while pushes and pulls go on:
//  1. upload sessions idle longer than the upload TTL are dropped;
//  2. repository links to blobs that no image of the repository uses are removed, once older than the
//     grace period (younger ones may belong to a push whose manifest has not arrived yet);
//  3. blobs no repository links, untouched for the grace period, are marked Deleting in one transaction
//     that re-checks those conditions, then their bytes are deleted, then their rows. A push that meets a
//     Deleting blob waits for it to be gone and stores it again, so no image ever references a deleted blob.
//
// One process collects at a time (a lease in the metadata store); another gets ErrGCBusy.
func (s *Service) CollectGarbage(ctx context.Context) (GCStats, error) {
	var st GCStats
	_, release, err := s.lease(ctx, gcLease, ErrGCBusy)
	if err != nil {
		return st, err
	}
	defer release()
	now := s.clock.Now()
	cutoff := now.Add(-s.cfg.GCGrace)

	for {
		var stale []store.Upload
		if err := s.meta.View(ctx, func(tx store.Tx) (err error) {
			stale, err = tx.StaleUploads(now.Add(-s.cfg.UploadTTL), gcBatch)
			return err
		}); err != nil {
			return st, internal(err)
		}
		for _, u := range stale {
			if err := s.dropUpload(ctx, u.ID); err != nil {
				return st, err
			}
			st.UploadsPurged++
		}
		if len(stale) < gcBatch {
			break
		}
	}

	for {
		var n int
		if err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
			n, err = tx.UnlinkUnreferenced(cutoff, gcBatch)
			return err
		}); err != nil {
			return st, internal(err)
		}
		st.LinksRemoved += n
		if n < gcBatch {
			break
		}
	}

	for {
		var garbage []store.Blob
		if err := s.meta.View(ctx, func(tx store.Tx) (err error) {
			garbage, err = tx.GarbageBlobs(cutoff, gcBatch)
			return err
		}); err != nil {
			return st, internal(err)
		}
		progress := 0
		for _, b := range garbage {
			if b.Status == store.BlobActive {
				var marked bool
				if err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
					marked, err = tx.MarkBlobDeleting(b.Digest, cutoff)
					return err
				}); err != nil {
					return st, internal(err)
				}
				if !marked {
					continue // linked or touched meanwhile: in use again
				}
			}
			if err := s.blobs.Delete(ctx, b.Digest); err != nil {
				return st, internal(err)
			}
			if err := s.meta.Update(ctx, func(tx store.Tx) error {
				if err := tx.DeleteBlob(b.Digest); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				return nil
			}); err != nil {
				return st, internal(err)
			}
			st.BlobsDeleted++
			st.BytesFreed += b.Size
			progress++
		}
		if len(garbage) < gcBatch || progress == 0 {
			break
		}
	}
	if st != (GCStats{}) {
		s.log.Info("garbage collected", "uploads", st.UploadsPurged, "links", st.LinksRemoved, "blobs", st.BlobsDeleted, "bytes", st.BytesFreed)
	}
	return st, nil
}

// RemoveAbandonedUploads deletes upload files that no upload session owns: what a crash left behind.
// Run it at start-up, before serving: a monolithic upload in flight has a file but no session.
func (s *Service) RemoveAbandonedUploads(ctx context.Context) (int, error) {
	ids, err := s.blobs.Uploads(ctx)
	if err != nil {
		return 0, internal(err)
	}
	removed := 0
	for _, id := range ids {
		var exists bool
		if err := s.meta.View(ctx, func(tx store.Tx) (err error) {
			exists, err = tx.UploadExists(id)
			return err
		}); err != nil {
			return removed, internal(err)
		}
		if !exists {
			if err := s.blobs.Cancel(ctx, id); err != nil {
				return removed, internal(err)
			}
			removed++
		}
	}
	return removed, nil
}
