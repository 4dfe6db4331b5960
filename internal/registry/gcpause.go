package registry

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// PauseGC keeps garbage collection from deleting anything until resume is called, in this process and in
// every other on the same metadata: it takes the collector's lease, waiting while a collection runs, and
// renews it until resume. A backup holds it while it copies the blobs its snapshot uses.
func (s *Service) PauseGC(ctx context.Context) (resume func(), err error) {
	holder := newID()
	take := func(ctx context.Context) (ok bool, err error) {
		err = s.meta.Update(ctx, func(tx store.Tx) (err error) {
			ok, err = tx.AcquireLease(gcLease, holder, s.clock.Now(), leaseTTL)
			return err
		})
		return ok, err
	}
	for waited := false; ; waited = true {
		ok, err := take(ctx)
		if err != nil {
			return nil, internal(err)
		}
		if ok {
			break
		}
		if !waited {
			s.log.Info("waiting for a garbage collection to finish")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.clock.After(time.Second):
		}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-s.clock.After(leaseTTL / 5):
				if ok, err := take(context.WithoutCancel(ctx)); err != nil || !ok {
					s.log.Warn("garbage collection pause: could not renew the lease", "err", err)
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-stopped
		s.meta.Update(context.WithoutCancel(ctx), func(tx store.Tx) error { return tx.ReleaseLease(gcLease, holder) })
	}, nil
}
