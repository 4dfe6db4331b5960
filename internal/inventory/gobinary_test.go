package inventory

import (
	"bytes"
	"testing"
)

// countingReader counts the reads made of a file: readGoBinary refills its window with one.
type countingReader struct {
	r     *bytes.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// TestGoBinaryMagicFlood reads an executable made of the build information's magic, at every offset and
// at every aligned one (each a candidate whose header is not build information): the search must stay
// linear, refilling its window a bounded number of times rather than once per occurrence.
func TestGoBinaryMagicFlood(t *testing.T) {
	for _, stride := range []int{len(buildInfoMagic), 16} {
		var b bytes.Buffer
		b.WriteString("\x7fELF")
		b.Write(make([]byte, 12))
		for b.Len() < 3<<20 {
			b.Write(buildInfoMagic)
			b.Write(make([]byte, stride-len(buildInfoMagic)))
		}
		// A real build information after the flood.
		b.Write(make([]byte, (16-b.Len()%16)%16))
		b.WriteString("\xff Go buildinf:\x08\x02")
		b.Write(make([]byte, 16))
		b.WriteString("\x08go1.22.1\x00")
		r := &countingReader{r: bytes.NewReader(b.Bytes())}
		if _, err := readGoBinary(r, nil); err != nil {
			t.Fatal(err)
		}
		if r.reads > 2*maxCandidates+16 {
			t.Errorf("stride %d: %d reads of a file of %d bytes", stride, r.reads, b.Len())
		}
	}
}
