package inventory

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"path"
	"runtime/debug"
	"strings"
)

// buildInfoMagic starts the build information the Go linker writes into every binary (Go 1.18 and
// later keep its strings inline, after a 32-byte header aligned to 16 bytes).
var buildInfoMagic = []byte("\xff Go buildinf:")

const maxModInfo = 1 << 20

// readGoBinary streams an executable looking for its Go build information, and returns the modules it
// was built from, its main module and the Go standard library ("stdlib"). Memory is one window of the
// file, whatever its size, in br (reset for r; nil for a new one). Files that are not Go binaries give
// nothing.
func readGoBinary(r io.Reader, br *bufio.Reader) ([]Package, error) {
	head := make([]byte, 4)
	if _, err := io.ReadFull(r, head); err != nil || !isExecutable(head) {
		return nil, nil
	}
	r = io.MultiReader(bytes.NewReader(head), r)
	if br == nil {
		br = newWindow()
	}
	br.Reset(r)
	var off int64
	candidates := 0
	for {
		win, err := br.Peek(br.Size())
		// The build information starts at a multiple of 16 bytes: only those offsets are looked at, so
		// that the magic written elsewhere, however often, costs nothing.
		j := int((16 - off%16) % 16)
		for j+len(buildInfoMagic) <= len(win) && !bytes.HasPrefix(win[j:], buildInfoMagic) {
			j += 16
		}
		switch {
		case j+len(buildInfoMagic) > len(win) && err != nil:
			return nil, nil // not a Go binary, or one from before Go 1.18
		case j+len(buildInfoMagic) > len(win):
			n, _ := br.Discard(min(j, len(win)))
			off += int64(n)
			continue
		case j > 0 && err == nil: // bring it to the window's start, so that the window holds all of it
			n, _ := br.Discard(j)
			off += int64(n)
			continue
		}
		// Each candidate costs a refill of the window: a file of candidates is given up on.
		if candidates++; candidates > maxCandidates {
			return nil, nil
		}
		if bi, ok := parseBuildInfo(win[j:]); ok {
			return goPackages(bi), nil
		}
		n, _ := br.Discard(j + 16)
		off += int64(n)
	}
}

// maxCandidates bounds the aligned occurrences of the magic readGoBinary examines in one file: a Go
// binary has one, or a few more where it embeds the string.
const maxCandidates = 64

// newWindow returns the buffer readGoBinary looks through: large enough for the biggest build
// information it reads.
func newWindow() *bufio.Reader { return bufio.NewReaderSize(nil, maxModInfo+64) }

func isExecutable(head []byte) bool {
	return bytes.Equal(head, []byte("\x7fELF")) || // Linux
		bytes.HasPrefix(head, []byte("MZ")) || // Windows
		bytes.Equal(head, []byte{0xcf, 0xfa, 0xed, 0xfe}) // macOS, 64-bit
}

var errBuildInfo = errors.New("not Go build information")

// parseBuildInfo reads the inline build information at the start of b: the header, then the Go
// version and the module information, each a length-prefixed string.
func parseBuildInfo(b []byte) (*debug.BuildInfo, bool) {
	const headerSize = 32
	if len(b) < headerSize || b[15]&0x2 == 0 {
		return nil, false
	}
	r := bytes.NewReader(b[headerSize:])
	version, err := readString(r)
	if err != nil || !strings.HasPrefix(version, "go") && !strings.HasPrefix(version, "devel") {
		return nil, false
	}
	mod, err := readString(r)
	if err != nil {
		return nil, false
	}
	// The module information is framed by 16-byte sentinels.
	if len(mod) >= 33 && mod[len(mod)-17] == '\n' {
		mod = mod[16 : len(mod)-16]
	} else {
		mod = ""
	}
	bi, err := debug.ParseBuildInfo(mod)
	if err != nil {
		return nil, false
	}
	bi.GoVersion = version
	return bi, true
}

func readString(r *bytes.Reader) (string, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > maxModInfo || n > uint64(r.Len()) {
		return "", errBuildInfo
	}
	b := make([]byte, n)
	r.Read(b)
	return string(b), nil
}

func goPackages(bi *debug.BuildInfo) []Package {
	var pkgs []Package
	add := func(m *debug.Module) {
		if m.Replace != nil {
			m = m.Replace
		}
		// A main module built from a checkout has the version "(devel)": nothing to match.
		if m.Path == "" || m.Version == "" || m.Version == "(devel)" {
			return
		}
		pkgs = append(pkgs, Package{Name: m.Path, Version: m.Version, Ecosystem: "Go",
			PURL: purl("golang", path.Dir(m.Path), path.Base(m.Path), m.Version)})
	}
	add(&bi.Main)
	for _, m := range bi.Deps {
		add(m)
	}
	// "go1.22.1 X:boringcrypto" is the standard library at 1.22.1, as the Go advisories version it.
	if v, _, _ := strings.Cut(bi.GoVersion, " "); strings.HasPrefix(v, "go1") {
		v = strings.TrimPrefix(v, "go")
		pkgs = append(pkgs, Package{Name: "stdlib", Version: v, Ecosystem: "Go", PURL: purl("golang", "", "stdlib", v)})
	}
	return pkgs
}
