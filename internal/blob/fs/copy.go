package fs

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
)

const (
	directAlign = 4096    // O_DIRECT offset, length and memory alignment
	copyBuf     = 1 << 20 // bytes per pipeline buffer
	pipeDepth   = 3       // buffers per upload in flight: one filling, one writing, one spare
)

// bufPool holds page-aligned copy buffers shared by all uploads.
var bufPool = sync.Pool{New: func() any {
	raw := make([]byte, copyBuf+directAlign)
	off := directAlign - int(uintptrOf(raw)%directAlign)
	if off == directAlign {
		off = 0
	}
	b := raw[off : off+copyBuf]
	return &b
}}

// openDirect opens path for O_DIRECT writes, or returns nil where the file system does not support them.
func openDirect(path string) *os.File {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return f
}

type chunk struct {
	buf *[]byte
	n   int
	err error
}

// pipeCopy copies r into the file at offset, reading (and so hashing, in the caller's reader) the next
// buffer while the previous one is written: the two halves of an upload run on two cores. Whole aligned
// buffers go through direct when it is not nil, the rest through f.
func pipeCopy(f, direct *os.File, offset int64, r io.Reader) (int64, error) {
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

	var written int64
	var werr error
	for c := range full {
		if werr == nil && c.n > 0 {
			if werr = writeChunk(f, direct, offset+written, (*c.buf)[:c.n]); werr == nil {
				written += int64(c.n)
			} else {
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
	for {
		select {
		case b := <-free:
			bufPool.Put(b)
		default:
			return written, werr
		}
	}
}

func writeChunk(f, direct *os.File, off int64, p []byte) error {
	if direct != nil && off%directAlign == 0 {
		aligned := len(p) &^ (directAlign - 1)
		if aligned > 0 {
			if _, err := direct.WriteAt(p[:aligned], off); err == nil {
				p, off = p[aligned:], off+int64(aligned)
			} else if !errors.Is(err, syscall.EINVAL) {
				return err
			} // EINVAL: this file system refuses direct I/O here; write it through the page cache
		}
	}
	if len(p) == 0 {
		return nil
	}
	_, err := f.WriteAt(p, off)
	return err
}
