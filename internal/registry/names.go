package registry

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// repoNamePattern is what ECR's messages say a repository name must match. ECR accepts more than that:
// modelNamePattern, its API model's (and the OCI distribution spec's), which also allows __ and runs of -.
const (
	repoNamePattern  = `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`
	modelNamePattern = `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
)

// validRepoName matches modelNamePattern: components of lowercase letters and digits, separated within by
// one of . _ __ or a run of -, and between by /. (By hand: every registry request checks a name; see the
// test that holds it to the pattern.)
func validRepoName(s string) bool {
	var sep string // the separators since the last letter or digit
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
			if i > 0 && !validSeparator(sep) {
				return false
			}
			sep = ""
		case c == '.' || c == '_' || c == '-' || c == '/':
			if i == 0 || len(sep) > 2 && c != '-' {
				return false
			}
			sep += string(c)
		default:
			return false
		}
	}
	return s != "" && sep == ""
}

// validSeparator says whether the separators between two letters or digits of a name are allowed.
func validSeparator(sep string) bool {
	switch sep {
	case "", ".", "_", "__", "/":
		return true
	}
	return strings.Trim(sep, "-") == ""
}

// validTag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,max-1}.
func validTag(s string, max int) bool {
	if len(s) == 0 || len(s) > max || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// ValidateRepositoryName checks a repository name against ECR's rules.
func ValidateRepositoryName(name string) error {
	switch {
	case len(name) < 2:
		return errf(KindNameInvalid, "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must have length greater than or equal to 2'")
	case len(name) > 256:
		return errf(KindNameInvalid, "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must have length less than or equal to 256'")
	case !validRepoName(name):
		return errf(KindNameInvalid, "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '%s''", repoNamePattern)
	}
	return nil
}

// TagRule is the rule an API holds image tags to. Both allow the characters of the distribution spec's
// tags ([a-zA-Z0-9_.-], not starting with . or -); the bound is the protocol's.
type TagRule int

const (
	// OCITags is the registry API's rule: the distribution spec's, up to 128 characters.
	OCITags TagRule = iota
	// ECRTags is the ECR API's: up to 300 characters (the model's ImageTag), with ECR's messages.
	ECRTags
)

// MaxTag is the longest tag the rule allows.
func (r TagRule) MaxTag() int {
	if r == ECRTags {
		return 300
	}
	return 128
}

// Pattern is the regular expression of the tags the rule allows.
func (r TagRule) Pattern() string {
	return fmt.Sprintf("[a-zA-Z0-9_][a-zA-Z0-9._-]{0,%d}", r.MaxTag()-1)
}

// Validate checks an image tag against the rule.
func (r TagRule) Validate(tag string) error {
	if validTag(tag, r.MaxTag()) {
		return nil
	}
	if r == OCITags {
		return errf(KindTagInvalid, "invalid tag %q: must match %s", tag, r.Pattern())
	}
	switch {
	case tag == "":
		return errf(KindTagInvalid, "Invalid parameter at 'imageTag' failed to satisfy constraint: 'Member must have length greater than or equal to 1'")
	case len(tag) > r.MaxTag():
		return errf(KindTagInvalid, "Invalid parameter at 'imageTag' failed to satisfy constraint: 'Member must have length less than or equal to %d'", r.MaxTag())
	}
	return errf(KindTagInvalid, "Invalid parameter at 'imageTag' failed to satisfy constraint: 'must satisfy regular expression '%s''", r.Pattern())
}

// ValidateTag checks an image tag by the registry API's rule (OCITags).
func ValidateTag(tag string) error { return OCITags.Validate(tag) }

// ParseDigest parses and checks a digest (sha256, sha384 or sha512, lowercase hex of the right length).
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", errf(KindDigestInvalid, "invalid digest %q: %v", s, err)
	}
	return d, nil
}

// IsDigest tells a reference that is a digest from one that is a tag.
func IsDigest(ref string) bool {
	for i := 0; i < len(ref); i++ {
		if ref[i] == ':' {
			return true
		}
	}
	return false
}
