package vulndb

import (
	"encoding/json"
	"strings"

	cvss40 "github.com/pandatix/go-cvss/40"
)

// severity is how severe an advisory is for one affected package.
type severity struct {
	level   string // a Severity constant
	vector  string
	score   float64
	version string
}

// severityOf rates an advisory for one of its affected packages: by the base score of its CVSS vector (the
// package's own first, then the advisory's; v3 before v4), else by the severity its database gives, else
// UNDEFINED.
func severityOf(a *Advisory, af *Affected) severity {
	for _, scores := range [][]SeverityScore{af.Severity, a.Severity} {
		for _, typ := range []string{"CVSS_V3", "CVSS_V4"} {
			for _, s := range scores {
				if s.Type != typ {
					continue
				}
				if sev, ok := cvssSeverity(s.Score); ok {
					return sev
				}
			}
		}
	}
	for _, scores := range [][]SeverityScore{af.Severity, a.Severity} {
		for _, s := range scores {
			if level := databaseSeverity(s.Score); s.Type == "Ubuntu" && level != "" {
				return severity{level: level}
			}
		}
	}
	for _, raw := range []json.RawMessage{af.EcosystemSpecific, af.DatabaseSpecific, a.DatabaseSpecific} {
		var ds struct {
			Severity any `json:"severity"`
		}
		if json.Unmarshal(raw, &ds) != nil {
			continue
		}
		if s, ok := ds.Severity.(string); ok {
			if level := databaseSeverity(s); level != "" {
				return severity{level: level}
			}
		}
	}
	return severity{level: SeverityUndefined}
}

// cvssSeverity rates a CVSS v3 or v4 vector by its base score.
func cvssSeverity(vector string) (severity, bool) {
	var score float64
	var version string
	switch {
	case strings.HasPrefix(vector, "CVSS:3."):
		var err error
		if score, version, err = CVSS3Score(vector); err != nil {
			return severity{}, false
		}
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		v, err := cvss40.ParseVector(vector)
		if err != nil {
			return severity{}, false
		}
		score, version = v.Score(), "4.0"
	default:
		return severity{}, false
	}
	level := SeverityOfScore(score)
	if level == "" {
		return severity{}, false
	}
	return severity{level: level, vector: vector, score: score, version: version}, true
}

// databaseSeverity maps the severities databases give (GitHub's "MODERATE", Debian's and Ubuntu's
// "medium", "negligible", Red Hat's "important") to ECR's.
func databaseSeverity(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return SeverityCritical
	case "high", "important":
		return SeverityHigh
	case "medium", "moderate":
		return SeverityMedium
	case "low":
		return SeverityLow
	case "negligible", "unimportant", "informational":
		return SeverityInformational
	}
	return ""
}
