// Package fs stores blobs as files: blobs/<algorithm>/<first two hex>/<hex>, uploads/<id>, readable by
// their owner only (images may be private).
// A blob appears by an atomic hard link of a fsynced upload file, cut to the bytes committed, so a reader
// never sees a partial blob, and a stored blob is never replaced.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/blob"
)

// Store is a blob.Store on a local directory.
type Store struct {
	blobs   string
	uploads string
}

var _ blob.Store = (*Store)(nil)

// New opens (creating) a blob store under root.
func New(root string) (*Store, error) {
	s := &Store{blobs: filepath.Join(root, "blobs"), uploads: filepath.Join(root, "uploads")}
	for _, d := range []string{s.blobs, s.uploads} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Store) path(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("%w: %v", blob.ErrNotFound, err)
	}
	hex := d.Encoded()
	return filepath.Join(s.blobs, string(d.Algorithm()), hex[:2], hex), nil
}

func (s *Store) uploadPath(id string) (string, error) {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return "", blob.ErrUploadUnknown
	}
	return filepath.Join(s.uploads, id), nil
}

// Open opens a blob; the returned *os.File lets net/http send it with sendfile.
func (s *Store) Open(_ context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	p, err := s.path(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.ErrNotFound
	}
	return f, err
}

func (s *Store) Stat(_ context.Context, d digest.Digest) (int64, error) {
	p, err := s.path(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, blob.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (s *Store) Delete(_ context.Context, d digest.Digest) error {
	p, err := s.path(d)
	if err != nil {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Append writes through the page cache, pacing the kernel's writeback (see pipeCopy). If the disk fails
// to write some of the bytes, the upload is removed: its next append or commit finds it unknown.
func (s *Store) Append(_ context.Context, id string, offset int64, r io.Reader) (int64, error) {
	p, err := s.uploadPath(id)
	if err != nil {
		return 0, err
	}
	flags := os.O_WRONLY
	if offset == 0 {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(p, flags, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, blob.ErrUploadUnknown
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Size() < offset {
		return 0, fmt.Errorf("%w: upload %s holds %d bytes, expected %d", blob.ErrOffset, id, fi.Size(), offset)
	}
	// The bytes reach the disk while they stream and stay in the page cache for the first pull.
	n, err := pipeCopy(f, offset, r)
	if err == nil && fi.Size() > offset+n {
		err = f.Truncate(offset + n) // drop bytes of an earlier failed append beyond this one
	}
	if _, lost := errors.AsType[*writebackError](err); lost {
		os.Remove(p) // the disk failed some of its bytes, and the fsync at commit might not say so
		return 0, err
	}
	if err != nil {
		f.Truncate(offset)
		return 0, err
	}
	return n, nil
}

func (s *Store) ReadUpload(_ context.Context, id string) (io.ReadCloser, error) {
	p, err := s.uploadPath(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.ErrUploadUnknown
	}
	return f, err
}

func (s *Store) Commit(_ context.Context, id string, d digest.Digest, size int64) error {
	up, err := s.uploadPath(id)
	if err != nil {
		return err
	}
	bp, err := s.path(d)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(up, os.O_RDWR|os.O_CREATE, 0o600) // an empty blob may have had no append
	if err != nil {
		return err
	}
	err = commitSize(f, id, size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	dir := filepath.Dir(bp)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// A hard link appears atomically and fails if the blob is there already: a blob is never replaced.
	err = os.Link(up, bp)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		// A file system without hard links: rename, unless the blob is there.
		if _, serr := os.Stat(bp); serr == nil {
			err = fs.ErrExist
		} else {
			err = os.Rename(up, bp)
		}
	}
	switch {
	case errors.Is(err, fs.ErrExist): // the blob is stored already: this upload is not needed
		return s.Cancel(context.Background(), id)
	case err != nil:
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	return s.Cancel(context.Background(), id)
}

// commitSize cuts an upload file to the size committed — bytes a crash left beyond it are not the
// blob's — and checks it holds that many.
func commitSize(f *os.File, id string, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < size {
		return fmt.Errorf("%w: upload %s holds %d bytes, committed %d", blob.ErrOffset, id, fi.Size(), size)
	}
	if fi.Size() > size {
		return f.Truncate(size)
	}
	return nil
}

func (s *Store) Cancel(_ context.Context, id string) error {
	p, err := s.uploadPath(id)
	if err != nil {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *Store) Uploads(_ context.Context) ([]string, error) {
	entries, err := os.ReadDir(s.uploads)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
