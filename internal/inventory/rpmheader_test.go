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
