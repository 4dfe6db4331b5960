package inventory

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRPMHeaderTooLarge reads an rpmdb.sqlite whose one header claims the largest index count: the rpm
// library would allocate 32 GiB for it, which the Go runtime cannot recover from. The database is refused.
func TestRPMHeaderTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	header := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0x7fffffff), 0)
	for _, q := range []string{"CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
		"INSERT INTO Packages (blob) VALUES (?)"} {
		var args []any
		if bytes.HasPrefix([]byte(q), []byte("INSERT")) {
			args = append(args, header)
		}
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readRPM(bytes.NewReader(data)); !errors.Is(err, errRPMHeader) {
		t.Fatalf("readRPM = %v, want errRPMHeader", err)
	}
}

// TestRPMDamagedHeaderFreesDisk reads an rpmdb.sqlite padded to 8 MiB whose headers are of the right sizes
// but damaged: the rpm library stops at the first and leaves its reader holding the database open. The
// copy of the database is truncated all the same, so that scans of such images do not fill the disk.
func TestRPMDamagedHeaderFreesDisk(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd")
	}
	path := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	header := append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 1), 0), make([]byte, 16)...)
	if _, err := db.Exec("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	padding := append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 1), 8<<20), make([]byte, 16+8<<20)...)
	for _, blob := range [][]byte{header, header, padding} {
		if _, err := db.Exec("INSERT INTO Packages (blob) VALUES (?)", blob); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readRPM(bytes.NewReader(data)); err == nil {
		t.Fatal("a damaged database was read")
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if !bytes.Contains([]byte(target), []byte("wharf-rpmdb-")) {
			continue
		}
		if fi, err := os.Stat(filepath.Join("/proc/self/fd", fd.Name())); err == nil && fi.Size() > 0 {
			t.Errorf("%s is open and holds %d bytes", target, fi.Size())
		}
	}
}

// TestBerkeleyDBDamaged reads a real Berkeley DB rpm database (CentOS 5's) damaged as an image could
// have it: a hash page claiming more entries than it holds (the rpm library's reader panics in a
// goroutine of its own, which ends the process), an overflow chain that loops (it grows without end).
// Each is refused; all the library's own databases are read.
func TestBerkeleyDBDamaged(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/knqyf263/go-rpmdb").Output()
	if err != nil {
		t.Fatal(err)
	}
	testdata := filepath.Join(strings.TrimSpace(string(out)), "pkg", "testdata")
	dbs, _ := filepath.Glob(filepath.Join(testdata, "*", "Packages*"))
	sqlites, _ := filepath.Glob(filepath.Join(testdata, "*", "rpmdb.sqlite"))
	for _, p := range append(dbs, sqlites...) {
		if err := checkHeaders(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	orig, err := os.ReadFile(filepath.Join(testdata, "centos5-plain", "Packages"))
	if err != nil {
		t.Fatal(err)
	}
	const size = 4096 // its page size
	var hashPage, overflow int
	for n := 1; n < len(orig)/size; n++ {
		switch orig[n*size+25] {
		case 13, 2:
			if hashPage == 0 {
				hashPage = n
			}
		case 7:
			if overflow == 0 {
				overflow = n
			}
		}
	}
	for _, c := range []struct {
		name   string
		damage func(b []byte)
	}{
		{"too many entries", func(b []byte) { binary.LittleEndian.PutUint16(b[hashPage*size+20:], 0xfffe) }},
		{"a chain that loops", func(b []byte) { binary.LittleEndian.PutUint32(b[overflow*size+16:], uint32(overflow)) }},
	} {
		b := append([]byte(nil), orig...)
		c.damage(b)
		p := filepath.Join(t.TempDir(), "Packages")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := checkHeaders(p); !errors.Is(err, errRPMHeader) {
			t.Errorf("%s: %v, want errRPMHeader", c.name, err)
		}
	}
}
