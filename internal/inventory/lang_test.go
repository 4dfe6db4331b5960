package inventory

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
)

// TestJavaArchiveBomb reads a jar of nested jars that are deflated zeros: a few MiB that inflate to GiBs.
// Its reading stops at the bound on what one archive inflates to.
func TestJavaArchiveBomb(t *testing.T) {
	zeros := make([]byte, maxArchive)
	var deflated bytes.Buffer
	fw, err := flate.NewWriter(&deflated, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(zeros)
	fw.Close()
	var jar bytes.Buffer
	zw := zip.NewWriter(&jar)
	for i := range 2 * maxInflated / maxArchive {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("BOOT-INF/lib/zeros-%d.jar", i), Method: zip.Deflate,
			CRC32: crc32.ChecksumIEEE(zeros), CompressedSize64: uint64(deflated.Len()), UncompressedSize64: uint64(len(zeros))})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(deflated.Bytes())
	}
	zw.Close()
	if _, err := readJava(bytes.NewReader(jar.Bytes())); !errors.Is(err, errInflated) {
		t.Fatalf("readJava of %d KiB = %v, want errInflated", jar.Len()>>10, err)
	}
}
