// Package imagefs reads the final file system of an image from its layers, streamed: each layer is read
// once, from the top layer down, and only the files a caller asks for are handed to it. A file of a lower
// layer is handed over only when no upper layer replaced it, deleted it with a whiteout (.wh.<name>) or
// hid its directory (an opaque directory, .wh..wh..opq, or a file where the directory was), so every file
// handed over is the one the running container sees. Nothing is written to disk and memory holds the
// paths of the layers above the one being read, not their contents.
package imagefs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrUnsupported is returned for a layer whose media type is not a file system layer (an artifact's blob).
var ErrUnsupported = errors.New("imagefs: not an image layer")

// ErrTooLarge is returned for a layer that expands beyond what a scan reads (a decompression bomb), or
// for an image whose layers hold more paths than a scan keeps in memory.
var ErrTooLarge = errors.New("imagefs: the image is too large to scan")

// Bounds on a walk, variables for the tests. A layer's tar stream may be minExpansion bytes, or
// maxExpansion times its blob's size if that is more: real layers compress a few times, a stream of zeros
// thousands of times. The paths the upper layers say something about are kept up to maxPathBytes (each
// path counts its length and pathOverhead, what a map entry costs).
var (
	minExpansion int64 = 4 << 30
	maxExpansion int64 = 100
	maxPathBytes int64 = 256 << 20
)

const pathOverhead = 64

// maxWindow bounds the memory of a zstd layer's decoder; layers compressed with a larger window (zstd
// --long=28 and above) are refused rather than allowed to take hundreds of MiB.
const maxWindow = 128 << 20

// File is a regular file of the final file system, as Walk hands it to its callback.
type File struct {
	Name  string      // cleaned, relative to the root, without a leading slash: "etc/os-release"
	Mode  fs.FileMode // permission bits
	Size  int64
	Layer int // index of the layer it comes from, in the manifest's order
}

// Want says whether Walk should hand over the regular file with this name and header information.
type Want func(name string, mode fs.FileMode, size int64) bool

// Walk reads the layers (in the manifest's order, bottom first) through open, and calls fn with each
// regular file of the final file system that want accepts; r reads the file's content and is valid only
// during the call. The order of calls is by layer, top first; a name a layer repeats (tar allows it) is
// handed over each time. open is typically a blob store's Open.
func Walk[R io.ReadCloser](ctx context.Context, open func(context.Context, digest.Digest) (R, error),
	layers []ocispec.Descriptor, want Want, fn func(f File, r io.Reader) error) error {
	for _, l := range layers {
		if !IsLayer(l.MediaType) {
			return fmt.Errorf("%w: %s has media type %q", ErrUnsupported, l.Digest, l.MediaType)
		}
	}
	var upper overlay
	var dec decompressor
	defer dec.close()
	for i := len(layers) - 1; i >= 0; i-- {
		rc, err := open(ctx, layers[i].Digest)
		if err != nil {
			return fmt.Errorf("imagefs: opening layer %s: %w", layers[i].Digest, err)
		}
		// The bottom layer's paths hide nothing below it: they need not be kept.
		err = readLayer(ctx, &dec, rc, layerBudget(layers[i].Size), &upper, i, i > 0, want, fn)
		rc.Close()
		if err != nil {
			return fmt.Errorf("imagefs: layer %s: %w", layers[i].Digest, err)
		}
	}
	return nil
}

// IsLayer says whether a descriptor's media type is a file system layer, Docker's or OCI's, compressed
// or not.
func IsLayer(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
		ocispec.MediaTypeImageLayerNonDistributable, ocispec.MediaTypeImageLayerNonDistributableGzip,
		ocispec.MediaTypeImageLayerNonDistributableZstd,
		"application/vnd.docker.image.rootfs.diff.tar",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
		return true
	}
	return false
}

// decompressor turns layer blobs into tar streams, recognizing gzip and zstd by their magic numbers
// (media types are not always honest about compression). Its decoders are kept from one layer to the
// next: a zstd decoder's window is the largest thing a walk allocates.
type decompressor struct {
	buf  *bufio.Reader
	gzip *gzip.Reader
	zstd *zstd.Decoder
}

func (d *decompressor) open(r io.Reader) (io.Reader, error) {
	if d.buf == nil {
		d.buf = bufio.NewReaderSize(r, 64<<10)
	} else {
		d.buf.Reset(r)
	}
	magic, _ := d.buf.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		if d.gzip == nil {
			zr, err := gzip.NewReader(d.buf)
			d.gzip = zr
			return zr, err
		}
		return d.gzip, d.gzip.Reset(d.buf)
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		if d.zstd == nil {
			zr, err := zstd.NewReader(d.buf, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(maxWindow))
			d.zstd = zr
			return zr, err
		}
		return d.zstd, d.zstd.Reset(d.buf)
	}
	return d.buf, nil
}

func (d *decompressor) close() {
	if d.zstd != nil {
		d.zstd.Close()
	}
}

// layerBudget is how many bytes the tar stream of a layer blob of this size may have.
func layerBudget(size int64) int64 {
	if size > 0 && size <= math.MaxInt64/maxExpansion {
		return max(minExpansion, size*maxExpansion)
	}
	if size > 0 {
		return math.MaxInt64
	}
	return minExpansion
}

// limitedReader reads up to n bytes and then fails with ErrTooLarge (io.LimitReader would end the tar
// stream quietly, as if the layer were complete).
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func readLayer(ctx context.Context, dec *decompressor, blob io.Reader, budget int64, upper *overlay, index int, keep bool, want Want, fn func(File, io.Reader) error) error {
	stream, err := dec.open(blob)
	if err != nil {
		return err
	}
	var this overlay
	tr := tar.NewReader(&limitedReader{r: stream, n: budget})
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if keep && upper.bytes+this.bytes > maxPathBytes {
			return ErrTooLarge
		}
		name, ok := Clean(h.Name)
		if !ok {
			continue // the root itself
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if strings.HasPrefix(base, whiteoutPrefix) {
			if keep {
				switch {
				case base == opaqueMarker:
					this.add(dir, opaque)
				case strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix):
					// other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): not part of the file system
				default:
					this.add(path.Join(dir, base[len(whiteoutPrefix):]), deleted)
				}
			}
			continue
		}
		isDir := h.Typeflag == tar.TypeDir
		if keep {
			if isDir {
				this.add(name, directory)
			} else {
				this.add(name, other)
			}
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA { // old tars use it
			continue
		}
		mode := fs.FileMode(h.Mode) & fs.ModePerm
		if !want(name, mode, h.Size) || upper.hides(name) {
			continue
		}
		if err := fn(File{Name: name, Mode: mode, Size: h.Size, Layer: index}, tr); err != nil {
			return err
		}
	}
	upper.merge(&this)
	return nil
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// Clean returns a tar entry's name as a path relative to the root, cleaned: "./etc/../etc//passwd" is
// "etc/passwd", and ".." cannot climb above the root ("../../etc/passwd" is "etc/passwd", as a container
// runtime would resolve it). It returns false for the root itself.
func Clean(name string) (string, bool) {
	p := path.Clean("/" + name)
	if p == "/" {
		return "", false
	}
	return p[1:], true
}

type kind uint8

const (
	directory kind = 1 << iota // a directory: merges with lower ones
	other                      // a file, link or device: hides what is below it at its path and under it
	deleted                    // a whiteout: hides what is below at its path and under it
	opaque                     // an opaque directory: hides what is below under it
)

// overlay is what the layers read so far (those above the current one) say about paths.
type overlay struct {
	paths map[string]kind
	bytes int64 // what the paths take, as counted against maxPathBytes
}

func (o *overlay) add(p string, k kind) {
	if o.paths == nil {
		o.paths = make(map[string]kind)
	}
	if _, ok := o.paths[p]; !ok {
		o.bytes += int64(len(p)) + pathOverhead
	}
	o.paths[p] |= k
}

func (o *overlay) merge(lower *overlay) {
	// Entries of the layer just read apply only to the layers below it; what an upper layer already
	// said about a path stays (an upper opaque directory stays opaque whatever the lower layer holds).
	for p, k := range lower.paths {
		o.add(p, k)
	}
}

// hides says whether the upper layers hide a lower layer's regular file at name.
func (o *overlay) hides(name string) bool {
	if len(o.paths) == 0 {
		return false
	}
	if _, ok := o.paths[name]; ok {
		return true // replaced by anything, or deleted
	}
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		if o.paths[dir]&(other|deleted|opaque) != 0 {
			return true
		}
	}
	return o.paths[""]&opaque != 0 // an opaque root
}
