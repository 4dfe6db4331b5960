package identity

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/wharf-dev/wharf/internal/store"
)

// constraint is what the IAM API model requires of a request parameter; name is the parameter as AWS's
// validation messages call it.
type constraint struct {
	name    string
	max     int
	pattern string // as AWS quotes it
	re      *regexp.Regexp
}

// The IAM model's userNameType, groupNameType, roleNameType, policyNameType and policyDocumentType.
var (
	namePattern = regexp.MustCompile(`^[\w+=,.@-]+$`)
	docPattern  = regexp.MustCompile(`^[\t\n\r\x{20}-\x{FF}]+$`)

	userNameType       = constraint{"userName", 64, `[\w+=,.@-]+`, namePattern}
	groupNameType      = constraint{"groupName", 128, `[\w+=,.@-]+`, namePattern}
	roleNameType       = constraint{"roleName", 64, `[\w+=,.@-]+`, namePattern}
	policyNameType     = constraint{"policyName", 128, `[\w+=,.@-]+`, namePattern}
	policyDocumentType = constraint{"policyDocument", 131072, `[\u0009\u000A\u000D\u0020-\u00FF]+`, docPattern}
	trustPolicyType    = constraint{"assumeRolePolicyDocument", 131072, `[\u0009\u000A\u000D\u0020-\u00FF]+`, docPattern}
)

// check returns ErrInvalid with AWS's ValidationError message when value breaks the constraint, as in
// "1 validation error detected: Value 'x' at 'userName' failed to satisfy constraint: Member must have
// length less than or equal to 64".
func (c constraint) check(value string) error {
	var broken []string
	if !c.re.MatchString(value) {
		broken = append(broken, "Member must satisfy regular expression pattern: "+c.pattern)
	}
	if n := utf8.RuneCountInString(value); n < 1 {
		broken = append(broken, "Member must have length greater than or equal to 1")
	} else if n > c.max {
		broken = append(broken, fmt.Sprintf("Member must have length less than or equal to %d", c.max))
	}
	if len(broken) == 0 {
		return nil
	}
	for i, b := range broken {
		broken[i] = fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", value, c.name, b)
	}
	errs := "error"
	if len(broken) > 1 {
		errs = "errors"
	}
	return fmt.Errorf("%w: %d validation %s detected: %s", ErrInvalid, len(broken), errs, strings.Join(broken, "; "))
}

// Kinds of owners of inline policies besides store.GroupPolicies and store.RolePolicies.
const userPolicies = "user"

// inlineQuota is IAM's quota on the aggregate size of one user's, group's or role's inline policies.
var inlineQuota = map[string]int{userPolicies: 2048, store.GroupPolicies: 5120, store.RolePolicies: 10240}

// policySize is a policy's size as IAM counts it against the quotas: characters, whitespace not counted.
func policySize(doc string) int {
	n := 0
	for _, r := range doc {
		switch r {
		case ' ', '\t', '\n', '\r':
		default:
			n++
		}
	}
	return n
}

// checkInlineQuota returns ErrLimitExceeded, with AWS's message, when an owner's inline policies would
// exceed their quota once document is stored as policy name (replacing a policy of that name).
func checkInlineQuota(kind, owner string, policies map[string]string, name, document string) error {
	total := policySize(document)
	for n, d := range policies {
		if n != name {
			total += policySize(d)
		}
	}
	if quota := inlineQuota[kind]; total > quota {
		return fmt.Errorf("%w: Maximum policy size of %d bytes exceeded for %s %s", ErrLimitExceeded, quota, kind, owner)
	}
	return nil
}

// ValidateName checks the name of an IAM entity — kind "user", "group" or "role" — as IAM does, with
// AWS's ValidationError text: the API checks a name before it becomes part of the ARN it authorizes.
func ValidateName(kind, name string) error {
	switch kind {
	case "user":
		return userNameType.check(name)
	case "group":
		return groupNameType.check(name)
	case "role":
		return roleNameType.check(name)
	}
	return fmt.Errorf("%w: unknown kind of IAM entity %q", ErrInvalid, kind)
}
