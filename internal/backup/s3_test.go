package backup_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/backup"
	"github.com/wharf-dev/wharf/internal/blob"
	blobs3 "github.com/wharf-dev/wharf/internal/blob/s3"
	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

// s3Store opens a fresh prefix of the S3 server scripts/test.sh starts (WHARF_TEST_S3); without one the
// test is skipped in a plain `go test`, and fails when the end-to-end suite runs (WHARF_E2E=1).
func s3Store(t *testing.T, name string) *blobs3.Store {
	t.Helper()
	u := os.Getenv("WHARF_TEST_S3")
	if u == "" {
		if os.Getenv("WHARF_E2E") == "1" {
			t.Fatal("WHARF_TEST_S3 is not set; scripts/test.sh starts an S3 server and sets it")
		}
		t.Skip("WHARF_TEST_S3 is not set (scripts/test.sh starts an S3 server)")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", os.Getenv("WHARF_TEST_S3_ACCESS_KEY"))
	t.Setenv("AWS_SECRET_ACCESS_KEY", os.Getenv("WHARF_TEST_S3_SECRET_KEY"))
	i := strings.LastIndex(u, "/")
	s, err := blobs3.New(ctx, blobs3.Config{Bucket: u[i+1:], Endpoint: u[:i], ForcePathStyle: true, Region: "us-east-1",
		Prefix: fmt.Sprintf("backup-test-%d-%d/%s/", os.Getpid(), time.Now().UnixNano(), name)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBackupToS3 backs up to an S3 prefix and restores from it into an installation whose blobs are in S3;
// a restore that meets a damaged blob deletes the blobs it had stored.
func TestBackupToS3(t *testing.T) {
	bucket := s3Store(t, "backup")
	dst := backup.Location{Blobs: bucket, Files: bucket}
	src := open(t, t.TempDir())
	src.repo(t, "app")
	imgs := []image{src.mustPush(t, "app", "1", 6<<20), src.mustPush(t, "app", "2", 1000)}
	if _, err := backup.Backup(ctx, src.source(), dst); err != nil {
		t.Fatal(err)
	}
	m, err := backup.Read(ctx, dst)
	if err != nil || m.Blobs != 4 || !m.ServerKey {
		t.Fatalf("manifest %+v, %v", m, err)
	}

	blobs := s3Store(t, "restored")
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := backup.Restore(ctx, dst, backup.Target{DataDir: dir, Blobs: blobs}); err != nil {
		t.Fatal(err)
	}
	meta, err := sqlite.Open(filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	got := &installation{dir: dir, meta: meta, blobs: blobs, svc: registry.New(meta, blobs, clock.Real{}, registry.Config{}, nil)}
	defer func() { got.svc.Close(); meta.Close() }()
	for _, img := range imgs {
		got.has(t, img)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs")); !os.IsNotExist(err) {
		t.Fatalf("blobs restored into the data directory: %v", err)
	}

	// A damaged blob: the restore fails and takes back what it stored.
	var small digest.Digest
	for d, b := range imgs[1].blobs {
		if len(b) == 1000 {
			small = d
		}
	}
	if err := bucket.Delete(ctx, small); err != nil {
		t.Fatal(err)
	}
	again := s3Store(t, "failed")
	dir = filepath.Join(t.TempDir(), "data")
	_, err = backup.Restore(ctx, dst, backup.Target{DataDir: dir, Blobs: again})
	if err == nil || !strings.Contains(err.Error(), small.String()+" is missing from the backup") {
		t.Fatalf("restore of a damaged backup: %v", err)
	}
	for _, img := range imgs {
		for d := range img.blobs {
			if _, err := again.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("blob %s left in S3 by the failed restore: %v", d, err)
			}
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data directory left by the failed restore: %v", err)
	}
}
