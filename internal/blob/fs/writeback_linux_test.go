//go:build linux && (amd64 || arm64)

package fs

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"syscall"
	"testing"
	"unsafe"

	"github.com/opencontainers/go-digest"
)

const tmpfsMagic = 0x01021994

// cachedBytes is how much of the file at path is in the page cache. With drop, it first asks the kernel
// to drop the file's clean pages: what is left is dirty or still being written.
func cachedBytes(t *testing.T, path string, drop bool) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	size := fi.Size()
	if drop {
		const fadvDontNeed = 4
		if _, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0); e != 0 {
			t.Fatal(e)
		}
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	page := int64(os.Getpagesize())
	vec := make([]byte, (size+page-1)/page)
	if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(size), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	var n int64
	for _, v := range vec {
		n += int64(v & 1)
	}
	return n * page
}

// TestWriteback: an upload's bytes are on disk when the append returns (so the fsync at commit has little
// to do), and once committed, the blob is still in the page cache, for the pull that follows a push.
func TestWriteback(t *testing.T) {
	dir := t.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Type == tmpfsMagic {
		t.Skip("the test directory is on tmpfs, whose pages are never written back")
	}
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := make([]byte, 48<<20)
	rand.Read(data)
	d := digest.FromBytes(data)
	if _, err := s.Append(ctx, "u", 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	up, _ := s.uploadPath("u")
	// Dropping the clean pages leaves the dirty ones and those being written (a few pages may be held
	// elsewhere for a moment: the slack).
	if pending := cachedBytes(t, up, true); pending > copyBuf {
		t.Errorf("%.1f MiB of the upload are not on disk after the append returned", float64(pending)/(1<<20))
	}
	s.Cancel(ctx, "u")
	// Another upload of the same bytes (those just dropped from the page cache are not in it).
	if _, err := s.Append(ctx, "v", 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "v", d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	bp, _ := s.path(d)
	if cached := cachedBytes(t, bp, false); cached != int64(len(data)) {
		t.Errorf("%d of the blob's %d MiB are in the page cache after its commit", cached>>20, len(data)>>20)
	}
}
