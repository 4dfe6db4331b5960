package ecrapi

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/wharf-dev/wharf/internal/identity"
)

// Paging makes nextToken values: opaque, signed, and bound to the listing they came from, so a token
// forged or replayed against another repository or operation is refused.
type Paging struct{ Keys *identity.Keyring }

type pageToken struct {
	Scope string `json:"s"`
	After string `json:"a"`
}

func (p *Paging) encode(scope, after string) string {
	body, _ := json.Marshal(pageToken{scope, after})
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(p.Keys.Sign([]byte(payload)))
}

func (p *Paging) decode(scope, token string) (string, error) {
	bad := invalidParameter("Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'")
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return "", bad
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, p.Keys.Sign([]byte(payload))) {
		return "", bad
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	var t pageToken
	if err != nil || json.Unmarshal(body, &t) != nil || t.Scope != scope {
		return "", bad
	}
	return t.After, nil
}

// page resolves maxResults (1..1000, default 100) and nextToken for a listing in scope.
func (p *Paging) page(scope string, maxResults *int, nextToken *string) (n int, after string, err error) {
	n = 100
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 1000 {
			return 0, "", invalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to 1000 and greater than or equal to 1'")
		}
		n = *maxResults
	}
	if nextToken != nil && *nextToken != "" {
		if after, err = p.decode(scope, *nextToken); err != nil {
			return 0, "", err
		}
	}
	return n, after, nil
}

// next returns the nextToken for a page that ended at last, or nil when there is no more.
func (p *Paging) next(scope string, more bool, last string) *string {
	if !more {
		return nil
	}
	t := p.encode(scope, last)
	return &t
}
