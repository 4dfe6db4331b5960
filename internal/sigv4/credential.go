package sigv4

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/internal/identity"
)

// Signed is a SigV4-signed request whose body has been read whole: the pipeline's credential for the
// AWS APIs. Its signature is checked over exactly Body.
type Signed struct {
	Identifier Identifier
	Request    *http.Request
	Body       []byte
}

// Identify implements pipeline.Credential.
func (s Signed) Identify(ctx context.Context) (identity.Principal, error) {
	r := s.Request.WithContext(ctx)
	r.Body = io.NopCloser(bytes.NewReader(s.Body))
	return s.Identifier.Identify(r)
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
	if strings.HasPrefix(a.keyID, "ASIA") { // a session key: its token is checked with the signature
		return nil
	}
	_, err = s.Verifier.Lookup(ctx, a.keyID)
	return err
}

// ErrorCode is the error's wire code: the outcome of the call in metrics.
func (e *Error) ErrorCode() string { return e.Code }
