package inventory

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
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
