package server

import (
	"context"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/internal/blob"
	"github.com/wharf-dev/wharf/internal/store"
)

// timedStores returns the stores with each operation measured into the store latency histograms. The
// series are resolved once, so a measurement costs two clock readings and an observation.
func (m *metrics) timedStores(st *Stores) *Stores {
	meta := &timedMeta{Store: st.Meta, view: m.metaTime.WithLabelValues("view"), update: m.metaTime.WithLabelValues("update")}
	blobs := &timedBlobs{Store: st.Blobs}
	for op, o := range map[string]*prometheus.Observer{"open": &blobs.open, "stat": &blobs.stat, "delete": &blobs.delete,
		"append": &blobs.append, "read_upload": &blobs.readUpload, "commit": &blobs.commit, "cancel": &blobs.cancel,
		"uploads": &blobs.uploads, "presign": &blobs.presign} {
		*o = m.blobTime.WithLabelValues(op)
	}
	var b blob.Store = blobs
	if p, ok := st.Blobs.(blob.Presigner); ok { // S3: clients fetch blobs directly
		b = &timedPresigner{blobs, p}
	}
	timed := *st // whatever else the stores hold, as it is
	timed.Meta, timed.Blobs = meta, b
	return &timed
}

func since(o prometheus.Observer, start time.Time) { o.Observe(time.Since(start).Seconds()) }

// timedMeta measures the metadata store's transactions, the work of their function included.
type timedMeta struct {
	store.Store
	view, update prometheus.Observer
}

func (s *timedMeta) View(ctx context.Context, fn func(store.Tx) error) error {
	defer since(s.view, time.Now())
	return s.Store.View(ctx, fn)
}

func (s *timedMeta) Update(ctx context.Context, fn func(store.Tx) error) error {
	defer since(s.update, time.Now())
	return s.Store.Update(ctx, fn)
}

// timedBlobs measures the blob store's operations: Open until the blob can be read, not its reading.
type timedBlobs struct {
	blob.Store
	open, stat, delete, append, readUpload, commit, cancel, uploads, presign prometheus.Observer
}

func (s *timedBlobs) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	defer since(s.open, time.Now())
	return s.Store.Open(ctx, d)
}

func (s *timedBlobs) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	defer since(s.stat, time.Now())
	return s.Store.Stat(ctx, d)
}

func (s *timedBlobs) Delete(ctx context.Context, d digest.Digest) error {
	defer since(s.delete, time.Now())
	return s.Store.Delete(ctx, d)
}

func (s *timedBlobs) Append(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	defer since(s.append, time.Now())
	return s.Store.Append(ctx, id, offset, r)
}

func (s *timedBlobs) ReadUpload(ctx context.Context, id string) (io.ReadCloser, error) {
	defer since(s.readUpload, time.Now())
	return s.Store.ReadUpload(ctx, id)
}

func (s *timedBlobs) Commit(ctx context.Context, id string, d digest.Digest, size int64) error {
	defer since(s.commit, time.Now())
	return s.Store.Commit(ctx, id, d, size)
}

func (s *timedBlobs) Cancel(ctx context.Context, id string) error {
	defer since(s.cancel, time.Now())
	return s.Store.Cancel(ctx, id)
}

func (s *timedBlobs) Uploads(ctx context.Context) ([]string, error) {
	defer since(s.uploads, time.Now())
	return s.Store.Uploads(ctx)
}

// timedPresigner keeps a store's presigned URLs (S3), measured too.
type timedPresigner struct {
	*timedBlobs
	p blob.Presigner
}

func (s *timedPresigner) URL(ctx context.Context, d digest.Digest, ttl time.Duration) (string, error) {
	defer since(s.timedBlobs.presign, time.Now())
	return s.p.URL(ctx, d, ttl)
}
