package vulndb

import (
	"fmt"
	"math"
	"strings"
)

// cvss3 weights of the base metrics, by metric and value (FIRST's CVSS v3.1 specification, section 7.4).
var cvss3 = map[string]map[string]float64{
	"AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
	"AC": {"L": 0.77, "H": 0.44},
	"PR": {"N": 0.85, "L": 0.62, "H": 0.27},
	"UI": {"N": 0.85, "R": 0.62},
	"S":  {"U": 0, "C": 0},
	"C":  {"H": 0.56, "L": 0.22, "N": 0},
	"I":  {"H": 0.56, "L": 0.22, "N": 0},
	"A":  {"H": 0.56, "L": 0.22, "N": 0},
}

// CVSS3Score returns the base score of a CVSS v3.0 or v3.1 vector ("CVSS:3.1/AV:N/AC:L/…") and its version.
// Temporal and environmental metrics may follow the base metrics; they do not change the base score.
func CVSS3Score(vector string) (score float64, version string, err error) {
	parts := strings.Split(vector, "/")
	switch parts[0] {
	case "CVSS:3.0":
		version = "3.0"
	case "CVSS:3.1":
		version = "3.1"
	default:
		return 0, "", fmt.Errorf("not a CVSS v3 vector: %q", vector)
	}
	m := map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, ":")
		if !ok || v == "" {
			return 0, "", fmt.Errorf("malformed CVSS metric %q", p)
		}
		if _, dup := m[k]; dup {
			return 0, "", fmt.Errorf("CVSS metric %s given twice", k)
		}
		m[k] = v
	}
	w := map[string]float64{}
	for k, values := range cvss3 {
		v, ok := values[m[k]]
		if !ok {
			return 0, "", fmt.Errorf("CVSS vector %q lacks a valid %s", vector, k)
		}
		w[k] = v
	}
	changed := m["S"] == "C"
	if changed && m["PR"] == "L" {
		w["PR"] = 0.68
	} else if changed && m["PR"] == "H" {
		w["PR"] = 0.5
	}
	iss := 1 - (1-w["C"])*(1-w["I"])*(1-w["A"])
	impact := 6.42 * iss
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	}
	if impact <= 0 {
		return 0, version, nil
	}
	exploitability := 8.22 * w["AV"] * w["AC"] * w["PR"] * w["UI"]
	base := impact + exploitability
	if changed {
		base *= 1.08
	}
	base = math.Min(base, 10)
	if version == "3.0" {
		return math.Ceil(base*10) / 10, version, nil
	}
	return roundUp(base), version, nil
}

// roundUp is CVSS v3.1's Roundup: the smallest number with one decimal at least x, free of floating point
// error (the specification's Appendix A).
func roundUp(x float64) float64 {
	n := int64(math.Round(x * 100000))
	if n%10000 == 0 {
		return float64(n) / 100000
	}
	return float64(n/10000+1) / 10
}

// SeverityOfScore is the severity of a CVSS base score; "" for 0 (none).
func SeverityOfScore(score float64) string {
	switch {
	case score >= 9:
		return SeverityCritical
	case score >= 7:
		return SeverityHigh
	case score >= 4:
		return SeverityMedium
	case score > 0:
		return SeverityLow
	}
	return ""
}
