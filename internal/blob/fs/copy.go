package fs

import (
	"io"
	"os"
	"sync"
)

const (
	copyBuf   = 1 << 20 // bytes per pipeline buffer
	pipeDepth = 3       // buffers per upload in flight: one filling, one writing, one spare
)

// bufPool holds copy buffers shared by all uploads.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, copyBuf)
	return &b
}}

type chunk struct {
	buf *[]byte
	n   int
	err error
}

// pipeCopy copies r into the file at offset, reading (and so hashing, in the caller's reader) the next
// buffer while the previous one is written: the two halves of an upload run on two cores.
//
// Writes go through the page cache, and the kernel writes each buffer to disk as soon as it is there,
// while the next ones arrive (see writeback). The pages stay cached, clean: the pull that usually follows
// a push reads memory, and the fsync at commit has little left to do.
func pipeCopy(f *os.File, offset int64, r io.Reader) (int64, error) {
	full := make(chan chunk, pipeDepth)
	free := make(chan *[]byte, pipeDepth)
	stop := make(chan struct{})
	for i := 0; i < pipeDepth; i++ {
		free <- bufPool.Get().(*[]byte)
	}
	go func() {
		defer close(full)
		for {
			var b *[]byte
			select {
			case b = <-free:
			case <-stop:
				return
			}
			n, err := io.ReadFull(r, *b)
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				err = io.EOF
			}
			full <- chunk{buf: b, n: n, err: err}
			if err != nil {
				return
			}
		}
	}()

	wb := writeback{f: f, waited: offset}
	var written int64
	var werr error
	for c := range full {
		if werr == nil && c.n > 0 {
			off := offset + written
			if _, werr = f.WriteAt((*c.buf)[:c.n], off); werr == nil {
				written += int64(c.n)
				werr = wb.wrote(off, int64(c.n))
			}
			if werr != nil {
				close(stop) // no buffer comes back: the reader stops after its current read
			}
		}
		if werr == nil && c.err != nil && c.err != io.EOF {
			werr = c.err
		}
		if werr == nil && c.err == nil {
			free <- c.buf
		} else {
			bufPool.Put(c.buf)
		}
	}
	if werr == nil {
		werr = wb.done(offset + written)
	}
	for {
		select {
		case b := <-free:
			bufPool.Put(b)
		default:
			return written, werr
		}
	}
}
