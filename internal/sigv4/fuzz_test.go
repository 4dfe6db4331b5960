package sigv4

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// FuzzVerify: whatever the method, path, query, headers and body, a request the AWS SDK for Go v2 signs
// verifies, and the same request with another body does not. Seeded from the botocore requests.
func FuzzVerify(f *testing.F) {
	for _, c := range loadBotocore(f) {
		_, target := c.hostAndTarget()
		path, query, _ := strings.Cut(target, "?")
		f.Add(c.Method, path, query, c.header("X-Amz-Target"), c.header("X-Wharf-Note"), []byte(c.Body),
			c.header("X-Amz-Content-Sha256") != "", c.header("X-Amz-Security-Token") != "")
	}
	const key, secret, token = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session/token+="
	v := verifier()
	f.Fuzz(func(t *testing.T, method, path, query, target, note string, body []byte, sendHash, session bool) {
		req, err := http.NewRequest(fuzzMethod(method), "http://localhost:5000"+fuzzPath(path), bytes.NewReader(body))
		if err != nil {
			t.Fatalf("building the request: %v", err)
		}
		req.URL.RawQuery = query // the signer rewrites it in canonical form, which the client then sends
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if target = fuzzHeader(target); target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		if note = fuzzHeader(note); note != "" {
			req.Header.Set("X-Wharf-Note", note)
		}
		hash := hexSHA256(body)
		if sendHash {
			req.Header.Set("X-Amz-Content-Sha256", hash)
		}
		creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}
		if session {
			creds.SessionToken = token
		}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "ecr", "us-east-1", now); err != nil {
			t.Fatal(err)
		}
		uri := req.URL.EscapedPath()
		if req.URL.RawQuery != "" {
			uri += "?" + req.URL.RawQuery
		}
		// received builds the request as the server receives it, with the given body.
		received := func(b []byte) *http.Request {
			r := httptest.NewRequest(req.Method, uri, bytes.NewReader(b))
			r.Host = "localhost:5000"
			r.Header = req.Header.Clone()
			return r
		}
		if _, err := verifyBody(v, received(body), body, now); err != nil {
			t.Fatalf("%s %s signed by the SDK refused: %v\nheaders: %v", req.Method, uri, err, req.Header)
		}

		others := [][]byte{append(append([]byte(nil), body...), 'x')}
		if len(body) > 0 {
			flipped := append([]byte(nil), body...)
			flipped[len(flipped)-1] ^= 0x20
			others = append(others, flipped)
		}
		for _, other := range others {
			if _, err := verifyBody(v, received(other), other, now); code(err) != "InvalidSignatureException" {
				t.Fatalf("%s %s verified with body %q instead of %q: %v", req.Method, uri, other, body, err)
			}
			if sendHash {
				continue
			}
			r := received(other) // the replay: an unsigned header stating the hash that was signed
			r.Header.Set("X-Amz-Content-Sha256", hash)
			if _, err := verifyBody(v, r, other, now); code(err) != "InvalidSignatureException" {
				t.Fatalf("%s %s verified with body %q and an unsigned X-Amz-Content-Sha256: %v", req.Method, uri, other, err)
			}
		}
	})
}

// fuzzMethod is s when it is an HTTP method (a token), else POST.
func fuzzMethod(s string) string {
	if s == "" {
		return "POST"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return "POST"
		}
	}
	return s
}

// fuzzPath makes a request path of s as a client sends it: bytes a path cannot hold percent-encoded, '%'
// kept where it starts an escape. It is then normalized as AWS does (the SDK for Go v2 signs the path as it
// is, so a path with "." or empty segments is one AWS would refuse from it too).
func fuzzPath(s string) string {
	var b strings.Builder
	b.WriteByte('/')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]),
			'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/!$&'()*+,;=:@", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteString(url.PathEscape(string([]byte{c})))
		}
	}
	return normalizePath(b.String())
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// fuzzHeader keeps the bytes of s that a header value sends as they are (visible ASCII and spaces), without
// the spaces around them, which a server does not see.
func fuzzHeader(s string) string {
	b := []byte(s)[:0:0]
	for i := 0; i < len(s); i++ {
		if ' ' <= s[i] && s[i] < 0x7f {
			b = append(b, s[i])
		}
	}
	return strings.Trim(string(b), " ")
}
