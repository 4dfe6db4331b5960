package imagefs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/inventory/imagefs"
	lt "github.com/wharf-dev/wharf/internal/inventory/imagefs/layertest"
)

// files walks the image and returns every regular file of its final file system with its content.
func files(t *testing.T, im *lt.Image) map[string]string {
	t.Helper()
	got := map[string]string{}
	all := func(string, fs.FileMode, int64) bool { return true }
	err := imagefs.Walk(context.Background(), im.Open, im.Layers, all, func(f imagefs.File, r io.Reader) error {
		b, err := io.ReadAll(r)
		if _, dup := got[f.Name]; dup {
			t.Errorf("%s handed over twice", f.Name)
		}
		got[f.Name] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func check(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("files:\n got %v\nwant %v", got, want)
	}
}

func TestNewerLayerWins(t *testing.T) {
	for _, c := range []string{lt.None, lt.Gzip, lt.Zstd} {
		t.Run("compression="+c, func(t *testing.T) {
			im := lt.New(t)
			im.Add(t, c, lt.Dir("etc"), lt.File("etc/a", []byte("a1")), lt.File("etc/b", []byte("b1")))
			im.Add(t, c, lt.File("./etc/a", []byte("a2")), lt.File("/etc/c", []byte("c2")))
			check(t, files(t, im), map[string]string{"etc/a": "a2", "etc/b": "b1", "etc/c": "c2"})
		})
	}
}

func TestWhiteouts(t *testing.T) {
	im := lt.New(t)
	im.Add(t, lt.Gzip,
		lt.File("var/lib/dpkg/status", []byte("old")),
		lt.File("var/lib/dpkg/status.d/x", []byte("x")),
		lt.File("keep/me", []byte("k")),
		lt.File("opq/old", []byte("o")),
		lt.File("opq/sub/old", []byte("o")),
		lt.File("f/under", []byte("u")))
	im.Add(t, lt.Gzip,
		lt.Whiteout("var/lib/dpkg/status"),
		lt.Whiteout("var/lib/dpkg/status.d"), // a whole directory
		lt.Opaque("opq"),
		lt.File("opq/new", []byte("n")), // the opaque directory's own layer keeps its files
		lt.File("f", []byte("now a file")))
	im.Add(t, lt.Gzip, lt.File("var/lib/dpkg/status.d/y", []byte("y"))) // re-created above the whiteout
	check(t, files(t, im), map[string]string{
		"keep/me": "k", "opq/new": "n", "f": "now a file", "var/lib/dpkg/status.d/y": "y",
	})
}

func TestDirectoryReplacesFile(t *testing.T) {
	im := lt.New(t)
	im.Add(t, lt.None, lt.File("a", []byte("file")), lt.File("b/c", []byte("c")))
	im.Add(t, lt.None, lt.Dir("a"), lt.File("a/x", []byte("x")), lt.Symlink("b", "/elsewhere"))
	im.Add(t, lt.None, lt.Dir("b"))
	check(t, files(t, im), map[string]string{"a/x": "x"})
}

func TestOpaqueRoot(t *testing.T) {
	im := lt.New(t)
	im.Add(t, lt.None, lt.File("etc/os-release", []byte("ID=debian")))
	im.Add(t, lt.None, lt.Opaque("."), lt.File("etc/hostname", []byte("h")))
	check(t, files(t, im), map[string]string{"etc/hostname": "h"})
}

func TestNotALayer(t *testing.T) {
	im := lt.New(t)
	im.Add(t, lt.None, lt.File("a", nil))
	im.Layers[0].MediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	err := imagefs.Walk(context.Background(), im.Open, im.Layers,
		func(string, fs.FileMode, int64) bool { return true }, func(imagefs.File, io.Reader) error { return nil })
	if !errors.Is(err, imagefs.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"etc/passwd": "etc/passwd", "./etc/passwd": "etc/passwd", "/etc//passwd": "etc/passwd",
		"../../etc/passwd": "etc/passwd", "etc/../../x": "x", "a/./b/": "a/b",
	} {
		if got, ok := imagefs.Clean(in); !ok || got != want {
			t.Errorf("Clean(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, root := range []string{"", ".", "./", "/", "..", "../.."} {
		if got, ok := imagefs.Clean(root); ok {
			t.Errorf("Clean(%q) = %q, true; want the root", root, got)
		}
	}
}

// FuzzLayers reads two layers whose entry names come from the fuzzer: whatever the names (whiteouts of
// "..", absolute paths, long names), the walk hands over clean paths, each once, and never a file its
// upper layer replaced or deleted. (A name repeated within one layer is handed over each time.)
func FuzzLayers(f *testing.F) {
	f.Add("etc/a", "etc/.wh.a", "../x", "/abs/.wh..wh..opq")
	f.Add("a/b/c", ".wh.a", "a/b/c", "..//.wh...")
	f.Add(strings.Repeat("long/", 60)+"x", ".wh."+strings.Repeat("n", 300), "./", ".wh..wh..opq")
	f.Fuzz(func(t *testing.T, lower1, lower2, upper1, upper2 string) {
		blobs := map[digest.Digest][]byte{}
		var layers []ocispec.Descriptor
		for _, names := range [][]string{{lower1, lower2}, {upper1, upper2}} {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, n := range names {
				if tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, Format: tar.FormatPAX}) != nil {
					return
				}
				tw.Write([]byte("x"))
			}
			tw.Close()
			d := digest.FromBytes(buf.Bytes())
			blobs[d] = buf.Bytes()
			layers = append(layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d})
		}
		open := func(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(blobs[d])), nil
		}
		var upper []string
		err := imagefs.Walk(context.Background(), open, layers, func(string, fs.FileMode, int64) bool { return true },
			func(f imagefs.File, r io.Reader) error {
				if strings.HasPrefix(f.Name, "/") || slices.Contains(strings.Split(f.Name, "/"), "..") || f.Name == "" {
					t.Errorf("unclean name %q", f.Name)
				}
				if f.Layer == 0 && slices.Contains(upper, f.Name) {
					t.Errorf("%q handed over from both layers", f.Name)
				}
				if f.Layer == 0 {
					for _, u := range []string{upper1, upper2} {
						if w, ok := imagefs.Clean(u); ok && strings.HasPrefix(w, ".wh.") && !strings.HasPrefix(w, ".wh..wh.") &&
							w[4:] == f.Name {
							t.Errorf("%q deleted by the upper layer's %q, handed over", f.Name, u)
						}
					}
				}
				if f.Layer == 1 {
					upper = append(upper, f.Name)
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// walkErr walks the image, reading every file whole, and returns Walk's error.
func walkErr(im *lt.Image) error {
	all := func(string, fs.FileMode, int64) bool { return true }
	return imagefs.Walk(context.Background(), im.Open, im.Layers, all, func(_ imagefs.File, r io.Reader) error {
		_, err := io.Copy(io.Discard, r)
		return err
	})
}

// A layer whose tar stream is far larger than its blob (a compressed run of zeros) is read up to a
// bound, then refused: a pushed decompression bomb cannot keep a scan busy for hours.
func TestDecompressionBomb(t *testing.T) {
	imagefs.SetLimits(t.Cleanup, 1<<20, 100, 256<<20)
	for _, c := range []string{lt.Gzip, lt.Zstd} {
		t.Run("compression="+c, func(t *testing.T) {
			im := lt.New(t)
			im.Add(t, c, lt.File("etc/os-release", []byte("ID=debian\n")), lt.File("zeros", make([]byte, 8<<20)))
			if im.Layers[0].Size*100 >= 8<<20 {
				t.Fatalf("the layer's blob is %d bytes: not a bomb", im.Layers[0].Size)
			}
			if err := walkErr(im); !errors.Is(err, imagefs.ErrTooLarge) {
				t.Fatalf("Walk = %v, want ErrTooLarge", err)
			}
		})
	}
	t.Run("within the bound", func(t *testing.T) {
		im := lt.New(t)
		im.Add(t, lt.Zstd, lt.File("zeros", make([]byte, 512<<10)))
		if err := walkErr(im); err != nil {
			t.Fatal(err)
		}
	})
}

// An upper layer of many entries with long names (they compress to nothing) cannot make a walk keep
// more paths in memory than its bound.
func TestTooManyPaths(t *testing.T) {
	imagefs.SetLimits(t.Cleanup, 4<<30, 100, 1<<20)
	im := lt.New(t)
	im.Add(t, lt.Gzip, lt.File("etc/os-release", []byte("ID=debian\n")))
	var entries []lt.Entry
	long := strings.Repeat("a", 4000)
	for i := range 1000 {
		entries = append(entries, lt.File(long+"/"+strings.Repeat("b", i%50)+string(rune('a'+i%26))+strings.Repeat("c", i), nil))
	}
	im.Add(t, lt.Gzip, entries...)
	if err := walkErr(im); !errors.Is(err, imagefs.ErrTooLarge) {
		t.Fatalf("Walk = %v, want ErrTooLarge", err)
	}
	// The bottom layer's paths are not kept: the same entries there are only read.
	bottom := lt.New(t)
	bottom.Add(t, lt.Gzip, entries...)
	if err := walkErr(bottom); err != nil {
		t.Fatal(err)
	}
}
