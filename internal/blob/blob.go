// Package blob defines Wharf's content-addressed blob store: one global namespace of immutable blobs named
// by digest, filled through upload sessions that stream bytes and become visible only when committed.
// The store knows nothing of repositories or of which blobs are in use; the metadata store does.
// Every implementation passes the suite in blobtest.
package blob

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

// Errors every implementation returns, matched with errors.Is.
var (
	ErrNotFound      = errors.New("blob: not found")
	ErrUploadUnknown = errors.New("blob: upload not found")
	ErrOffset        = errors.New("blob: upload offset does not match")
	// ErrFull is wrapped in the error of a write refused because the store has no space left (a file
	// system's ENOSPC counts too).
	ErrFull = errors.New("blob: no space left")
)

// Store keeps blobs. Upload ids are chosen by the caller (random, unguessable) and never reused.
type Store interface {
	// Open returns the blob's content. The size is known from metadata; readers need not stat.
	Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error)
	// Stat returns the stored blob's size, or ErrNotFound.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Delete removes a blob. Deleting a missing blob is not an error.
	Delete(ctx context.Context, d digest.Digest) error

	// Append adds all of r at the end of upload id, which holds offset bytes so far (0 creates it).
	// It is all or nothing: on error the upload still holds offset bytes. It returns the bytes added.
	Append(ctx context.Context, id string, offset int64, r io.Reader) (int64, error)
	// ReadUpload reads an upload's bytes from the start.
	ReadUpload(ctx context.Context, id string) (io.ReadCloser, error)
	// Commit makes the first size bytes of upload id durable as blob d and removes the upload. The caller
	// recorded those size bytes and verified they hash to d; whatever the upload holds beyond them (a crash
	// in the middle of an Append can leave bytes there) never becomes part of the blob: Commit drops them,
	// or refuses with ErrOffset. A blob already stored under d is never replaced: its content is d's, so
	// the upload is dropped and Commit succeeds.
	Commit(ctx context.Context, id string, d digest.Digest, size int64) error
	// Cancel removes an upload. Cancelling a missing upload is not an error.
	Cancel(ctx context.Context, id string) error
	// Uploads lists the ids of uploads present in the store, to remove abandoned ones.
	Uploads(ctx context.Context) ([]string, error)
}

// Presigner is implemented by stores whose blobs clients can fetch directly (S3): URL returns a URL that
// GETs blob d without credentials until ttl has passed.
type Presigner interface {
	URL(ctx context.Context, d digest.Digest, ttl time.Duration) (string, error)
}
