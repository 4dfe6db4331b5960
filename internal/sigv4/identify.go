package sigv4

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
)

// Identifier identifies the callers of the AWS APIs (ECR, IAM, STS) by their SigV4 signature.
type Identifier struct {
	Identity *identity.Service
	Verifier *Verifier
	Clock    clock.Clock
}

// NewIdentifier verifies signatures for the given signing names with keys of the identity service.
func NewIdentifier(ids *identity.Service, region string, clk clock.Clock, services ...string) Identifier {
	v := &Verifier{Region: region, Services: services, Lookup: func(ctx context.Context, key string) (string, error) {
		if secret, ok := ids.SessionSecret(key); ok { // temporary credentials: checked with their token below
			return secret, nil
		}
		secret, _, err := ids.LookupKey(ctx, key)
		if errors.Is(err, identity.ErrUnknownKey) || errors.Is(err, identity.ErrInactiveKey) {
			return "", ErrUnknownKey
		}
		return secret, err
	}}
	return Identifier{Identity: ids, Verifier: v, Clock: clk}
}

// MustSign makes the identifier refuse requests that send one of these headers unsigned (see
// Verifier.MustSign).
func (s Identifier) MustSign(headers ...string) Identifier {
	v := *s.Verifier
	v.MustSign = append(append([]string(nil), v.MustSign...), headers...)
	s.Verifier = &v
	return s
}

// identify verifies the request's signature over the SHA-256 of its body and returns the principal of the
// key that signed it: a user's, or a role session's.
func (s Identifier) identify(ctx context.Context, r *http.Request, payloadSHA256 []byte) (identity.Principal, error) {
	cred, err := s.Verifier.Verify(ctx, r, payloadSHA256, s.Clock.Now())
	if err != nil {
		return identity.Principal{}, err
	}
	if cred.SessionToken != "" || strings.HasPrefix(cred.AccessKeyID, "ASIA") {
		return s.session(cred.SessionToken, cred.AccessKeyID)
	}
	_, p, err := s.Identity.LookupKey(ctx, cred.AccessKeyID)
	if err != nil {
		return identity.Principal{}, ErrUnknownKey
	}
	return p, nil
}

// session checks the session token sent with a session key (ASIA…): it is signed, so no lookup is needed.
func (s Identifier) session(token, keyID string) (identity.Principal, error) {
	p, err := s.Identity.VerifySession(token, keyID)
	if errors.Is(err, identity.ErrExpiredToken) {
		return identity.Principal{}, &Error{Code: "ExpiredTokenException", Message: "The security token included in the request is expired", Status: http.StatusBadRequest}
	}
	if err != nil {
		return identity.Principal{}, ErrUnknownKey
	}
	return p, nil
}
