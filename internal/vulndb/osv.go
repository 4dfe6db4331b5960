package vulndb

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Advisory is an OSV advisory (https://ossf.github.io/osv-schema/), the fields Wharf reads.
type Advisory struct {
	ID               string          `json:"id"`
	Aliases          []string        `json:"aliases,omitempty"`
	Upstream         []string        `json:"upstream,omitempty"`
	Modified         time.Time       `json:"modified"`
	Published        time.Time       `json:"published,omitzero"`
	Withdrawn        time.Time       `json:"withdrawn,omitzero"`
	Summary          string          `json:"summary,omitempty"`
	Details          string          `json:"details,omitempty"`
	Severity         []SeverityScore `json:"severity,omitempty"`
	Affected         []Affected      `json:"affected,omitempty"`
	References       []Reference     `json:"references,omitempty"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// SeverityScore is a severity an advisory gives: type CVSS_V3 or CVSS_V4 with the vector as score, or a
// database's own ("Ubuntu" with "medium").
type SeverityScore struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected is a package an advisory affects and the versions it affects.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []SeverityScore `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Package names a package in its ecosystem.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// Range is a range of affected versions: type ECOSYSTEM, SEMVER or GIT, and its events in version order.
type Range struct {
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one boundary of a range; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Reference is a link about the advisory.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// maxAdvisorySize bounds one advisory's JSON (the largest osv.dev publishes are a few MiB).
const maxAdvisorySize = 32 << 20

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// ParseAdvisory parses one OSV advisory and checks what matching relies on: an id, a modification time,
// and packages with an ecosystem and a name.
func ParseAdvisory(data []byte) (*Advisory, error) {
	var a Advisory
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("not an OSV advisory: %w", err)
	}
	if !validID.MatchString(a.ID) {
		return nil, fmt.Errorf("OSV advisory with an invalid id %q", a.ID)
	}
	if a.Modified.IsZero() {
		return nil, fmt.Errorf("OSV advisory %s has no modified time", a.ID)
	}
	for _, af := range a.Affected {
		if af.Package.Ecosystem == "" || af.Package.Name == "" {
			return nil, fmt.Errorf("OSV advisory %s names a package without an ecosystem or a name", a.ID)
		}
		for _, r := range af.Ranges {
			for _, e := range r.Events {
				if n := countSet(e.Introduced, e.Fixed, e.LastAffected, e.Limit); n != 1 {
					return nil, fmt.Errorf("OSV advisory %s has a range event with %d versions", a.ID, n)
				}
			}
		}
	}
	return &a, nil
}

func countSet(s ...string) int {
	n := 0
	for _, v := range s {
		if v != "" {
			n++
		}
	}
	return n
}

// Ecosystem normalises an OSV ecosystem to the one inventories name: "Ubuntu:22.04:LTS" is "Ubuntu:22.04",
// Red Hat's products and streams ("Red Hat:enterprise_linux:9::appstream") are "Red Hat", and
// "Alpine:3.19" is "Alpine:v3.19". Others stay as they are ("Debian:12", "Go", "npm").
func Ecosystem(e string) string {
	base, rest, _ := strings.Cut(e, ":")
	switch base {
	case "Ubuntu":
		return strings.TrimSuffix(e, ":LTS")
	case "Red Hat":
		return base
	case "Alpine":
		if rest != "" && !strings.HasPrefix(rest, "v") {
			return base + ":v" + rest
		}
	}
	return e
}

// PackageName normalises a package name within its ecosystem: PyPI names as PEP 503 does (lower case, runs
// of "-", "_" and "." as one "-"); others are compared as they are.
func PackageName(ecosystem, name string) string {
	if base, _, _ := strings.Cut(ecosystem, ":"); base == "PyPI" {
		return pypiSeparators.ReplaceAllString(strings.ToLower(name), "-")
	}
	return name
}

var pypiSeparators = regexp.MustCompile(`[-_.]+`)
