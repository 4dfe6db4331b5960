package inventory

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// ParseOSRelease reads an os-release file (KEY=value lines, values optionally quoted).
func ParseOSRelease(b []byte) OS {
	var os OS
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(key, "#") {
			continue
		}
		if v, err := strconv.Unquote(value); err == nil {
			value = v
		} else {
			value = strings.Trim(value, `"'`)
		}
		switch key {
		case "ID":
			os.ID = value
		case "VERSION_ID":
			os.VersionID = value
		case "PRETTY_NAME":
			os.PrettyName = value
		}
	}
	return os
}

// Ecosystem is the OSV ecosystem of the distribution's packages: "Debian:12", "Ubuntu:22.04:LTS",
// "Alpine:v3.19", "Red Hat:enterprise_linux:9" (a prefix), "Rocky Linux:9", "AlmaLinux:9"; empty for a distribution without one.
func (o OS) Ecosystem() string {
	major, _, _ := strings.Cut(o.VersionID, ".")
	switch o.ID {
	case "debian":
		if major == "" {
			return "Debian" // testing and unstable have no VERSION_ID
		}
		return "Debian:" + major
	case "ubuntu":
		// Ubuntu's advisories name LTS releases "Ubuntu:22.04:LTS", the others "Ubuntu:23.10"; an LTS
		// release has an even year and April's month.
		if y, err := strconv.Atoi(major); err == nil && y%2 == 0 && strings.HasSuffix(o.VersionID, ".04") {
			return "Ubuntu:" + o.VersionID + ":LTS"
		}
		return "Ubuntu:" + o.VersionID
	case "alpine":
		parts := strings.SplitN(o.VersionID, ".", 3)
		if len(parts) < 2 {
			return "Alpine"
		}
		return "Alpine:v" + parts[0] + "." + parts[1]
	case "rhel":
		// Red Hat's advisories are scoped by product stream, "Red Hat:enterprise_linux:9::appstream"
		// and "...::baseos": this is the prefix they share for the release.
		return "Red Hat:enterprise_linux:" + major
	case "rocky":
		return "Rocky Linux:" + major
	case "almalinux":
		return "AlmaLinux:" + major
	}
	return ""
}
