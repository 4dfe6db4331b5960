package registry

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pendingPull is a pull through in progress: its manifests, verified and served from memory until they
// are stored, and the blobs being fetched.
type pendingPull struct {
	manifests []pendingManifest // an index after its images
	blobs     map[digest.Digest]*inflightBlob
	done      chan struct{} // closed once everything is stored, or the fetch failed (err)
	err       error
	fetched   atomic.Int64 // bytes fetched from the upstream
}

type pendingManifest struct {
	ref         string // as pulled: a tag, or a digest
	contentType string
	info        *ManifestInfo
}

// inflightSet holds the pull throughs in progress in this process, by registry, repository and
// reference (the reference pulled and the digests of its manifests), and their blobs by digest.
type inflightSet struct {
	n     atomic.Int64 // pulls in progress: lookups are skipped when there are none
	mu    sync.Mutex
	pulls map[string]*pendingPull
	blobs map[string]*inflightBlob
}

func inflightKey(registryID, name, ref string) string {
	return registryID + "\x00" + name + "\x00" + ref
}

// pull returns the pull in progress that fetches ref, nil when there is none.
func (s *inflightSet) pull(registryID, name, ref string) *pendingPull {
	if s.n.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pulls[inflightKey(registryID, name, ref)]
}

// manifest returns a manifest of a pull in progress, and the pull; nil when there is none.
func (s *inflightSet) manifest(registryID, name, ref string) (*ManifestInfo, *pendingPull) {
	p := s.pull(registryID, name, ref)
	if p == nil {
		return nil, nil
	}
	for _, m := range p.manifests {
		if m.ref == ref || m.info.Digest.String() == ref {
			return m.info, p
		}
	}
	return nil, nil
}

// blob returns a blob being fetched into the repository, with a reference on it that the caller
// releases; nil when there is none.
func (s *inflightSet) blob(registryID, name string, d digest.Digest) *inflightBlob {
	if s.n.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.blobs[inflightKey(registryID, name, d.String())]
	if b != nil {
		b.acquire()
	}
	return b
}

func (s *inflightSet) start(registryID, name string, p *pendingPull) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pulls == nil {
		s.pulls, s.blobs = map[string]*pendingPull{}, map[string]*inflightBlob{}
	}
	for _, m := range p.manifests {
		s.pulls[inflightKey(registryID, name, m.ref)] = p
		s.pulls[inflightKey(registryID, name, m.info.Digest.String())] = p
	}
	for d, b := range p.blobs {
		s.blobs[inflightKey(registryID, name, d.String())] = b
	}
	s.n.Add(1)
}

// finish forgets a pull that ended: what it stored is found in the stores from now on.
func (s *inflightSet) finish(registryID, name string, p *pendingPull) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range p.manifests {
		for _, ref := range []string{m.ref, m.info.Digest.String()} {
			if k := inflightKey(registryID, name, ref); s.pulls[k] == p {
				delete(s.pulls, k)
			}
		}
	}
	for d, b := range p.blobs {
		if k := inflightKey(registryID, name, d.String()); s.blobs[k] == b {
			delete(s.blobs, k)
		}
		b.release() // the fetch's own reference
	}
	s.n.Add(-1)
}

// inflightBlob is a blob being fetched: its bytes so far, in a temporary file that readers follow.
// The file goes when the fetch and the last reader are done with it.
type inflightBlob struct {
	desc    ocispec.Descriptor
	mu      sync.Mutex
	cond    *sync.Cond
	file    *os.File // nil until the first bytes arrive
	written int64
	ended   bool
	err     error // why the fetch failed
	refs    int   // the fetch and each reader
}

func newInflightBlob(desc ocispec.Descriptor) *inflightBlob {
	b := &inflightBlob{desc: desc, refs: 1}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// Write appends bytes fetched (the fetch's only writer).
func (b *inflightBlob) Write(p []byte) (int, error) {
	b.mu.Lock()
	f := b.file
	b.mu.Unlock()
	if f == nil {
		var err error
		if f, err = os.CreateTemp("", "wharf-pull-through-*"); err != nil {
			return 0, err
		}
		b.mu.Lock()
		b.file = f
		b.mu.Unlock()
	}
	n, err := f.WriteAt(p, b.written)
	b.mu.Lock()
	b.written += int64(n)
	b.cond.Broadcast()
	b.mu.Unlock()
	return n, err
}

// end records the end of the fetch: readers get the rest, or its error.
func (b *inflightBlob) end(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil && b.written != b.desc.Size {
		err = errors.New("the blob's fetch ended early")
	}
	b.ended, b.err = true, err
	b.cond.Broadcast()
}

func (b *inflightBlob) acquire() {
	b.mu.Lock()
	b.refs++
	b.mu.Unlock()
}

func (b *inflightBlob) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refs--; b.refs == 0 && b.file != nil {
		b.file.Close()
		os.Remove(b.file.Name())
		b.file = nil
	}
}

// blobFollower reads an inflight blob as it arrives; it seeks within the blob's size.
type blobFollower struct {
	b   *inflightBlob
	off int64
}

// The last byte of the blob is given once the fetch has ended and verified the blob: a reader never gets
// the whole of a blob whose bytes do not match its digest, only its fetch's error.
func (r *blobFollower) Read(p []byte) (int, error) {
	b := r.b
	b.mu.Lock()
	readable := func() int64 {
		if b.ended {
			return min(b.written, b.desc.Size)
		}
		return min(b.written, b.desc.Size-1)
	}
	for readable() <= r.off && !b.ended {
		b.cond.Wait()
	}
	written, err, f := readable(), b.err, b.file
	b.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if r.off >= written {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), written-r.off)]
	n, err := f.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *blobFollower) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.b.desc.Size
	}
	if offset < 0 {
		return 0, errors.New("seek before the start of the blob")
	}
	r.off = offset
	return offset, nil
}

func (r *blobFollower) Close() error {
	r.b.release()
	return nil
}
