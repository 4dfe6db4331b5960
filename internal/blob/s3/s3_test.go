package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/blob"
	"github.com/wharf-dev/wharf/internal/blob/blobtest"
	blobs3 "github.com/wharf-dev/wharf/internal/blob/s3"
)

// server returns the S3 endpoint and bucket scripts/test.sh starts (WHARF_TEST_S3=http://host:port/bucket,
// with WHARF_TEST_S3_ACCESS_KEY and WHARF_TEST_S3_SECRET_KEY). Without one the test is skipped in a plain `go test`,
// and fails when the end-to-end suite runs (WHARF_E2E=1).
func server(t *testing.T) (endpoint, bucket string) {
	u := os.Getenv("WHARF_TEST_S3")
	if key := os.Getenv("WHARF_TEST_S3_ACCESS_KEY"); key != "" {
		t.Setenv("AWS_ACCESS_KEY_ID", key)
		t.Setenv("AWS_SECRET_ACCESS_KEY", os.Getenv("WHARF_TEST_S3_SECRET_KEY"))
	}
	if u == "" {
		if os.Getenv("WHARF_E2E") == "1" {
			t.Fatal("WHARF_TEST_S3 is not set; scripts/test.sh starts an S3 server and sets it")
		}
		t.Skip("WHARF_TEST_S3 is not set (scripts/test.sh starts an S3 server)")
	}
	i := strings.LastIndex(u, "/")
	return u[:i], u[i+1:]
}

var prefixes atomic.Int64

// open returns a store on a fresh prefix of the test bucket.
func open(t *testing.T) *blobs3.Store {
	return openAt(t, fmt.Sprintf("test-%d-%d-%d/", os.Getpid(), time.Now().UnixNano(), prefixes.Add(1)))
}

func openAt(t *testing.T, prefix string) *blobs3.Store {
	endpoint, bucket := server(t)
	s, err := blobs3.New(context.Background(), blobs3.Config{Bucket: bucket, Endpoint: endpoint, ForcePathStyle: true,
		Region: "us-east-1", Prefix: prefix, PartSize: blobs3.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return open(t) })
}

// TestMultipartChunks appends chunks below, at and above the part size, as a chunked docker push sends
// them, and as consecutive chunks landing on different nodes would (each Append starts from the bucket).
func TestMultipartChunks(t *testing.T) {
	ctx := context.Background()
	data := make([]byte, 23<<20+5)
	rand.Read(data)
	for name, chunks := range map[string][]int{
		"small then large": {1 << 20, 2 << 20, 7 << 20, 3 << 20, 10<<20 + 5},
		"exact parts":      {5 << 20, 5 << 20, 5 << 20, 8<<20 + 5},
		"one byte tail":    {23 << 20, 5},
	} {
		t.Run(name, func(t *testing.T) {
			prefix := fmt.Sprintf("test-%d-%d-%d/", os.Getpid(), time.Now().UnixNano(), prefixes.Add(1))
			first, second := openAt(t, prefix), openAt(t, prefix) // two stores over one bucket, like two nodes
			off := 0
			for i, n := range chunks {
				s := first
				if i%2 == 1 {
					s = second
				}
				added, err := s.Append(ctx, "chunked", int64(off), bytes.NewReader(data[off:off+n]))
				if err != nil || added != int64(n) {
					t.Fatalf("chunk %d: %d, %v", i, added, err)
				}
				off += n
			}
			d := digest.FromBytes(data)
			if err := first.Commit(ctx, "chunked", d, int64(len(data))); err != nil {
				t.Fatal(err)
			}
			rc, err := first.Open(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, not the %d appended", len(got), len(data))
			}
			if ids, _ := first.Uploads(ctx); len(ids) != 0 {
				t.Fatalf("uploads left after commit: %v", ids)
			}
		})
	}
}

// TestPresignedURL: a plain HTTP GET of the presigned URL returns the blob, without credentials.
func TestPresignedURL(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	data := []byte("layer bytes served by S3")
	d := digest.FromBytes(data)
	s.Append(ctx, "p", 0, bytes.NewReader(data))
	if err := s.Commit(ctx, "p", d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	url, err := s.URL(ctx, d, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("GET presigned: %d %q", res.StatusCode, body)
	}
}

type failAfter struct{ r io.Reader }

func (f failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset")
	}
	return n, err
}

// TestFailedAppendAcrossParts: an Append that fails after filling a part leaves the upload as it was.
func TestFailedAppendAcrossParts(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	data := make([]byte, 14<<20)
	rand.Read(data)
	if _, err := s.Append(ctx, "f", 0, bytes.NewReader(data[:3<<20])); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "f", 3<<20, failAfter{bytes.NewReader(data[3<<20 : 12<<20])}); err == nil {
		t.Fatal("a failing reader did not fail the append")
	}
	if _, err := s.Append(ctx, "f", 3<<20, bytes.NewReader(data[3<<20:])); err != nil {
		t.Fatalf("append after the failed one: %v", err)
	}
	d := digest.FromBytes(data)
	if err := s.Commit(ctx, "f", d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if size, err := s.Stat(ctx, d); err != nil || size != int64(len(data)) {
		t.Fatalf("Stat = %d, %v", size, err)
	}
}

// TestConcurrentUploadsAndDeletes runs many small uploads, commits and deletes side by side in one prefix.
// Some S3 servers over a file system (versitygw's posix backend) remove a key's emptied parent directories
// on delete, which can briefly fail a write beside it in the same directory; the store retries those.
func TestConcurrentUploadsAndDeletes(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			for i := range 25 {
				data := []byte(fmt.Sprintf("worker %d blob %d", w, i))
				d := digest.FromBytes(data)
				id := fmt.Sprintf("w%di%d", w, i)
				if _, err := s.Append(ctx, id, 0, bytes.NewReader(data)); err != nil {
					errs <- fmt.Errorf("append %s: %w", id, err)
					return
				}
				if err := s.Commit(ctx, id, d, int64(len(data))); err != nil {
					errs <- fmt.Errorf("commit %s: %w", id, err)
					return
				}
				if size, err := s.Stat(ctx, d); err != nil || size != int64(len(data)) {
					errs <- fmt.Errorf("stat %s: %d, %v", d, size, err)
					return
				}
				if err := s.Delete(ctx, d); err != nil {
					errs <- fmt.Errorf("delete %s: %w", d, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
