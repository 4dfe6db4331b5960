package identity

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h := hashPassword("correct horse")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "correct horse") {
		t.Fatalf("hash %q", h)
	}
	if h2 := hashPassword("correct horse"); h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if ok, err := verifyPassword(context.Background(), h, "correct horse"); !ok || err != nil {
		t.Fatalf("the right password: %v, %v", ok, err)
	}
	if ok, err := verifyPassword(context.Background(), h, "correct horsE"); ok || err != nil {
		t.Fatalf("a wrong password: %v, %v", ok, err)
	}
	// Hashes keep their parameters: raising the cost leaves old hashes verifiable.
	saved := argon2idParams
	argon2idParams.memory, argon2idParams.time = 8*1024, 1
	cheap := hashPassword("pw")
	argon2idParams = saved
	if !strings.Contains(cheap, "$m=8192,t=1,p=1$") {
		t.Fatalf("cheap hash %q", cheap)
	}
	if ok, err := verifyPassword(context.Background(), cheap, "pw"); !ok || err != nil {
		t.Fatalf("a hash of other parameters: %v, %v", ok, err)
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=8,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0$" + strings.Repeat("A", 43),
		strings.Replace(cheap, "v=19", "v=16", 1)} {
		if _, err := verifyPassword(context.Background(), bad, "pw"); !errors.Is(err, errBadHash) {
			t.Errorf("verifyPassword(%q) = %v", bad, err)
		}
	}
}

func TestPasswordRules(t *testing.T) {
	strict := &PasswordPolicy{MinimumLength: 12, RequireSymbols: true, RequireNumbers: true, RequireUppercase: true, RequireLowercase: true}
	for _, c := range []struct {
		pol        *PasswordPolicy
		user, pw   string
		violations []string // substrings of the message; none: accepted
	}{
		// AWS's default: 8 characters, three of four classes, not the user's name.
		{nil, "alice", "Abcdef12", nil},
		{nil, "alice", "abcdef1!", nil},
		{nil, "alice", "Abc1!", []string{"minimum length of 8"}},
		{nil, "alice", "abcdefgh12", []string{"at least three of", "lacks uppercase letters, symbols"}},
		{nil, "Pass-Word1", "pass-word1", []string{"not be the user name"}},
		{nil, "alice", "ABCDEFGH", []string{"lacks lowercase letters, numbers, symbols"}},
		// A policy's rules, each named.
		{strict, "alice", "Abcdefgh12!x", nil},
		{strict, "alice", "abcdefgh12!x", []string{"one uppercase letter"}},
		{strict, "alice", "ABCDEFGH12!X", []string{"one lowercase letter"}},
		{strict, "alice", "Abcdefghij!x", []string{"one number"}},
		{strict, "alice", "Abcdefgh12.x", []string{"one symbol"}},
		{strict, "alice", "short", []string{"minimum length of 12", "one uppercase", "one number", "one symbol"}},
		{&PasswordPolicy{MinimumLength: 6}, "alice", "alice1", nil}, // a policy replaces the default entirely
	} {
		err := checkPassword(c.pol, c.user, c.pw)
		if len(c.violations) == 0 {
			if err != nil {
				t.Errorf("%q under %+v: %v", c.pw, c.pol, err)
			}
			continue
		}
		if !errors.Is(err, ErrPasswordPolicy) {
			t.Errorf("%q under %+v: %v, want a policy violation", c.pw, c.pol, err)
			continue
		}
		for _, v := range c.violations {
			if !strings.Contains(err.Error(), v) {
				t.Errorf("%q under %+v: %q does not say %q", c.pw, c.pol, err, v)
			}
		}
	}
	for _, pw := range []string{"", strings.Repeat("a", 129), "tab\tis fine but not \x01"} {
		if err := checkPasswordType("password", pw); !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), pw+"'") && pw != "" {
			t.Errorf("password %q: %v", pw, err)
		}
	}
	for i := 0; i < 20; i++ {
		pw := GeneratePassword(24)
		if len(pw) != 24 || checkPassword(strict, "alice", pw) != nil || checkPassword(nil, "alice", pw) != nil {
			t.Fatalf("generated %q", pw)
		}
	}
}

func TestPasswordPolicyBounds(t *testing.T) {
	if err := checkPasswordPolicy(PasswordPolicy{MinimumLength: 6, MaxAge: 1095, ReusePrevention: 24}); err != nil {
		t.Fatal(err)
	}
	err := checkPasswordPolicy(PasswordPolicy{MinimumLength: 5, MaxAge: 1096, ReusePrevention: 25})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "3 validation errors") ||
		!strings.Contains(err.Error(), "Value '5' at 'minimumPasswordLength' failed to satisfy constraint: Member must have value greater than or equal to 6") {
		t.Fatalf("out of bounds: %v", err)
	}
}

func TestAccountAliasPattern(t *testing.T) {
	for alias, ok := range map[string]bool{"abc": true, "my-company-1": true, "a-b-c": true, "ab": false, "-abc": false,
		"abc-": false, "a--b": false, "ABC": false, "a_b": false, strings.Repeat("a", 63): true, strings.Repeat("a", 64): false,
		"123456789012": false, "1234567890123": true} {
		if validAlias(alias) != ok {
			t.Errorf("validAlias(%q) = %v", alias, !ok)
		}
	}
}
