package vulndb

import (
	"fmt"
	"testing"
)

func TestCVSS3Score(t *testing.T) {
	for _, tc := range []struct {
		vector string
		score  float64
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8},                // network, no privileges, full impact
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0},               // CVE-2021-44228
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5},                // CVE-2023-44487 (HTTP/2 rapid reset)
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9},                // CVE-2016-2107
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8},                // CVE-2021-4034 (pkexec)
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1},                // a reflected XSS
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", 5.3},                // CVE-2023-5678
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6},                // the lowest non-zero kind
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9},                // scope changed with low privileges
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0},                  // no impact
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8},                // v3.0
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C", 9.8},  // temporal metrics ignored
		{"CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 6.5},                // adjacent network
		{"CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:C/C:H/I:H/A:H", 7.8},                // local, high complexity, scope changed
		{"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", 7.2},                // high privileges
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 8.8},                // user interaction
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 6.5},                // low privileges
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:L/I:L/A:N", 7.2},                // scope changed, low impact
		{"CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 7.8},                // local file opened by a user
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1},                // high complexity
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3},                // information disclosure
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N", 5.3},                // integrity
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H", 5.5},                // local denial of service
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", 6.5},                // CVE-2024-0727
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/CR:H/IR:H/AR:H", 9.8}, // environmental metrics ignored
	} {
		got, _, err := CVSS3Score(tc.vector)
		if err != nil || got != tc.score {
			t.Errorf("%s: %v, %v; want %v", tc.vector, got, err, tc.score)
		}
	}
	for _, bad := range []string{"", "CVSS:2.0/AV:N", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
		"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/", "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"} {
		if _, _, err := CVSS3Score(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSeverity(t *testing.T) {
	for _, tc := range []struct {
		doc, want string
	}{
		{`"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]`, "CRITICAL 9.8"},
		{`"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]`, "HIGH 7.5"},
		{`"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]`, "LOW 1.6"},
		{`"severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]`, "CRITICAL 9.3"},
		{`"severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"}]`, "MEDIUM 4.8"},
		// v3 is preferred to v4; an unreadable vector falls back to the database's severity.
		{`"severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"}]`, "MEDIUM 5.3"},
		{`"severity":[{"type":"CVSS_V3","score":"garbage"}],"database_specific":{"severity":"LOW"}`, "LOW 0"},
		{`"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"}],"database_specific":{"severity":"MODERATE"}`, "MEDIUM 0"},
		{`"severity":[{"type":"Ubuntu","score":"high"}]`, "HIGH 0"},
		{`"database_specific":{"severity":"unimportant"}`, "INFORMATIONAL 0"},
		{`"database_specific":{"severity":{"nested":1}}`, "UNDEFINED 0"},
		{`"summary":"none"`, "UNDEFINED 0"},
	} {
		a, err := ParseAdvisory([]byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z",` + tc.doc + `}`))
		if err != nil {
			t.Fatal(err)
		}
		s := severityOf(a, &Affected{})
		if got := fmt.Sprintf("%s %g", s.level, s.score); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.doc, got, tc.want)
		}
	}
}
