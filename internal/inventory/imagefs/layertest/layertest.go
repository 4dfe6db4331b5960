// Package layertest builds image layers for tests: tar streams, gzip- or zstd-compressed, written as
// blobs to a directory and opened by digest as a blob store would.
package layertest

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Entry is one entry of a layer's tar stream.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg when zero
	Mode     int64
	Body     []byte
	Linkname string
}

// File is a regular file (mode 0644).
func File(name string, body []byte) Entry { return Entry{Name: name, Mode: 0o644, Body: body} }

// Executable is a regular file with mode 0755.
func Executable(name string, body []byte) Entry { return Entry{Name: name, Mode: 0o755, Body: body} }

// Dir is a directory.
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir, Mode: 0o755} }

// Symlink is a symbolic link.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Mode: 0o777, Linkname: target}
}

// Whiteout deletes name from the layers below.
func Whiteout(name string) Entry {
	return File(path.Join(path.Dir(name), ".wh."+path.Base(name)), nil)
}

// Opaque hides the content of the directory dir in the layers below.
func Opaque(dir string) Entry { return File(path.Join(dir, ".wh..wh..opq"), nil) }

// Image is the layers of an image, bottom first, and their blobs in a directory.
type Image struct {
	Dir    string
	Layers []ocispec.Descriptor
}

// New returns an empty image whose blobs are written under t's temporary directory.
func New(t testing.TB) *Image { return &Image{Dir: t.TempDir()} }

// Compression of a layer.
const (
	None = ""
	Gzip = "gzip"
	Zstd = "zstd"
)

// Add appends a layer holding entries, compressed as compression says.
func (im *Image) Add(t testing.TB, compression string, entries ...Entry) {
	t.Helper()
	f, err := os.CreateTemp(im.Dir, "layer-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	digester := digest.Canonical.Digester()
	counter := &countWriter{w: io.MultiWriter(f, digester.Hash())}
	var w io.WriteCloser = nopCloser{counter}
	mediaType := ocispec.MediaTypeImageLayer
	switch compression {
	case Gzip:
		w, mediaType = gzip.NewWriter(counter), ocispec.MediaTypeImageLayerGzip
	case Zstd:
		zw, err := zstd.NewWriter(counter)
		if err != nil {
			t.Fatal(err)
		}
		w, mediaType = zw, ocispec.MediaTypeImageLayerZstd
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.Name, Typeflag: typ, Mode: e.Mode, Linkname: e.Linkname, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	d := digester.Digest()
	if err := os.Rename(f.Name(), filepath.Join(im.Dir, d.Encoded())); err != nil {
		t.Fatal(err)
	}
	im.Layers = append(im.Layers, ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: counter.n})
}

// Open opens a layer's blob by digest, as a blob store does.
func (im *Image) Open(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
	return os.Open(filepath.Join(im.Dir, d.Encoded()))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
