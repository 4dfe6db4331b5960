package inventory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
	"github.com/knqyf263/go-rpmdb/pkg/bdb"
	dbi "github.com/knqyf263/go-rpmdb/pkg/db"
	"github.com/knqyf263/go-rpmdb/pkg/ndb"
	"github.com/knqyf263/go-rpmdb/pkg/sqlite3"
	_ "modernc.org/sqlite" // the "sqlite" driver rpmdb.sqlite is read with
)

// readRPM reads an rpm database (Berkeley DB Packages, ndb Packages.db or rpmdb.sqlite). The library
// reads files, so the database is copied to a temporary file first, the one file of an image written to
// disk.
func readRPM(r io.Reader) ([]Package, error) {
	f, err := os.CreateTemp("", "wharf-rpmdb-*")
	if err != nil {
		return nil, err
	}
	// Truncated before it is removed: the library leaves its reader holding the file open when it stops
	// at a damaged header, and the disk it takes is freed all the same.
	defer os.Remove(f.Name())
	defer os.Truncate(f.Name(), 0)
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := checkHeaders(f.Name()); err != nil {
		return nil, err
	}
	db, err := rpmdb.Open(f.Name())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	infos, err := db.ListPackages()
	if err != nil {
		return nil, err
	}
	pkgs := make([]Package, 0, len(infos))
	for _, info := range infos {
		if info.Name == "gpg-pubkey" {
			continue // an imported signing key, not software
		}
		p := Package{Name: info.Name, Version: rpmVersion(info.EpochNum(), info.Version, info.Release), Arch: info.Arch}
		if src := sourceRPMName(info.SourceRpm); src != "" && src != p.Name {
			p.SourceName = src
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// rpmVersion is [epoch:]version-release, the form the RHEL family's advisories use.
func rpmVersion(epoch int, version, release string) string {
	v := version
	if release != "" {
		v += "-" + release
	}
	if epoch > 0 {
		v = fmt.Sprintf("%d:%s", epoch, v)
	}
	return v
}

// sourceRPMName is the name in a source rpm's file name: "openssl-3.0.7-24.el9.src.rpm" is "openssl".
func sourceRPMName(file string) string {
	s := strings.TrimSuffix(file, ".src.rpm")
	for range 2 { // drop -release, then -version
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return ""
		}
		s = s[:i]
	}
	return s
}

// errRPMHeader is returned for an rpm database with a package header that cannot be read, or that
// describes more than it holds.
var errRPMHeader = errors.New("an rpm header is damaged")

// checkHeaders reads every package header of the rpm database at path, to the end, and refuses the
// database when one cannot be read or describes more than it holds. The rpm library allocates what a
// header's index count says (16 bytes an entry: 32 GiB for the largest count, which the Go runtime
// cannot recover from) before it checks it against the header's size, and it stops at a damaged header
// leaving its reader blocked, its database open.
func checkHeaders(path string) error {
	var db dbi.RpmDBInterface
	switch s, err := sqlite3.Open(path); {
	case err == nil:
		db = s
	case !errors.Is(err, sqlite3.ErrorInvalidSQLite3):
		return err
	default:
		switch n, err := ndb.Open(path); {
		case err == nil:
			db = n
		case !errors.Is(err, ndb.ErrorInvalidNDB):
			return err
		default:
			b, err := bdb.Open(path)
			if err != nil {
				return err
			}
			if err := checkBDB(b, path); err != nil {
				b.Close()
				return err
			}
			db = b
		}
	}
	defer db.Close()
	var bad error
	for e := range db.Read() { // to the end, so that the reader ends
		switch {
		case bad != nil:
		case e.Err != nil:
			bad = fmt.Errorf("%w: %w", errRPMHeader, e.Err)
		case !headerFits(e.Value):
			bad = fmt.Errorf("%w: its index and data are larger than its %d bytes", errRPMHeader, len(e.Value))
		}
	}
	return bad
}

// headerFits says whether an rpm header's index count and data length (the two big-endian 32-bit
// numbers it starts with) describe at least one entry and no more than the header holds.
func headerFits(h []byte) bool {
	if len(h) < 8 {
		return false
	}
	il, dl := int64(int32(binary.BigEndian.Uint32(h))), int64(int32(binary.BigEndian.Uint32(h[4:])))
	return il >= 1 && dl >= 0 && 8+16*il+dl <= int64(len(h))
}

// checkBDB walks a Berkeley DB rpm database as the rpm library's reader does, and refuses one that
// reader cannot walk safely: it reads the database in a goroutine of its own, where an offset out of
// its page is a panic no caller can recover from (the process dies), an overflow chain that loops
// grows without end, and a chain through a page of another type never ends.
func checkBDB(db *bdb.BerkeleyDB, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: Berkeley DB: "+format, append([]any{errRPMHeader}, args...)...)
	}
	size, swapped := int64(db.HashMetadata.PageSize), db.HashMetadata.Swapped
	page := func(n uint32) (*bdb.HashPage, []byte, error) {
		start := int64(n) * size
		if start+size > int64(len(data)) {
			return nil, nil, bad("page %d is past the end", n)
		}
		b := data[start : start+size]
		h, err := bdb.ParseHashPage(b, swapped)
		if err != nil {
			return nil, nil, bad("page %d: %v", n, err)
		}
		return h, b, nil
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if swapped {
		order = binary.BigEndian
	}
	for n := uint32(0); n <= db.HashMetadata.LastPageNo && int64(n+1)*size <= int64(len(data)); n++ {
		h, b, err := page(n)
		if err != nil {
			return err
		}
		if h.PageType != bdb.HashUnsortedPageType && h.PageType != bdb.HashPageType {
			continue
		}
		// The library computes the index's end in 16 bits.
		end := bdb.PageHeaderSize + int(h.NumEntries)*bdb.HashIndexEntrySize
		if h.NumEntries%2 != 0 || end > len(b) || end > 0xffff {
			return bad("page %d has %d entries", n, h.NumEntries)
		}
		for i := 1; i < int(h.NumEntries); i += 2 { // the values of key and value pairs
			v := int(order.Uint16(b[bdb.PageHeaderSize+2*i:]))
			if v >= len(b) {
				return bad("page %d: value at %d", n, v)
			}
			if b[v] != bdb.HashOffIndexPageType {
				continue
			}
			if v+bdb.HashOffPageSize > len(b) {
				return bad("page %d: value at %d", n, v)
			}
			e, err := bdb.ParseHashOffPageEntry(b[v:v+bdb.HashOffPageSize], swapped)
			if err != nil {
				return bad("page %d: %v", n, err)
			}
			seen := map[uint32]bool{}
			for next := e.PageNo; next != 0; {
				if seen[next] {
					return bad("the overflow chain of page %d loops", n)
				}
				seen[next] = true
				o, ob, err := page(next)
				if err != nil {
					return err
				}
				if o.PageType != bdb.OverflowPageType {
					return bad("the overflow chain of page %d goes through page %d, of type %d", n, next, o.PageType)
				}
				if o.NextPageNo == 0 && bdb.PageHeaderSize+int(o.FreeAreaOffset) > len(ob) {
					return bad("overflow page %d holds %d bytes", next, o.FreeAreaOffset)
				}
				next = o.NextPageNo
			}
		}
	}
	return nil
}
