package inventory

import (
	"bytes"
	"strings"
)

// ParseApkInstalled reads Alpine's package database, /lib/apk/db/installed: one paragraph per package
// of "X:value" lines (P name, V version, A architecture, o origin, the source package).
func ParseApkInstalled(b []byte) []Package { return parseApkInstalled(b, -1) }

// parseApkInstalled is ParseApkInstalled stopping after more than max packages (unless max < 0).
func parseApkInstalled(b []byte, max int) []Package {
	var pkgs []Package
	for len(b) > 0 && (max < 0 || len(pkgs) <= max) {
		var para []byte
		para, b = nextParagraph(b)
		var p Package
		for len(para) > 0 {
			var line []byte
			line, para, _ = bytes.Cut(para, []byte("\n"))
			if len(line) < 2 || line[1] != ':' {
				continue
			}
			v := strings.TrimSpace(string(line[2:]))
			switch line[0] {
			case 'P':
				p.Name = v
			case 'V':
				p.Version = v
			case 'A':
				p.Arch = v
			case 'o':
				p.SourceName = v
			}
		}
		if p.Name == "" || p.Version == "" {
			continue
		}
		if p.SourceName == p.Name {
			p.SourceName = ""
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}
