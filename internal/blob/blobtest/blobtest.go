// Package blobtest is the conformance suite every blob.Store implementation must pass.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/blob"
)

// Run runs the suite. open returns a new, empty store each time it is called.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	ctx := context.Background()
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	d := digest.FromBytes(data)

	t.Run("UploadCommitOpen", func(t *testing.T) {
		s := open(t)
		n, err := s.Append(ctx, "u1", 0, bytes.NewReader(data[:1<<20]))
		if err != nil || n != 1<<20 {
			t.Fatalf("Append = %d, %v", n, err)
		}
		if _, err := s.Open(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("blob visible before commit: %v", err)
		}
		n, err = s.Append(ctx, "u1", 1<<20, bytes.NewReader(data[1<<20:]))
		if err != nil || n != int64(len(data)-1<<20) {
			t.Fatalf("second Append = %d, %v", n, err)
		}
		rc, err := s.ReadUpload(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, data) {
			t.Fatal("ReadUpload returned other bytes")
		}
		if err := s.Commit(ctx, "u1", d, int64(len(data))); err != nil {
			t.Fatal(err)
		}
		if size, err := s.Stat(ctx, d); err != nil || size != int64(len(data)) {
			t.Fatalf("Stat = %d, %v", size, err)
		}
		rs, err := s.Open(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		if _, err := rs.Seek(1000, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		part := make([]byte, 100)
		if _, err := io.ReadFull(rs, part); err != nil || !bytes.Equal(part, data[1000:1100]) {
			t.Fatalf("ranged read: %v", err)
		}
		if ids, _ := s.Uploads(ctx); slices.Contains(ids, "u1") {
			t.Fatal("committed upload still listed")
		}
	})

	t.Run("EmptyBlob", func(t *testing.T) {
		s := open(t)
		empty := digest.FromBytes(nil)
		if _, err := s.Append(ctx, "e", 0, bytes.NewReader(nil)); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, "e", empty, 0); err != nil {
			t.Fatal(err)
		}
		if size, err := s.Stat(ctx, empty); err != nil || size != 0 {
			t.Fatalf("Stat = %d, %v", size, err)
		}
	})

	t.Run("WrongOffset", func(t *testing.T) {
		s := open(t)
		if _, err := s.Append(ctx, "u", 0, bytes.NewReader(data[:10])); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, "u", 20, bytes.NewReader(data[10:20])); !errors.Is(err, blob.ErrOffset) {
			t.Fatalf("append past the end: %v, want ErrOffset", err)
		}
		if _, err := s.Append(ctx, "missing", 5, bytes.NewReader(data[:1])); !errors.Is(err, blob.ErrUploadUnknown) {
			t.Fatalf("append to an unknown upload: %v", err)
		}
	})

	t.Run("FailedAppendIsUndone", func(t *testing.T) {
		s := open(t)
		if _, err := s.Append(ctx, "u", 0, bytes.NewReader(data[:10])); err != nil {
			t.Fatal(err)
		}
		failing := io.MultiReader(bytes.NewReader(data[10:5000]), errReader{})
		if _, err := s.Append(ctx, "u", 10, failing); err == nil {
			t.Fatal("a failing reader did not fail the append")
		}
		if _, err := s.Append(ctx, "u", 10, bytes.NewReader(data[10:20])); err != nil {
			t.Fatalf("append after a failed one: %v", err)
		}
		rc, _ := s.ReadUpload(ctx, "u")
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, data[:20]) {
			t.Fatalf("upload holds %d bytes after a failed append, want the 20 appended", len(got))
		}
	})

	t.Run("CancelAndDelete", func(t *testing.T) {
		s := open(t)
		s.Append(ctx, "c", 0, bytes.NewReader(data[:10]))
		if ids, _ := s.Uploads(ctx); !slices.Contains(ids, "c") {
			t.Fatalf("Uploads = %v, want c", ids)
		}
		if err := s.Cancel(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		if err := s.Cancel(ctx, "c"); err != nil {
			t.Fatalf("second cancel: %v", err)
		}
		if _, err := s.ReadUpload(ctx, "c"); !errors.Is(err, blob.ErrUploadUnknown) {
			t.Fatalf("cancelled upload readable: %v", err)
		}
		small := data[:64]
		sd := digest.FromBytes(small)
		s.Append(ctx, "k", 0, bytes.NewReader(small))
		if err := s.Commit(ctx, "k", sd, int64(len(small))); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, sd); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, sd); err != nil {
			t.Fatalf("deleting a missing blob: %v", err)
		}
		if _, err := s.Stat(ctx, sd); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("deleted blob: %v", err)
		}
	})

	t.Run("CommitSameDigestTwice", func(t *testing.T) {
		s := open(t)
		small := data[:64]
		sd := digest.FromBytes(small)
		for _, id := range []string{"a", "b"} {
			s.Append(ctx, id, 0, bytes.NewReader(small))
			if err := s.Commit(ctx, id, sd, int64(len(small))); err != nil {
				t.Fatalf("commit %s: %v", id, err)
			}
		}
		if size, err := s.Stat(ctx, sd); err != nil || size != 64 {
			t.Fatalf("Stat = %d, %v", size, err)
		}
	})

	// What an upload holds beyond the size committed — left there by a crash in the middle of an Append —
	// never becomes part of the blob: the commit drops it or is refused.
	t.Run("CommitOnlyTheSizeCommitted", func(t *testing.T) {
		s := open(t)
		for _, n := range []int{64, 0} {
			id := fmt.Sprintf("longer-%d", n)
			if _, err := s.Append(ctx, id, 0, bytes.NewReader(data[:n+4096])); err != nil {
				t.Fatal(err)
			}
			want := digest.FromBytes(data[:n])
			err := s.Commit(ctx, id, want, int64(n))
			if err != nil {
				if !errors.Is(err, blob.ErrOffset) {
					t.Fatalf("commit of %d of %d bytes: %v, want success or ErrOffset", n, n+4096, err)
				}
				if _, err := s.Stat(ctx, want); !errors.Is(err, blob.ErrNotFound) {
					t.Fatalf("a refused commit stored the blob: %v", err)
				}
				continue
			}
			if got := readAll(t, s, want); !bytes.Equal(got, data[:n]) {
				t.Fatalf("blob of %d bytes holds %d", n, len(got))
			}
		}
		if _, err := s.Append(ctx, "short", 0, bytes.NewReader(data[:10])); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, "short", digest.FromBytes(data[:20]), 20); !errors.Is(err, blob.ErrOffset) {
			t.Fatalf("commit of more bytes than the upload holds: %v, want ErrOffset", err)
		}
	})

	// A blob is never replaced: committing other bytes under a stored digest leaves the stored bytes.
	t.Run("CommitNeverReplaces", func(t *testing.T) {
		s := open(t)
		good := data[:100]
		gd := digest.FromBytes(good)
		s.Append(ctx, "good", 0, bytes.NewReader(good))
		if err := s.Commit(ctx, "good", gd, int64(len(good))); err != nil {
			t.Fatal(err)
		}
		evil := bytes.Repeat([]byte("attacker"), 1000)
		s.Append(ctx, "evil", 0, bytes.NewReader(evil))
		if err := s.Commit(ctx, "evil", gd, int64(len(evil))); err != nil {
			t.Fatalf("commit under a stored digest: %v", err)
		}
		if size, err := s.Stat(ctx, gd); err != nil || size != int64(len(good)) {
			t.Fatalf("Stat = %d, %v", size, err)
		}
		if got := readAll(t, s, gd); !bytes.Equal(got, good) {
			t.Fatal("the stored blob was replaced")
		}
		if ids, _ := s.Uploads(ctx); slices.Contains(ids, "evil") {
			t.Fatal("the dropped upload is still listed")
		}
	})

	t.Run("HostileIDsAndDigests", func(t *testing.T) {
		s := open(t)
		for _, id := range []string{"../x", "a/b", "..", ""} {
			if _, err := s.Append(ctx, id, 0, bytes.NewReader(data[:1])); err == nil {
				t.Fatalf("upload id %q accepted", id)
			}
		}
		if _, err := s.Open(ctx, digest.Digest("sha256:../../etc/passwd")); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("hostile digest: %v", err)
		}
	})
}

func readAll(t *testing.T, s blob.Store, d digest.Digest) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
