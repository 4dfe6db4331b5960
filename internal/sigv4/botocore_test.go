package sigv4

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// botocoreCase is a request botocore signed (testdata/gen_botocore.py writes them).
type botocoreCase struct {
	Name    string      `json:"name"`
	Method  string      `json:"method"`
	URL     string      `json:"url"`
	Headers [][2]string `json:"headers"`
	Body    string      `json:"body"`
	Time    time.Time   `json:"time"`
	Key     string      `json:"key"`
	Secret  string      `json:"secret"`
	Region  string      `json:"region"`
	Service string      `json:"service"`
	Want    string      `json:"want"` // "" when it must verify, else the error code
}

func loadBotocore(t testing.TB) []botocoreCase {
	t.Helper()
	data, err := os.ReadFile("testdata/botocore_signed.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []botocoreCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases in testdata/botocore_signed.json")
	}
	return cases
}

// hostAndTarget splits the URL into the Host header and the request target, exactly as sent.
func (c botocoreCase) hostAndTarget() (host, target string) {
	_, rest, _ := strings.Cut(c.URL, "://")
	i := strings.IndexByte(rest, '/')
	return rest[:i], rest[i:]
}

// request is the case as a server receives it, with body as its body.
func (c botocoreCase) request(body []byte) *http.Request {
	host, target := c.hostAndTarget()
	r := httptest.NewRequest(c.Method, target, bytes.NewReader(body))
	r.Host = host
	for _, h := range c.Headers {
		r.Header.Add(h[0], strings.Trim(h[1], " \t")) // as net/http's server reads them
	}
	return r
}

func (c botocoreCase) header(name string) string {
	for _, h := range c.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

func (c botocoreCase) verifier() *Verifier {
	return &Verifier{Region: c.Region, Services: []string{c.Service}, Lookup: func(_ context.Context, id string) (string, error) {
		if id == c.Key {
			return c.Secret, nil
		}
		return "", ErrUnknownKey
	}}
}

// TestBotocoreRequests: what botocore (the aws CLI, boto3) signs verifies, and no signed request verifies
// with another body, whatever X-Amz-Content-Sha256 says.
func TestBotocoreRequests(t *testing.T) {
	for _, c := range loadBotocore(t) {
		t.Run(c.Name, func(t *testing.T) {
			v := c.verifier()
			body := []byte(c.Body)
			_, err := verifyBody(v, c.request(body), body, c.Time)
			if c.Want != "" {
				if code(err) != c.Want {
					t.Fatalf("got %v, want %s", err, c.Want)
				}
				return
			}
			if err != nil {
				t.Fatalf("botocore's request refused: %v", err)
			}

			changed := map[string][]byte{
				"appended":  append(append([]byte(nil), body...), " "...),
				"different": []byte(`{"repositoryName":"app","force":true}`),
			}
			if c.Service != "ecr" {
				changed["different"] = []byte("Action=CreateAccessKey&UserName=admin&Version=2010-05-08")
			}
			if len(body) > 0 {
				flipped := append([]byte(nil), body...)
				flipped[len(flipped)/2] ^= 1
				changed["flipped"] = flipped
			}
			signedHash := c.header("X-Amz-Content-Sha256") != ""
			for how, other := range changed {
				_, err := verifyBody(v, c.request(other), other, c.Time)
				if code(err) != "InvalidSignatureException" {
					t.Errorf("body %s: got %v, want InvalidSignatureException", how, err)
				}
				if signedHash && err != nil && !errors.Is(err, errContentSHA256Mismatch) {
					t.Errorf("body %s under a signed X-Amz-Content-Sha256: got %v, want %v", how, err, errContentSHA256Mismatch)
				}
				if signedHash {
					continue // the header is the signed one, tried above
				}
				// The replay: the captured request, another body, and an unsigned X-Amz-Content-Sha256 that
				// states the hash of the body that was signed, or of the new one.
				for _, claimed := range []string{hexSHA256(body), hexSHA256(other)} {
					r := c.request(other)
					r.Header.Set("X-Amz-Content-Sha256", claimed)
					_, err := verifyBody(v, r, other, c.Time)
					if code(err) != "InvalidSignatureException" {
						t.Errorf("body %s, unsigned X-Amz-Content-Sha256 %s: got %v, want InvalidSignatureException", how, claimed, err)
					}
				}
			}
		})
	}
}
