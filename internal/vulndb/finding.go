// Package vulndb is Wharf's vulnerability database: advisories in the OSV format, imported offline, and
// the matching of an image's inventory against them.
package vulndb

import (
	"time"

	"github.com/wharf-dev/wharf/internal/inventory"
)

// Severities, as ECR reports them, highest first.
const (
	SeverityCritical      = "CRITICAL"
	SeverityHigh          = "HIGH"
	SeverityMedium        = "MEDIUM"
	SeverityLow           = "LOW"
	SeverityInformational = "INFORMATIONAL"
	SeverityUndefined     = "UNDEFINED"
)

// Finding is one advisory that applies to one package of an image.
type Finding struct {
	// Name is the CVE id when the advisory has one (its id or an alias), else the advisory's id.
	Name        string   `json:"name"`
	AdvisoryID  string   `json:"advisoryId"` // the OSV id: DSA-5532-1, GO-2023-2102, CVE-2023-5678
	Aliases     []string `json:"aliases,omitempty"`
	Summary     string   `json:"summary,omitempty"`
	Description string   `json:"description,omitempty"`
	URI         string   `json:"uri,omitempty"` // the advisory's page
	Severity    string   `json:"severity"`      // one of the Severity constants
	// CVSS of the advisory, when it gives one: the vector, its base score and version ("3.1", "4.0").
	CVSSVector  string  `json:"cvssVector,omitempty"`
	CVSSScore   float64 `json:"cvssScore,omitempty"`
	CVSSVersion string  `json:"cvssVersion,omitempty"`

	Package       inventory.Package `json:"package"`
	FixedVersions []string          `json:"fixedVersions,omitempty"` // versions that fix it, when known
	References    []string          `json:"references,omitempty"`
	Published     time.Time         `json:"published,omitzero"`
	Modified      time.Time         `json:"modified,omitzero"`
}
