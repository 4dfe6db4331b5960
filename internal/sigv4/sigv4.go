// Package sigv4 verifies AWS Signature Version 4 on incoming requests (the Authorization header form), as
// AWS services do: same canonical request, same signing key, a 15-minute clock-skew window, constant-time
// comparison. It knows nothing of where secrets live; the caller looks them up.
package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxSkew is how far a request's X-Amz-Date (or Date) may be from the server's clock.
const MaxSkew = 15 * time.Minute

const (
	algorithm  = "AWS4-HMAC-SHA256"
	timeFormat = "20060102T150405Z"
)

// Error is a signature failure with the AWS error code, message and status to answer it with.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func fail(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// Signature failures AWS answers with.
var (
	errMissing = fail(http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token")
	// ErrUnknownKey is answered for unknown, inactive or deleted keys and unknown session tokens.
	ErrUnknownKey = fail(http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid.")
	errMismatch   = fail(http.StatusBadRequest, "InvalidSignatureException",
		"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	// S3 answers XAmzContentSHA256Mismatch with this message; these APIs know only InvalidSignatureException.
	errContentSHA256Mismatch = fail(http.StatusBadRequest, "InvalidSignatureException",
		"The provided 'x-amz-content-sha256' header does not match what was computed.")
	errContentSHA256Unsigned = fail(http.StatusBadRequest, "InvalidSignatureException",
		"'X-Amz-Content-Sha256' must be a 'SignedHeader' in the AWS Authorization when it is sent.")
)

// Credential is what a verified request was signed with.
type Credential struct {
	AccessKeyID  string
	Region       string
	Service      string
	SessionToken string
}

// Lookup returns the secret of an access key, or ErrUnknownKey (or another error) when there is none.
type Lookup func(ctx context.Context, accessKeyID string) (secret string, err error)

// Verifier checks requests for one region and a set of signing names.
type Verifier struct {
	Region   string
	Services []string // signing names accepted, e.g. "ecr"
	Lookup   Lookup
	// MustSign names headers (lower case) that must be signed when they are sent: those that choose what
	// a request does, such as the ECR API's X-Amz-Target, so a captured request cannot be turned into
	// another operation over the same body.
	MustSign []string
}

type authHeader struct {
	keyID, date, region, service string
	signed                       []string
	signature                    string
}

func parseAuth(h string) (authHeader, error) {
	var a authHeader
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return a, fail(http.StatusBadRequest, "IncompleteSignatureException", "Authorization header requires the %s algorithm", algorithm)
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return a, fail(http.StatusBadRequest, "IncompleteSignatureException", "Credential must have the form <key>/<date>/<region>/<service>/aws4_request")
			}
			a.keyID, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signed = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.keyID == "" || len(a.signed) == 0 || a.signature == "" {
		return a, fail(http.StatusBadRequest, "IncompleteSignatureException",
			"Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=%s", h)
	}
	return a, nil
}

// Verify checks the request's signature at time now. payloadSHA256 is the SHA-256 of the request body as the
// server read it (hash it while reading): the signature is checked over that digest and never over a hash
// the request claims in X-Amz-Content-Sha256, so a captured request cannot be sent again with another body.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, payloadSHA256 []byte, now time.Time) (Credential, error) {
	if len(payloadSHA256) != sha256.Size {
		return Credential{}, fmt.Errorf("sigv4: payload digest of %d bytes, want %d", len(payloadSHA256), sha256.Size)
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return Credential{}, errMissing
	}
	a, err := parseAuth(h)
	if err != nil {
		return Credential{}, err
	}
	t, ok := requestTime(r)
	if !ok {
		return Credential{}, fail(http.StatusBadRequest, "IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	// The string to sign carries the time in the ISO 8601 basic form whichever header gave it.
	amzDate := t.Format(timeFormat)
	if err := checkSkew(t, now); err != nil {
		return Credential{}, err
	}
	if a.date != t.Format("20060102") {
		return Credential{}, fail(http.StatusBadRequest, "InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", a.date, t.Format("20060102"))
	}
	if a.region != v.Region {
		return Credential{}, fail(http.StatusBadRequest, "InvalidSignatureException", "Credential should be scoped to a valid region, not '%s'. ", a.region)
	}
	known := false
	for _, s := range v.Services {
		known = known || s == a.service
	}
	if !known {
		return Credential{}, fail(http.StatusBadRequest, "InvalidSignatureException", "Credential should be scoped to correct service: '%s'. ", strings.Join(v.Services, "', '"))
	}
	signsHost := false
	for _, s := range a.signed {
		signsHost = signsHost || s == "host"
	}
	if !signsHost {
		return Credential{}, fail(http.StatusBadRequest, "InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	for _, name := range v.MustSign {
		if r.Header.Get(name) != "" && !slices.Contains(a.signed, name) {
			return Credential{}, fail(http.StatusBadRequest, "InvalidSignatureException", "'%s' must be a 'SignedHeader' in the AWS Authorization when it is sent.", http.CanonicalHeaderKey(name))
		}
	}
	payloadHash := hex.EncodeToString(payloadSHA256)
	if err := checkContentSHA256(r, a.signed, payloadHash); err != nil {
		return Credential{}, err
	}
	secret, err := v.Lookup(ctx, a.keyID)
	if err != nil {
		return Credential{}, err
	}
	creq := canonicalRequest(r, a.signed, payloadHash)
	sum := sha256.Sum256([]byte(creq))
	scope := a.date + "/" + a.region + "/" + a.service + "/aws4_request"
	toSign := algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	want := hex.EncodeToString(hmacSHA256(signingKey(secret, a.date, a.region, a.service), toSign))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return Credential{}, errMismatch
	}
	return Credential{AccessKeyID: a.keyID, Region: a.region, Service: a.service, SessionToken: r.Header.Get("X-Amz-Security-Token")}, nil
}

// requestTime is the request's time: X-Amz-Date when it is sent (it takes priority, as at AWS), else the
// Date header, which AWS takes in the ISO 8601 basic form or as an HTTP date: RFC 1123 with GMT (AWS's
// Signature Version 4 test suite) or with a numeric zone (botocore sends "-0000").
func requestTime(r *http.Request) (time.Time, bool) {
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		t, err := time.Parse(timeFormat, d)
		return t, err == nil
	}
	d := r.Header.Get("Date")
	for _, layout := range []string{timeFormat, http.TimeFormat, time.RFC1123Z} {
		if t, err := time.Parse(layout, d); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// checkSkew refuses a request dated more than MaxSkew from now, in AWS's words.
func checkSkew(t, now time.Time) error {
	now = now.UTC()
	switch d := now.Sub(t); {
	case d > MaxSkew:
		return fail(http.StatusBadRequest, "InvalidSignatureException", "Signature expired: %s is now earlier than %s (%s - 15 min.)",
			t.Format(timeFormat), now.Add(-MaxSkew).Format(timeFormat), now.Format(timeFormat))
	case d < -MaxSkew:
		return fail(http.StatusBadRequest, "InvalidSignatureException", "Signature not yet current: %s is still later than %s (%s + 15 min.)",
			t.Format(timeFormat), now.Add(MaxSkew).Format(timeFormat), now.Format(timeFormat))
	}
	return nil
}

// checkContentSHA256 checks an X-Amz-Content-Sha256 header against the hex SHA-256 of the body read.
// The header is optional for these APIs, but when sent it must be signed (an unsigned one could say
// anything) and be that very hash: UNSIGNED-PAYLOAD and the STREAMING-… values are refused, since the
// parameters of ECR, IAM and STS calls are in the body and the signature must cover them.
func checkContentSHA256(r *http.Request, signed []string, payloadHash string) error {
	vals := r.Header.Values("X-Amz-Content-Sha256")
	if len(vals) == 0 {
		return nil
	}
	if !slices.ContainsFunc(signed, func(s string) bool { return strings.EqualFold(s, "x-amz-content-sha256") }) {
		return errContentSHA256Unsigned
	}
	if len(vals) == 1 && (vals[0] == "UNSIGNED-PAYLOAD" || strings.HasPrefix(vals[0], "STREAMING-")) {
		return fail(http.StatusBadRequest, "InvalidSignatureException",
			"The provided 'x-amz-content-sha256' header must be the SHA-256 of the payload: this API does not accept '%s'.", vals[0])
	}
	if len(vals) != 1 || subtle.ConstantTimeCompare([]byte(vals[0]), []byte(payloadHash)) != 1 {
		return errContentSHA256Mismatch
	}
	return nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func canonicalRequest(r *http.Request, signed []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.Query()))
	b.WriteByte('\n')
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headerValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func headerValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			vals = v
		} else {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(name)
	}
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

// canonicalURI is the path as AWS services other than S3 canonicalize it: as sent (still percent-encoded),
// with "." and ".." segments resolved and empty segments dropped (RFC 3986 5.2.4, as botocore does), then
// encoded once more, each byte but unreserved characters and '/' (so %20 becomes %2520).
func canonicalURI(u *url.URL) string {
	return escapePath(normalizePath(u.EscapedPath()))
}

func normalizePath(p string) string {
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	n := "/" + strings.Join(out, "/")
	if len(out) > 0 && strings.HasSuffix(p, "/") {
		n += "/"
	}
	return n
}

// canonicalQuery sorts the parameters by encoded name, then encoded value, as SigV4 requires (sorting before
// encoding gives another order for names such as "é" and "z").
func canonicalQuery(q url.Values) string {
	type pair struct{ k, v string }
	var pairs []pair
	for k, vals := range q {
		ek := escape(k)
		for _, v := range vals {
			pairs = append(pairs, pair{ek, escape(v)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// escape is SigV4's URI encoding: everything but unreserved characters, spaces as %20.
func escape(s string) string { return uriEncode(s, false) }

// escapePath is escape that keeps '/'.
func escapePath(s string) string { return uriEncode(s, true) }

const upperHex = "0123456789ABCDEF"

func uriEncode(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && keepSlash {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		}
	}
	return b.String()
}
