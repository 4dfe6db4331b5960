package fs

import "os"

// writebackLag is how far behind the last byte written an append waits for its bytes to be on disk: an
// append holds at most that much of the page cache dirty or under writeback.
const writebackLag = 16 << 20

// writeback paces the kernel's writing of an append's bytes to disk: each buffer's writeback starts as
// soon as it is written, the append waits for its bytes writebackLag behind the last, and for all of them
// before it returns. Then an append leaves nothing in flight: the fsync at commit has only metadata left
// to write, and the fsyncs of others (the metadata store's, on the same file system) do not wait for
// bytes of uploads (ext4's data=ordered makes a journal commit wait for data written back before it).
// Where the kernel cannot be told (not Linux), the fsync at commit does it all.
type writeback struct {
	f      *os.File
	waited int64 // the append's bytes before this offset are on disk (not yet durable: no fsync)
}

// wrote starts the writeback of the n bytes just written at off and waits for those writebackLag behind.
func (w *writeback) wrote(off, n int64) error {
	err := startWriteback(w.f, off, n)
	if behind := off + n - writebackLag; err == nil && behind > w.waited {
		err = waitWriteback(w.f, w.waited, behind-w.waited)
		w.waited = behind
	}
	return wrapWriteback(err)
}

// done waits for the append's bytes up to end.
func (w *writeback) done(end int64) error {
	if end <= w.waited {
		return nil
	}
	err := waitWriteback(w.f, w.waited, end-w.waited)
	w.waited = end
	return wrapWriteback(err)
}

func wrapWriteback(err error) error {
	if err != nil {
		return &writebackError{err}
	}
	return nil
}

// writebackError is an error in writing an upload's bytes back to disk. Waiting for the writeback may have
// consumed the file's report of the error, which the fsync at commit would then not see: the upload cannot
// be committed any more and is dropped.
type writebackError struct{ err error }

func (e *writebackError) Error() string { return "writing upload to disk: " + e.err.Error() }
func (e *writebackError) Unwrap() error { return e.err }
