package fs

import (
	"errors"
	"os"
	"syscall"
)

// sync_file_range(2) flags.
const (
	syncFileRangeWaitBefore = 1
	syncFileRangeWrite      = 2
	syncFileRangeWaitAfter  = 4
)

// startWriteback starts writing bytes [off, off+n) of f to disk and does not wait for them.
func startWriteback(f *os.File, off, n int64) error {
	return syncFileRange(f, off, n, syncFileRangeWrite)
}

// waitWriteback writes bytes [off, off+n) of f to disk, if they are not there yet, and waits for them.
// It does not make them durable (no metadata, no flush of the disk's cache): fsync does.
func waitWriteback(f *os.File, off, n int64) error {
	return syncFileRange(f, off, n, syncFileRangeWaitBefore|syncFileRangeWrite|syncFileRangeWaitAfter)
}

func syncFileRange(f *os.File, off, n int64, flags int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	cerr := rc.Control(func(fd uintptr) {
		err = syscall.SyncFileRange(int(fd), off, n, flags)
	})
	if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EOPNOTSUPP) {
		return nil // not here (an emulated kernel): the fsync at commit does all the work
	}
	if err != nil {
		return os.NewSyscallError("sync_file_range", err)
	}
	return cerr
}
