package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/wharf-dev/wharf/internal/store"
)

// argon2idParams are the cost of hashing a new password (OWASP's recommendation for argon2id: 19 MiB,
// two passes, one lane). Each hash records its own, so raising them leaves older hashes verifiable.
var argon2idParams = struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}{19 * 1024, 2, 1}

const (
	saltLen = 16
	keyLen  = 32
)

// hashing bounds the password hashes computed at once, one per core: each takes its memory (19 MiB by
// default) and a core for tens of milliseconds, and anyone may ask for a sign-in. The others wait.
var hashing = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// argon2Key computes an argon2id key when a hashing slot is free, or gives up when ctx ends first.
func argon2Key(ctx context.Context, password string, salt []byte, time, memory uint32, threads uint8, n uint32) ([]byte, error) {
	select {
	case hashing <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-hashing }()
	return argon2.IDKey([]byte(password), salt, time, memory, threads, n), nil
}

// hashPassword hashes a password with argon2id and a random salt, in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func hashPassword(password string) string {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	p := argon2idParams
	key, _ := argon2Key(context.Background(), password, salt, p.time, p.memory, p.threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		enc.EncodeToString(salt), enc.EncodeToString(key))
}

var errBadHash = errors.New("not an argon2id hash")

// verifyPassword tells whether password is the one encoded hashes, comparing in constant time. It
// waits for a hashing slot until ctx ends.
func verifyPassword(ctx context.Context, encoded, password string) (bool, error) {
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, errBadHash
	}
	var memory, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil {
		return false, errBadHash
	}
	if memory == 0 || memory > 4<<20 || time == 0 || time > 100 || threads == 0 {
		return false, errBadHash // a hash no one here wrote: do not let it cost gigabytes
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(f[4])
	want, err2 := enc.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(want) < 16 || len(want) > 64 {
		return false, errBadHash
	}
	got, err := argon2Key(ctx, password, salt, time, memory, threads, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is the hash checked when there is no password to check, so a sign-in costs the same whether
// the user exists or not.
var dummyHash = sync.OnceValue(func() string { return hashPassword(newSecret()) })

// PasswordPolicy is an account's password policy.
type PasswordPolicy = store.PasswordPolicy

// The bounds of a password policy's members, as IAM's model gives them.
const (
	MinPasswordLength     = 6
	MaxPasswordLength     = 128
	MaxPasswordAgeDays    = 1095
	MaxPasswordReuse      = 24
	defaultPasswordLength = 8 // AWS's default policy, when an account has none
)

// passwordType is the IAM model's constraint on a password. Its value is never quoted in a message.
func checkPasswordType(name, password string) error {
	var broken string
	switch n := utf8.RuneCountInString(password); {
	case n < 1:
		broken = "Member must have length greater than or equal to 1"
	case n > MaxPasswordLength:
		broken = fmt.Sprintf("Member must have length less than or equal to %d", MaxPasswordLength)
	case !docPattern.MatchString(password):
		broken = `Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+`
	default:
		return nil
	}
	return fmt.Errorf("%w: 1 validation error detected: Value at '%s' failed to satisfy constraint: %s", ErrInvalid, name, broken)
}

// symbols are the characters IAM counts as symbols in passwords.
const symbols = "!@#$%^&*()_+-=[]{}|'"

// passwordClasses tells which kinds of characters a password has.
func passwordClasses(password string) (upper, lower, number, symbol bool) {
	for _, r := range password {
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= '0' && r <= '9':
			number = true
		case strings.ContainsRune(symbols, r):
			symbol = true
		}
	}
	return
}

// checkPassword returns ErrPasswordPolicy, naming each rule the password breaks, when it breaks the
// account's policy, or, when the account has none (pol nil), AWS's default one: at least 8 characters,
// at least three of uppercase letters, lowercase letters, numbers and symbols, and not the user's name.
func checkPassword(pol *PasswordPolicy, user, password string) error {
	var broken []string
	upper, lower, number, symbol := passwordClasses(password)
	n := utf8.RuneCountInString(password)
	if pol == nil {
		if n < defaultPasswordLength {
			broken = append(broken, fmt.Sprintf("Password should have a minimum length of %d", defaultPasswordLength))
		}
		var has, lacks []string
		for _, c := range []struct {
			ok   bool
			name string
		}{{upper, "uppercase letters"}, {lower, "lowercase letters"}, {number, "numbers"}, {symbol, "symbols"}} {
			if c.ok {
				has = append(has, c.name)
			} else {
				lacks = append(lacks, c.name)
			}
		}
		if len(has) < 3 {
			broken = append(broken, "Password should have at least three of uppercase letters, lowercase letters, numbers and symbols; it lacks "+
				strings.Join(lacks, ", "))
		}
		if strings.EqualFold(password, user) {
			broken = append(broken, "Password should not be the user name")
		}
	} else {
		if n < pol.MinimumLength {
			broken = append(broken, fmt.Sprintf("Password should have a minimum length of %d", pol.MinimumLength))
		}
		if pol.RequireUppercase && !upper {
			broken = append(broken, "Password should have at least one uppercase letter")
		}
		if pol.RequireLowercase && !lower {
			broken = append(broken, "Password should have at least one lowercase letter")
		}
		if pol.RequireNumbers && !number {
			broken = append(broken, "Password should have at least one number")
		}
		if pol.RequireSymbols && !symbol {
			broken = append(broken, "Password should have at least one symbol ("+symbols+")")
		}
	}
	if len(broken) > 0 {
		return fmt.Errorf("%w: %s", ErrPasswordPolicy, strings.Join(broken, "; "))
	}
	return nil
}

// checkPasswordPolicy checks a policy's members against IAM's bounds.
func checkPasswordPolicy(p PasswordPolicy) error {
	var broken []string
	bound := func(name string, v, lo, hi int) {
		if v < lo {
			broken = append(broken, fmt.Sprintf("Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", v, name, lo))
		} else if v > hi {
			broken = append(broken, fmt.Sprintf("Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", v, name, hi))
		}
	}
	bound("minimumPasswordLength", p.MinimumLength, MinPasswordLength, MaxPasswordLength)
	if p.MaxAge != 0 {
		bound("maxPasswordAge", p.MaxAge, 1, MaxPasswordAgeDays)
	}
	if p.ReusePrevention != 0 {
		bound("passwordReusePrevention", p.ReusePrevention, 1, MaxPasswordReuse)
	}
	if len(broken) == 0 {
		return nil
	}
	errs := "error"
	if len(broken) > 1 {
		errs = "errors"
	}
	return fmt.Errorf("%w: %d validation %s detected: %s", ErrInvalid, len(broken), errs, strings.Join(broken, "; "))
}

// GeneratePassword returns a random password of n characters (at least 20) with uppercase and lowercase
// letters, numbers and symbols: any password policy whose minimum length is at most n accepts it.
func GeneratePassword(n int) string {
	const (
		uppers  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		lowers  = "abcdefghijkmnopqrstuvwxyz"
		numbers = "23456789"
	)
	all := uppers + lowers + numbers + symbols
	b := make([]byte, max(n, 20))
	rand.Read(b)
	for i := range b {
		set := all
		switch i {
		case 0:
			set = uppers
		case 1:
			set = lowers
		case 2:
			set = numbers
		case 3:
			set = symbols
		}
		b[i] = set[int(b[i])%len(set)]
	}
	// The classes' places need not be guessable: shuffle.
	r := make([]byte, len(b))
	rand.Read(r)
	for i := len(b) - 1; i > 0; i-- {
		j := int(r[i]) % (i + 1)
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
