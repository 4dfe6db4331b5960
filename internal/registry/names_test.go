package registry

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzNames holds the hand-written name and tag checks to the patterns they implement.
func FuzzNames(f *testing.F) {
	repoRE := regexp.MustCompile(`^(?:` + modelNamePattern + `)$`)
	tagRE := regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	ecrTagRE := regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,299}$`)
	for _, s := range []string{"a", "ab", "a/b", "a//b", "a-b", "a--b", "a__b", "a___b", "a-_b", "a_-b", "a---b", "a/-b", "a-/b", "a._b", "-a", "a-", "a/b-c.d_e/f", "A", "_x", ".x", "x.", "v1.0", "é", "", strings.Repeat("t", 128), strings.Repeat("t", 129), strings.Repeat("t", 300), strings.Repeat("t", 301)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validRepoName(s) != repoRE.MatchString(s) {
			t.Fatalf("repository name %q: %v, the pattern says %v", s, validRepoName(s), repoRE.MatchString(s))
		}
		if validTag(s, 128) != tagRE.MatchString(s) {
			t.Fatalf("tag %q: %v, the pattern says %v", s, validTag(s, 128), tagRE.MatchString(s))
		}
		if validTag(s, 300) != ecrTagRE.MatchString(s) {
			t.Fatalf("ECR tag %q: %v, the pattern says %v", s, validTag(s, 300), ecrTagRE.MatchString(s))
		}
	})
}
