// Package peer is the HTTP client of the Wharf deployments of other regions, which images are replicated
// to: it logs in with ECR's GetAuthorizationToken (signed with SigV4 by an access key of the source
// account there) and pushes through the registry API with the token, each request marked as a
// replication (oci.ReplicationHeader). It tells the core how the destination answered in its own terms.
package peer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

// Dial returns the core's dial of other regions' deployments (registry.PeerConfig.Dial), for replications
// from source, this deployment's region. Its clients share a transport. A request without progress for
// timeout (less than a MiB of its body taken by the destination, no answer, an answer's body not whole) is
// abandoned as the destination unavailable; 0 is 30 seconds. Redirects are not followed: the token and the
// images go to the configured deployment only, and a redirect is an answer the push failed with.
func Dial(source string, timeout time.Duration) func(endpoint, region string, creds registry.PeerCredentials) registry.PeerClient {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = timeout
	hc := &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return func(endpoint, region string, creds registry.PeerCredentials) registry.PeerClient {
		return &client{endpoint: strings.TrimSuffix(endpoint, "/"), region: region, source: source, creds: creds, http: hc, idle: timeout}
	}
}

// client pushes to one deployment as one identity.
type client struct {
	endpoint, region, source string
	creds                    registry.PeerCredentials
	http                     *http.Client
	idle                     time.Duration // a request's longest silence

	mu    sync.Mutex
	token string // ECR's base64 "AWS:<password>"
}

// login gets (once) the authorization token of the registry API.
func (c *client) login(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" {
		return c.token, nil
	}
	body := []byte("{}")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/", strings.NewReader(string(body)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: c.creds.AccessKeyID, SecretAccessKey: c.creds.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ecr", c.region, time.Now()); err != nil {
		return "", err
	}
	res, err := c.send(req)
	if err != nil {
		return "", err
	}
	raw, err := read(res, 1<<20)
	if err != nil {
		return "", err
	}
	if err := answer(res, raw, "GetAuthorizationToken"); err != nil {
		if errors.Is(err, registry.ErrPeerDenied) || errors.Is(err, registry.ErrPeerCreateDenied) {
			// The key may not log in (ecr:GetAuthorizationToken denied): the credentials are at fault.
			return "", fmt.Errorf("%w: %v", registry.ErrPeerUnauthorized, err)
		}
		return "", err
	}
	var out struct {
		AuthorizationData []struct {
			AuthorizationToken string `json:"authorizationToken"`
		} `json:"authorizationData"`
	}
	if json.Unmarshal(raw, &out) != nil || len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == "" {
		return "", fmt.Errorf("GetAuthorizationToken at %s: no token in the answer", c.endpoint)
	}
	c.token = out.AuthorizationData[0].AuthorizationToken
	return c.token, nil
}

// answer is nil for a 2xx answer, else the error it stands for: ErrPeerUnavailable (5xx, 429),
// ErrPeerUnauthorized (401: and on the ECR API, the signature's key refused), ErrPeerCreateDenied (403 for
// ecr:CreateRepository), ErrPeerDenied (another 403).
func answer(res *http.Response, body []byte, what string) error {
	if res.StatusCode/100 == 2 {
		return nil
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = msg[:512]
	}
	err := fmt.Errorf("%s: HTTP %d: %s", what, res.StatusCode, msg)
	switch {
	case res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%w: %v", registry.ErrPeerUnavailable, err)
	case res.StatusCode == http.StatusUnauthorized || strings.Contains(msg, "UnrecognizedClient") ||
		strings.Contains(msg, "InvalidSignature") || strings.Contains(msg, "SignatureDoesNotMatch"):
		return fmt.Errorf("%w: %v", registry.ErrPeerUnauthorized, err)
	case res.StatusCode == http.StatusForbidden && strings.Contains(msg, "ecr:CreateRepository"):
		return fmt.Errorf("%w: %v", registry.ErrPeerCreateDenied, err)
	case res.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %v", registry.ErrPeerDenied, err)
	}
	return err
}

// answer is answer's error of a registry API call, with the token (and the password it encodes) blanked
// out of the destination's words, which go to the log, the job and the audit trail: before they are cut
// short, so that no part of a secret the cut splits is left.
func (c *client) answer(res *http.Response, body []byte, what string) error {
	if res.StatusCode/100 == 2 {
		return nil
	}
	c.mu.Lock()
	token := c.token
	c.mu.Unlock()
	if token == "" {
		return answer(res, body, what)
	}
	secrets := []string{token}
	if raw, derr := base64.StdEncoding.DecodeString(token); derr == nil {
		if _, password, ok := strings.Cut(string(raw), ":"); ok && password != "" {
			secrets = append(secrets, password)
		}
	}
	msg := string(body)
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	return answer(res, []byte(msg), what)
}

// do sends a registry API request to path (under /v2/<registryID>/<repository>) with the token.
func (c *client) do(ctx context.Context, method, registryID, repository, path string, body io.Reader, size int64, contentType string) (*http.Response, error) {
	token, err := c.login(ctx)
	if err != nil {
		return nil, err
	}
	u := c.endpoint + "/v2/" + registryID + "/" + repository + path
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Basic "+token)
	req.Header.Set(oci.ReplicationHeader, c.source)
	return c.send(req)
}

// errStalled ends a request without progress for the client's idle time.
var errStalled = errors.New("no progress")

// progressStep is how much of a request's body the destination must take within the idle time: a
// destination taking it a byte at a time holds a job worker no longer than one that stalls.
const progressStep = 1 << 20

// send sends a request, abandoned (ErrPeerUnavailable) once the destination has taken less than
// progressStep of its body, or not answered, for c.idle; the answer's body must come whole within c.idle
// after its headers. The answer's body must be closed.
func (c *client) send(req *http.Request) (*http.Response, error) {
	// The destination's audit trail names the replication as the caller's user agent.
	req.Header.Set("User-Agent", "wharf-replication (from "+c.source+")")
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(c.idle, func() { cancel(errStalled) })
	stop := func() { timer.Stop(); cancel(nil) }
	req = req.WithContext(ctx)
	if req.Body != nil {
		req.Body = &progress{ReadCloser: req.Body, timer: timer, idle: c.idle, size: req.ContentLength}
		if get := req.GetBody; get != nil { // a request sent again on a new connection
			req.GetBody = func() (io.ReadCloser, error) {
				b, err := get()
				if err != nil {
					return nil, err
				}
				return &progress{ReadCloser: b, timer: timer, idle: c.idle, size: req.ContentLength}, nil
			}
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		stop()
		if context.Cause(ctx) == errStalled {
			err = fmt.Errorf("%s %s: no progress for %s", req.Method, req.URL.Path, c.idle)
		}
		return nil, fmt.Errorf("%w: %v", registry.ErrPeerUnavailable, err)
	}
	timer.Reset(c.idle)
	res.Body = &closer{ReadCloser: res.Body, stop: stop}
	return res, nil
}

// progress is a request's body whose reads, a progressStep at a time, put the request's end off; its end
// read does too, so that the destination has the whole idle time to answer.
type progress struct {
	io.ReadCloser
	timer       *time.Timer
	idle        time.Duration
	size        int64 // the body's length, -1 when unknown
	n, sinceDue int64 // read in all, and since the end was last put off
}

func (b *progress) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if b.sinceDue += int64(n); b.sinceDue >= progressStep || b.n == b.size || err == io.EOF {
		b.sinceDue = 0
		b.timer.Reset(b.idle)
	}
	return n, err
}

// closer is an answer's body that ends its request's watch when closed.
type closer struct {
	io.ReadCloser
	stop func()
}

func (b *closer) Close() error {
	err := b.ReadCloser.Close()
	b.stop()
	return err
}

// read reads at most limit bytes of an answer's body and closes it; a body cut off is the destination
// unavailable.
func read(res *http.Response, limit int64) ([]byte, error) {
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("%w: the answer's body: %v", registry.ErrPeerUnavailable, err)
	}
	return raw, nil
}

// BlobExists implements registry.PeerClient: HEAD of the blob, 404 when the repository or the blob is
// missing.
func (c *client) BlobExists(ctx context.Context, registryID, repository string, d digest.Digest) (bool, error) {
	res, err := c.do(ctx, http.MethodHead, registryID, repository, "/blobs/"+d.String(), nil, 0, "")
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if err := c.answer(res, nil, "HEAD blob "+d.String()); err != nil {
		return false, err
	}
	if err := sameDigest(res, d, "HEAD blob "+d.String()); err != nil {
		return false, err
	}
	return res.StatusCode == http.StatusOK, nil
}

// PutBlob implements registry.PeerClient: a monolithic upload in one request, POST with the digest.
func (c *client) PutBlob(ctx context.Context, registryID, repository string, d digest.Digest, size int64, r io.Reader) error {
	q := url.Values{"digest": {d.String()}}
	res, err := c.do(ctx, http.MethodPost, registryID, repository, "/blobs/uploads/?"+q.Encode(), io.NopCloser(r), size, "application/octet-stream")
	if err != nil {
		return err
	}
	raw, err := read(res, 64<<10)
	if err != nil {
		return err
	}
	if err := c.answer(res, raw, "upload of blob "+d.String()); err != nil {
		return err
	}
	return sameDigest(res, d, "upload of blob "+d.String())
}

// PutManifest implements registry.PeerClient.
func (c *client) PutManifest(ctx context.Context, registryID, repository, reference, mediaType string, content []byte) error {
	res, err := c.do(ctx, http.MethodPut, registryID, repository, "/manifests/"+reference, strings.NewReader(string(content)), int64(len(content)), mediaType)
	if err != nil {
		return err
	}
	raw, err := read(res, 64<<10)
	if err != nil {
		return err
	}
	if err := c.answer(res, raw, "put of manifest "+reference); err != nil {
		return err
	}
	alg := digest.Canonical
	if d, err := digest.Parse(reference); err == nil {
		alg = d.Algorithm()
	}
	return sameDigest(res, manifest.Digest(alg, content), "put of manifest "+reference)
}

// sameDigest checks the Docker-Content-Digest of an answer, when it gives one, against want: another is
// not what was sent, or asked.
func sameDigest(res *http.Response, want digest.Digest, what string) error {
	if got := res.Header.Get("Docker-Content-Digest"); got != "" && got != want.String() {
		return fmt.Errorf("%s: the destination answered with the digest %s", what, got)
	}
	return nil
}
