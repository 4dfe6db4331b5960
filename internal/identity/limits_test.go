package identity_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/store"
)

// wantErr fails unless err is sentinel (and not other) with AWS's message after the sentinel's text.
func wantErr(t *testing.T, what string, err, sentinel, other error, message string) {
	t.Helper()
	if !errors.Is(err, sentinel) || other != nil && errors.Is(err, other) {
		t.Fatalf("%s: %v", what, err)
	}
	if message != "" && err.Error() != sentinel.Error()+": "+message {
		t.Fatalf("%s: message %q, want %q", what, err.Error(), sentinel.Error()+": "+message)
	}
}

// TestNameLimits: the IAM model's lengths and patterns of user, group, role and policy names, with AWS's
// ValidationError messages.
func TestNameLimits(t *testing.T) {
	s, _, _, _ := setup(t, "us-east-1")
	const acct = "111122223333"
	s.Bootstrap(ctx, acct, nil)
	long := func(n int) string { return strings.Repeat("a", n) }
	tooLong := func(v, field string, max int) string {
		return fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", v, field, max)
	}

	if _, err := s.CreateUser(ctx, acct, long(64)); err != nil {
		t.Fatalf("a 64-character user name: %v", err)
	}
	_, err := s.CreateUser(ctx, acct, long(65))
	wantErr(t, "a 65-character user name", err, identity.ErrInvalid, identity.ErrMalformedPolicy, tooLong(long(65), "userName", 64))
	_, err = s.CreateUser(ctx, acct, "bad name")
	wantErr(t, "a user name with a space", err, identity.ErrInvalid, nil,
		`1 validation error detected: Value 'bad name' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`)
	_, err = s.CreateUser(ctx, acct, "")
	wantErr(t, "an empty user name", err, identity.ErrInvalid, nil,
		`2 validation errors detected: Value '' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+; `+
			`Value '' at 'userName' failed to satisfy constraint: Member must have length greater than or equal to 1`)

	if _, err := s.CreateGroup(ctx, acct, long(128)); err != nil {
		t.Fatalf("a 128-character group name: %v", err)
	}
	_, err = s.CreateGroup(ctx, acct, long(129))
	wantErr(t, "a 129-character group name", err, identity.ErrInvalid, nil, tooLong(long(129), "groupName", 128))

	trust := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}}`
	if _, err := s.CreateRole(ctx, acct, long(64), trust, 0); err != nil {
		t.Fatalf("a 64-character role name: %v", err)
	}
	_, err = s.CreateRole(ctx, acct, long(65), trust, 0)
	wantErr(t, "a 65-character role name", err, identity.ErrInvalid, nil, tooLong(long(65), "roleName", 64))
	_, err = s.CreateRole(ctx, acct, "r", `{"Statement":{"Effect":"Allow"}}`, 0)
	wantErr(t, "a malformed trust policy", err, identity.ErrMalformedPolicy, nil, "")

	doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:ListImages","Resource":"*"}}`
	if err := s.PutUserPolicy(ctx, acct, "admin", long(128), doc); err != nil {
		t.Fatalf("a 128-character policy name: %v", err)
	}
	err = s.PutUserPolicy(ctx, acct, "admin", long(129), doc)
	wantErr(t, "a 129-character policy name", err, identity.ErrInvalid, identity.ErrMalformedPolicy, tooLong(long(129), "policyName", 128))
	err = s.PutOwnerPolicy(ctx, acct, store.GroupPolicies, long(128), "a/b", doc)
	wantErr(t, "a policy name with a slash", err, identity.ErrInvalid, identity.ErrMalformedPolicy,
		`1 validation error detected: Value 'a/b' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`)
	err = s.PutUserPolicy(ctx, acct, "admin", "p", `{"Statement":{"Effect":"Allow"}}`)
	wantErr(t, "a malformed policy", err, identity.ErrMalformedPolicy, nil, "")
	err = s.PutUserPolicy(ctx, acct, "admin", "p", doc+strings.Repeat(" ", 131072))
	if !errors.Is(err, identity.ErrInvalid) || errors.Is(err, identity.ErrMalformedPolicy) ||
		!strings.HasSuffix(err.Error(), "at 'policyDocument' failed to satisfy constraint: Member must have length less than or equal to 131072") {
		t.Fatalf("a policy document over 131,072 characters: %.200v", err)
	}
	err = s.PutUserPolicy(ctx, acct, "admin", "p", strings.Replace(doc, "*", "\u2603", 1))
	wantErr(t, "a policy document with a character beyond U+00FF", err, identity.ErrInvalid, identity.ErrMalformedPolicy, "")
}

// policyOfSize returns a valid identity policy of n characters besides whitespace, and some whitespace.
func policyOfSize(t *testing.T, n int) string {
	t.Helper()
	head := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\"Effect\": \"Allow\", \"Action\": \"ecr:ListImages\", \"Resource\": \"arn:aws:ecr:us-east-1:111122223333:repository/"
	tail := "\"}\n}"
	pad := n - len(strings.Join(strings.Fields(head+tail), ""))
	if pad < 1 {
		t.Fatalf("no policy of %d characters", n)
	}
	return head + strings.Repeat("r", pad) + tail
}

// TestInlinePolicyQuotas: the inline policies of a user, group or role may total 2,048, 5,120 and 10,240
// characters, whitespace not counted; beyond, LimitExceeded with AWS's message, and nothing changes.
func TestInlinePolicyQuotas(t *testing.T) {
	s, _, _, _ := setup(t, "us-east-1")
	const acct = "111122223333"
	s.Bootstrap(ctx, acct, nil)
	s.CreateUser(ctx, acct, "bob")
	s.CreateGroup(ctx, acct, "devs")
	s.CreateRole(ctx, acct, "ci", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}}`, 0)

	put := map[string]func(name, doc string) error{
		"user": func(name, doc string) error { return s.PutUserPolicy(ctx, acct, "bob", name, doc) },
		"group": func(name, doc string) error {
			return s.PutOwnerPolicy(ctx, acct, store.GroupPolicies, "devs", name, doc)
		},
		"role": func(name, doc string) error { return s.PutOwnerPolicy(ctx, acct, store.RolePolicies, "ci", name, doc) },
	}
	owners := map[string]string{"user": "bob", "group": "devs", "role": "ci"}
	for kind, quota := range map[string]int{"user": 2048, "group": 5120, "role": 10240} {
		first := policyOfSize(t, quota-200)
		if err := put[kind]("first", first); err != nil {
			t.Fatalf("%s: a policy within the quota: %v", kind, err)
		}
		if err := put[kind]("second", policyOfSize(t, 200)); err != nil {
			t.Fatalf("%s: policies of exactly the quota: %v", kind, err)
		}
		err := put[kind]("third", policyOfSize(t, 200))
		wantErr(t, kind+": a policy beyond the quota", err, identity.ErrLimitExceeded, identity.ErrInvalid,
			fmt.Sprintf("Maximum policy size of %d bytes exceeded for %s %s", quota, kind, owners[kind]))
		// Replacing a policy counts the new document instead of the old; whitespace does not count.
		if err := put[kind]("second", strings.Replace(policyOfSize(t, 200), ",", ",\n\t        ", -1)); err != nil {
			t.Fatalf("%s: the same policy with more whitespace: %v", kind, err)
		}
		err = put[kind]("second", policyOfSize(t, 201))
		wantErr(t, kind+": a replacement one character beyond", err, identity.ErrLimitExceeded, nil, "")
	}
	inline, _, err := s.UserPolicies(ctx, acct, "bob")
	if err != nil || len(inline) != 2 || inline["third"] != "" {
		t.Fatalf("policies after refused puts: %v %v", inline, err)
	}
}
