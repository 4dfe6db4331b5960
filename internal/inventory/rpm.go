package inventory

import (
	"fmt"
	"io"
	"os"
	"strings"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
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
	defer os.Remove(f.Name())
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
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
