package inventory

import (
	"bytes"
	"strings"
)

// ParseDpkgStatus reads a dpkg status file (/var/lib/dpkg/status, or one file of the status.d directory
// distroless images have): the installed packages, with the source package they were built from when
// it differs ("Source: openssl" or "Source: openssl (3.0.11-1)").
func ParseDpkgStatus(b []byte) []Package { return parseDpkgStatus(b, -1) }

// parseDpkgStatus is ParseDpkgStatus stopping after more than max packages (unless max < 0): a file of
// tiny records holds millions.
func parseDpkgStatus(b []byte, max int) []Package {
	var pkgs []Package
	for len(b) > 0 && (max < 0 || len(pkgs) <= max) {
		var para []byte
		para, b = nextParagraph(b)
		if p, ok := dpkgPackage(para); ok {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}

// nextParagraph splits deb822 (and apk) text at the next blank line.
func nextParagraph(b []byte) (para, rest []byte) {
	para, rest, _ = bytes.Cut(b, []byte("\n\n"))
	return para, rest
}

func dpkgPackage(para []byte) (Package, bool) {
	var p Package
	var source string
	installed := true
	for len(para) > 0 {
		var line []byte
		line, para, _ = bytes.Cut(para, []byte("\n"))
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue // a continuation line of a multi-line field (Description, Conffiles)
		}
		key, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v := strings.TrimSpace(string(value))
		switch strings.ToLower(string(key)) {
		case "package":
			p.Name = v
		case "version":
			p.Version = v
		case "architecture":
			p.Arch = v
		case "source":
			source = v
		case "status":
			// "install ok installed"; "deinstall ok config-files" is a removed package's leftovers.
			installed = strings.HasSuffix(v, " installed")
		}
	}
	if p.Name == "" || p.Version == "" || !installed {
		return Package{}, false
	}
	if source != "" {
		name, version, _ := strings.Cut(source, " ")
		version = strings.TrimSpace(version)
		if strings.HasPrefix(version, "(") && strings.HasSuffix(version, ")") {
			version = strings.TrimSpace(version[1 : len(version)-1])
		} else {
			version = ""
		}
		if name != p.Name {
			p.SourceName = name
		}
		if version != "" && version != p.Version {
			p.SourceVersion = version
		}
	}
	return p, true
}
