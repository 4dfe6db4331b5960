package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func verifier() *Verifier {
	return &Verifier{Region: "us-east-1", Services: []string{"ecr"}, Lookup: func(_ context.Context, id string) (string, error) {
		if id == "AKIDEXAMPLE" {
			return "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", nil
		}
		return "", ErrUnknownKey
	}}
}

// signed builds a request the way the AWS SDK for Go v2 signs it, received by a server.
func signed(t testing.TB, body string, at time.Time, mutate func(*http.Request), key, secret, region, service string) (*http.Request, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://localhost:5000/?b=2&a=1&a=0", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), service, region, at); err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(req)
	}
	// What the server sees.
	in := httptest.NewRequest(req.Method, req.URL.String(), bytes.NewReader([]byte(body)))
	in.Header = req.Header.Clone()
	in.Host = req.Host
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	return in, []byte(body)
}

// verifyBody verifies r as Identify does: over the SHA-256 of the body the server read.
func verifyBody(v *Verifier, r *http.Request, body []byte, at time.Time) (Credential, error) {
	sum := sha256.Sum256(body)
	return v.Verify(context.Background(), r, sum[:], at)
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestVerify(t *testing.T) {
	const key, secret = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	v := verifier()
	r, body := signed(t, `{"maxResults":2}`, now, nil, key, secret, "us-east-1", "ecr")
	c, err := verifyBody(v, r, body, now.Add(3*time.Minute))
	if err != nil || c.AccessKeyID != key || c.Service != "ecr" {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	cases := []struct {
		name   string
		req    func() (*http.Request, []byte)
		at     time.Time
		code   string
		status int
	}{
		{"wrong secret", func() (*http.Request, []byte) { return signed(t, "{}", now, nil, key, "nope", "us-east-1", "ecr") }, now, "InvalidSignatureException", 400},
		{"unknown key", func() (*http.Request, []byte) {
			return signed(t, "{}", now, nil, "AKIAUNKNOWN", secret, "us-east-1", "ecr")
		}, now, "UnrecognizedClientException", 400},
		{"body changed", func() (*http.Request, []byte) {
			r, _ := signed(t, `{"a":1}`, now, nil, key, secret, "us-east-1", "ecr")
			return r, []byte(`{"a":2}`)
		}, now, "InvalidSignatureException", 400},
		{"header changed", func() (*http.Request, []byte) {
			return signed(t, "{}", now, func(r *http.Request) {
				r.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.DeleteRepository")
			}, key, secret, "us-east-1", "ecr")
		}, now, "InvalidSignatureException", 400},
		{"clock skew", func() (*http.Request, []byte) { return signed(t, "{}", now, nil, key, secret, "us-east-1", "ecr") }, now.Add(16 * time.Minute), "InvalidSignatureException", 400},
		{"future", func() (*http.Request, []byte) { return signed(t, "{}", now, nil, key, secret, "us-east-1", "ecr") }, now.Add(-16 * time.Minute), "InvalidSignatureException", 400},
		{"other region", func() (*http.Request, []byte) { return signed(t, "{}", now, nil, key, secret, "eu-west-1", "ecr") }, now, "InvalidSignatureException", 400},
		{"other service", func() (*http.Request, []byte) { return signed(t, "{}", now, nil, key, secret, "us-east-1", "s3") }, now, "InvalidSignatureException", 400},
		{"no authorization", func() (*http.Request, []byte) {
			return signed(t, "{}", now, func(r *http.Request) { r.Header.Del("Authorization") }, key, secret, "us-east-1", "ecr")
		}, now, "MissingAuthenticationTokenException", 403},
		{"garbled authorization", func() (*http.Request, []byte) {
			return signed(t, "{}", now, func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 nonsense") }, key, secret, "us-east-1", "ecr")
		}, now, "IncompleteSignatureException", 400},
		{"no date", func() (*http.Request, []byte) {
			return signed(t, "{}", now, func(r *http.Request) { r.Header.Del("X-Amz-Date") }, key, secret, "us-east-1", "ecr")
		}, now, "IncompleteSignatureException", 400},
	}
	for _, tc := range cases {
		r, body := tc.req()
		_, err := verifyBody(v, r, body, tc.at)
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code || e.Status != tc.status {
			t.Errorf("%s: got %v, want %s (%d)", tc.name, err, tc.code, tc.status)
		}
	}
}

// TestCanonicalPathAndQuery: paths and query strings out of the ordinary verify as the SDK signs them: the
// path encoded twice, the parameters sorted by their encoded names and values.
func TestCanonicalPathAndQuery(t *testing.T) {
	const key, secret = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	for _, target := range []string{
		"/",
		"/p%C3%A5th%20with%20space/~user/%2Fslash/",
		"/a:b@c!$&'()*+,;=/",
		"/?%C3%A9=1&z=2&a=b%20c&a=b&A=%2A~&flag",
		"/x?sp%20ace=a%2Bb%3Dc%26d&%D0%BA%D0%BB%D1%8E%D1%87=%D0%B7",
	} {
		req, _ := http.NewRequest("POST", "http://localhost:5000"+target, strings.NewReader("{}"))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
			req, hexSHA256([]byte("{}")), "ecr", "us-east-1", now); err != nil {
			t.Fatal(err)
		}
		in := httptest.NewRequest("POST", target, strings.NewReader("{}")) // as sent, not as the signer rewrote it
		in.Header, in.Host = req.Header.Clone(), "localhost:5000"
		if _, err := verifyBody(verifier(), in, []byte("{}"), now); err != nil {
			t.Errorf("%s: %v", target, err)
		}
	}
}

func FuzzParseAuth(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260501/us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=, Signature=")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuth(h)
		if err == nil && (a.keyID == "" || a.signature == "" || len(a.signed) == 0) {
			t.Fatalf("accepted incomplete header %q", h)
		}
	})
}

func message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return ""
}

// TestSkewMessages: a request dated too far from the clock answers AWS's text, which tells an old request
// from one from the future.
func TestSkewMessages(t *testing.T) {
	const key, secret = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	r, body := signed(t, "{}", now, nil, key, secret, "us-east-1", "ecr")
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{now.Add(16 * time.Minute), "Signature expired: 20260501T120000Z is now earlier than 20260501T120100Z (20260501T121600Z - 15 min.)"},
		{now.Add(-16 * time.Minute), "Signature not yet current: 20260501T120000Z is still later than 20260501T115900Z (20260501T114400Z + 15 min.)"},
		// The server's clock in another zone changes nothing.
		{now.Add(-20 * time.Minute).In(time.FixedZone("CEST", 2*3600)), "Signature not yet current: 20260501T120000Z is still later than 20260501T115500Z (20260501T114000Z + 15 min.)"},
	} {
		_, err := verifyBody(verifier(), r, body, tc.at)
		if code(err) != "InvalidSignatureException" || message(err) != tc.want {
			t.Errorf("at %s: got %v, want InvalidSignatureException: %s", tc.at, err, tc.want)
		}
	}
	for _, at := range []time.Time{now.Add(15 * time.Minute), now.Add(-15 * time.Minute)} {
		if _, err := verifyBody(verifier(), r, body, at); err != nil {
			t.Errorf("at %s, 15 minutes off: %v", at, err)
		}
	}
}

// TestDateHeader: without X-Amz-Date, the Date header dates the request, in the forms AWS accepts; the
// string to sign carries its ISO 8601 basic form. X-Amz-Date takes priority over it.
func TestDateHeader(t *testing.T) {
	// get-vanilla from AWS's Signature Version 4 test suite (aws4_testsuite): an RFC 1123 Date in GMT.
	vanilla := func() *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = "host.foo.com"
		r.Header.Set("Date", "Mon, 09 Sep 2011 23:36:00 GMT")
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/host/aws4_request, SignedHeaders=date;host, Signature=b27ccfbfa7df52a200ff74193ca6e32d4b48b8856fab7ebf1c595d0670a7e470")
		return r
	}
	v := verifier()
	v.Services = []string{"host"}
	at := time.Date(2011, 9, 9, 23, 40, 0, 0, time.UTC)
	if _, err := verifyBody(v, vanilla(), nil, at); err != nil {
		t.Errorf("get-vanilla: %v", err)
	}
	_, err := verifyBody(v, vanilla(), nil, at.Add(time.Hour))
	if want := "Signature expired: 20110909T233600Z is now earlier than 20110910T002500Z (20110910T004000Z - 15 min.)"; message(err) != want {
		t.Errorf("get-vanilla an hour later: got %v, want %s", err, want)
	}
	// X-Amz-Date takes priority: an unsigned one beside the signed Date is the request's time, and breaks it.
	r := vanilla()
	r.Header.Set("X-Amz-Date", "20110909T233600Z")
	if _, err := verifyBody(v, r, nil, at); err != nil {
		t.Errorf("get-vanilla with the same X-Amz-Date: %v", err)
	}
	r.Header.Set("X-Amz-Date", "20110909T233700Z")
	if _, err := verifyBody(v, r, nil, at); code(err) != "InvalidSignatureException" {
		t.Errorf("get-vanilla with another X-Amz-Date: got %v, want InvalidSignatureException", err)
	}
	r.Header.Set("X-Amz-Date", "Mon, 09 Sep 2011 23:36:00 GMT") // X-Amz-Date must be ISO 8601
	if _, err := verifyBody(v, r, nil, at); code(err) != "IncompleteSignatureException" {
		t.Errorf("X-Amz-Date in RFC 1123 form: got %v, want IncompleteSignatureException", err)
	}

	// A request signed with X-Amz-Date and sent with another, unsigned Date verifies by its X-Amz-Date.
	const key, secret = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	r, body := signed(t, "{}", now, func(r *http.Request) {
		r.Header.Set("Date", now.Add(-2*time.Hour).Format(http.TimeFormat))
	}, key, secret, "us-east-1", "ecr")
	if _, err := verifyBody(verifier(), r, body, now); err != nil {
		t.Errorf("X-Amz-Date beside an older Date: %v", err)
	}
}

// TestContentSHA256: an X-Amz-Content-Sha256 header must be signed and be the hash of the body read.
func TestContentSHA256(t *testing.T) {
	const key, secret = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	const body = `{"repositoryName":"app"}`
	withHeader := func(value string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", value) }
	}
	// signedWith signs a request whose X-Amz-Content-Sha256 (signed) is value.
	signedWith := func(value string) (*http.Request, []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://localhost:5000/", bytes.NewReader([]byte(body)))
		req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.DescribeImages")
		req.Header.Set("X-Amz-Content-Sha256", value)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
			req, value, "ecr", "us-east-1", now); err != nil {
			t.Fatal(err)
		}
		in := httptest.NewRequest(req.Method, "/", bytes.NewReader([]byte(body)))
		in.Header, in.Host = req.Header.Clone(), "localhost:5000"
		return in, []byte(body)
	}
	sum := sha256.Sum256([]byte(body))
	good := hex.EncodeToString(sum[:])
	other := sha256.Sum256([]byte(`{"repositoryName":"app","force":true}`))

	r, b := signedWith(good)
	if _, err := verifyBody(verifier(), r, b, now); err != nil {
		t.Errorf("signed X-Amz-Content-Sha256 of the body: %v", err)
	}
	cases := []struct {
		name string
		req  func() (*http.Request, []byte)
		msg  string
	}{
		{"signed, of another body", func() (*http.Request, []byte) { return signedWith(hex.EncodeToString(other[:])) },
			"The provided 'x-amz-content-sha256' header does not match what was computed."},
		{"signed, in upper case", func() (*http.Request, []byte) { return signedWith(strings.ToUpper(good)) },
			"The provided 'x-amz-content-sha256' header does not match what was computed."},
		{"signed UNSIGNED-PAYLOAD", func() (*http.Request, []byte) { return signedWith("UNSIGNED-PAYLOAD") },
			"The provided 'x-amz-content-sha256' header must be the SHA-256 of the payload: this API does not accept 'UNSIGNED-PAYLOAD'."},
		{"signed STREAMING-UNSIGNED-PAYLOAD-TRAILER", func() (*http.Request, []byte) { return signedWith("STREAMING-UNSIGNED-PAYLOAD-TRAILER") },
			"The provided 'x-amz-content-sha256' header must be the SHA-256 of the payload: this API does not accept 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'."},
		{"unsigned, of the body", func() (*http.Request, []byte) {
			return signed(t, body, now, withHeader(good), key, secret, "us-east-1", "ecr")
		}, "'X-Amz-Content-Sha256' must be a 'SignedHeader' in the AWS Authorization when it is sent."},
		{"unsigned UNSIGNED-PAYLOAD", func() (*http.Request, []byte) {
			return signed(t, body, now, withHeader("UNSIGNED-PAYLOAD"), key, secret, "us-east-1", "ecr")
		}, "'X-Amz-Content-Sha256' must be a 'SignedHeader' in the AWS Authorization when it is sent."},
		{"signed, sent twice", func() (*http.Request, []byte) {
			r, b := signedWith(good)
			r.Header.Add("X-Amz-Content-Sha256", good)
			return r, b
		}, "The provided 'x-amz-content-sha256' header does not match what was computed."},
	}
	for _, tc := range cases {
		r, b := tc.req()
		_, err := verifyBody(verifier(), r, b, now)
		if code(err) != "InvalidSignatureException" || message(err) != tc.msg {
			t.Errorf("%s: got %v, want InvalidSignatureException: %s", tc.name, err, tc.msg)
		}
	}

	// Verify refuses a digest that is not a SHA-256: a caller's mistake must not pass.
	r, _ = signedWith(good)
	if _, err := verifier().Verify(context.Background(), r, []byte(good), now); err == nil {
		t.Error("Verify accepted a 64-byte digest")
	}
}

// BenchmarkVerify measures what Identify does for each call: one SHA-256 over the body, then the signature.
func BenchmarkVerify(b *testing.B) {
	const key, secret = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	for _, size := range []int{64, 1 << 20} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			r, body := signed(b, strings.Repeat("x", size), now, nil, key, secret, "us-east-1", "ecr")
			v := verifier()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := verifyBody(v, r, body, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
