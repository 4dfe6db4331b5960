// Package osvtest helps tests of the vulnerability database: it packs OSV advisories as osv.dev serves them.
package osvtest

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Zip returns the .json files under dir (walked) packed flat into a zip, one advisory a file, as osv.dev
// serves an ecosystem's all.zip.
func Zip(t testing.TB, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := zw.Create(filepath.Base(p))
		if err == nil {
			_, err = w.Write(data)
		}
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ZipFile writes Zip(dir) to a file of its own and returns its path.
func ZipFile(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "all.zip")
	if err := os.WriteFile(path, Zip(t, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
