package vulndb

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/osv-scalibr/semantic"
)

func FuzzParseAdvisory(f *testing.F) {
	files, _ := filepath.Glob("testdata/osv/*/*.json")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "1.0.0")
	}
	f.Fuzz(func(t *testing.T, data []byte, version string) {
		a, err := ParseAdvisory(data)
		if err != nil {
			return
		}
		if a.ID == "" || a.Modified.IsZero() {
			t.Fatalf("parsed an advisory without an id or a modified time: %q", data)
		}
		for i := range a.Affected {
			af := &a.Affected[i]
			severityOf(a, af)
			eco := Ecosystem(af.Package.Ecosystem)
			affects(af, eco, version)
			for _, r := range af.Ranges {
				inRange(func(s string) (semantic.Version, error) { return semantic.Parse(s, eco) }, version, r.Events)
			}
		}
		findingName(a)
	})
}

func FuzzCVSS3Score(f *testing.F) {
	for _, v := range []string{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.0/AV:L/AC:H/PR:L/UI:R/S:C/C:L/I:N/A:N/E:P",
		"CVSS:3.1/AV:N", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, vector string) {
		score, version, err := CVSS3Score(vector)
		if err == nil && (score < 0 || score > 10 || version == "") {
			t.Fatalf("%q: score %v version %q", vector, score, version)
		}
		if s, ok := cvssSeverity(vector); ok && (s.score <= 0 || s.score > 10 || s.level == "") {
			t.Fatalf("%q: %+v", vector, s)
		}
	})
}
