package fs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/blob"
	"github.com/wharf-dev/wharf/internal/blob/blobtest"
	"github.com/wharf-dev/wharf/internal/blob/fs"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := fs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestFilesArePrivate: images may be private; their blobs are readable by Wharf's user only.
func TestFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	s, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := []byte("private layer")
	d := digest.FromBytes(data)
	if _, err := s.Append(ctx, "u", 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "u", d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(path string, e iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		fi, err := e.Info()
		if err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v", path, fi.Mode().Perm())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pieces appends data to upload id in pieces ending at the offsets given (unaligned, and longer than the
// bytes an append keeps in flight).
func pieces(t *testing.T, s *fs.Store, id string, data []byte, ends ...int) {
	t.Helper()
	start := 0
	for _, end := range append(ends, len(data)) {
		n, err := s.Append(context.Background(), id, int64(start), bytes.NewReader(data[start:end]))
		if err != nil || n != int64(end-start) {
			t.Fatalf("Append at %d = %d, %v", start, n, err)
		}
		start = end
	}
}

// TestLargeUploadIntact: a blob of many MiB, appended at unaligned offsets, holds exactly its bytes once
// committed, and its upload is gone.
func TestLargeUploadIntact(t *testing.T) {
	dir := t.TempDir()
	s, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := make([]byte, 40<<20+123)
	rand.Read(data)
	d := digest.FromBytes(data)
	pieces(t, s, "big", data, 1, 7<<20+1, 25<<20+4095)
	if err := s.Commit(ctx, "big", d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("blob holds %d bytes (%v), not the %d committed", len(got), err, len(data))
	}
	if ids, _ := s.Uploads(ctx); len(ids) != 0 {
		t.Fatalf("uploads left: %v", ids)
	}
}

// TestFailedLargeAppend: an append that fails after many MiB leaves no blob and the upload as it was;
// the chunk sent again completes it.
func TestFailedLargeAppend(t *testing.T) {
	s, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := make([]byte, 36<<20+5)
	rand.Read(data)
	d := digest.FromBytes(data)
	pieces(t, s, "u", data[:3<<20+7])
	failing := io.MultiReader(bytes.NewReader(data[3<<20+7:]), errReader{})
	if _, err := s.Append(ctx, "u", 3<<20+7, failing); err == nil {
		t.Fatal("a failing reader did not fail the append")
	}
	if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("blob after a failed append: %v", err)
	}
	rc, err := s.ReadUpload(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data[:3<<20+7]) {
		t.Fatalf("upload holds %d bytes after the failed append, want the %d before it", len(got), 3<<20+7)
	}
	if err := s.Commit(ctx, "u", d, int64(len(data))); !errors.Is(err, blob.ErrOffset) {
		t.Fatalf("commit of the whole blob after a failed append: %v, want ErrOffset", err)
	}
	if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("blob after a refused commit: %v", err)
	}
	if _, err := s.Append(ctx, "u", 3<<20+7, bytes.NewReader(data[3<<20+7:])); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "u", d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if got, _ := io.ReadAll(rs); !bytes.Equal(got, data) {
		t.Fatal("blob differs from the bytes sent")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestAppendDropsCrashLeftovers: bytes a crash left in an upload beyond its recorded offset are replaced by
// the next append, and none of them stay beyond its end.
func TestAppendDropsCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	s, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Append(ctx, "u", 0, bytes.NewReader([]byte("recorded"))); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of the next append left these bytes; the upload's recorded offset is still 8.
	f, err := os.OpenFile(filepath.Join(dir, "uploads", "u"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(" and bytes of a chunk cut short by a crash")
	f.Close()
	if _, err := s.Append(ctx, "u", 8, bytes.NewReader([]byte(", resent"))); err != nil {
		t.Fatal(err)
	}
	rc, err := s.ReadUpload(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "recorded, resent" {
		t.Fatalf("upload holds %q", got)
	}
}
