package sigv4

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/internal/identity"
)

// Signed is a SigV4-signed request whose body has been read whole: the pipeline's credential for the
// AWS APIs. Its signature is checked over BodySHA256, the hash of the body as it was read.
type Signed struct {
	Identifier Identifier
	Request    *http.Request
	BodySHA256 [sha256.Size]byte
}

// Identify implements pipeline.Credential.
func (s Signed) Identify(ctx context.Context) (identity.Principal, error) {
	return s.Identifier.identify(ctx, s.Request, s.BodySHA256[:])
}

// Precheck refuses, before its body is read, a request that carries no SigV4 authorization or names an
// access key that does not exist: nobody makes Wharf read a body without a real key id.
func (s Identifier) Precheck(ctx context.Context, r *http.Request) error {
	h := r.Header.Get("Authorization")
	if h == "" {
		return errMissing
	}
	a, err := parseAuth(h)
	if err != nil {
		return err
	}
	if strings.HasPrefix(a.keyID, "ASIA") { // a session key: its token says whether it exists, with no lookup
		_, err := s.session(r.Header.Get("X-Amz-Security-Token"), a.keyID)
		return err
	}
	_, err = s.Verifier.Lookup(ctx, a.keyID)
	return err
}

// ErrorCode is the error's wire code: the outcome of the call in metrics.
func (e *Error) ErrorCode() string { return e.Code }

// KeyID is the access key id a request's Authorization header claims, "" when there is none: who a body
// is read for, before the signature over it can be checked.
func KeyID(r *http.Request) string {
	a, err := parseAuth(r.Header.Get("Authorization"))
	if err != nil {
		return ""
	}
	return a.keyID
}
