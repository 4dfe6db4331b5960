package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	blobfs "github.com/wharf-dev/wharf/internal/blob/fs"
)

// CreateDir returns the location of a backup in a local directory, created (readable by its owner only)
// when missing.
func CreateDir(path string) (Location, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return Location{}, err
	}
	blobs, err := blobfs.New(path)
	if err != nil {
		return Location{}, err
	}
	return Location{Blobs: blobs, Files: dirFiles(path)}, nil
}

// OpenDir returns the location of the backup in a local directory, which must hold one.
func OpenDir(path string) (Location, error) {
	if fi, err := os.Stat(path); err != nil {
		return Location{}, err
	} else if !fi.IsDir() {
		return Location{}, fmt.Errorf("%s is not a directory", path)
	}
	if _, err := os.Stat(filepath.Join(path, ManifestFile)); errors.Is(err, fs.ErrNotExist) {
		return Location{}, errNoBackup
	}
	return CreateDir(path)
}

// dirFiles are the files of a backup directory.
type dirFiles string

func (d dirFiles) path(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("%q is not a file name of a backup", name)
	}
	return filepath.Join(string(d), name), nil
}

func (d dirFiles) ReadFile(_ context.Context, name string) ([]byte, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// WriteFile replaces a file atomically and durably: a temporary file, synced, renamed over it.
func (d dirFiles) WriteFile(_ context.Context, name string, data []byte) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	var id [8]byte
	rand.Read(id[:])
	tmp := p + ".tmp-" + hex.EncodeToString(id[:])
	if err := writeFile(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(string(d))
}

// writeFile creates a new file readable by its owner only, with data, synced.
func writeFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
