// Package upstream is the HTTP client of the upstream registries pull through cache rules name: it sends
// the core's requests, answers the upstreams' authentication challenges (Basic, or Bearer with a token
// from the challenge's realm), and tells the core how they answered in its own terms.
package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharf-dev/wharf/internal/registry"
)

// Dial returns the core's dial of upstream registries (registry.UpstreamConfig.Dial), of a Dialer of its
// own.
func Dial(timeout time.Duration) func(*url.URL, *registry.UpstreamCredentials) registry.UpstreamClient {
	return NewDialer(timeout).Dial
}

// Dialer makes the clients of upstream registries. Its clients share a transport, the default one's
// settings, whose wait for the headers of each answer is bounded by a timeout, and for each read of a
// body too (not the whole body: a large blob takes the time it takes, but an upstream that stops sending
// fails the fetch), and what each upstream host said of its rate limits.
type Dialer struct {
	http *http.Client
	idle time.Duration // the longest wait for an answer's headers, or for the next bytes of its body
	// Now is the time of the rate limits' waits; nil is time.Now.
	Now func() time.Time

	mu    sync.Mutex
	hosts map[string]*hostLimits
}

// hostLimits is what an upstream host said of its rate limit: the requests left in its window
// (ratelimit-remaining, -1 when it never said) and, after a 429, until when to send it none (Retry-After).
type hostLimits struct {
	remaining  int64
	retryAfter time.Time
}

// NewDialer returns a dialer whose clients wait at most timeout for the headers of an answer, and for
// each read of its body; 0 is 30 seconds.
func NewDialer(timeout time.Duration) *Dialer {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = timeout
	return &Dialer{http: &http.Client{Transport: t, CheckRedirect: checkRedirect}, idle: timeout, hosts: map[string]*hostLimits{}}
}

// checkRedirect follows at most 10 redirects, and sends the credentials (a rule's, or a token of the
// upstream's) only to the scheme and host, port included, they were sent to first: a redirect to another
// host, a CDN's, is followed anonymously. (Go's own check keeps them for the same host name on another
// port, or a subdomain.)
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if first := via[0].URL; req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
		req.Header.Del("Authorization")
	}
	return nil
}

// Dial is registry.UpstreamConfig.Dial: the client of the registry at base with a rule's credentials.
func (d *Dialer) Dial(base *url.URL, creds *registry.UpstreamCredentials) registry.UpstreamClient {
	return &client{base: base, creds: creds, http: d.http, dialer: d, tokens: map[string]string{}}
}

// Remaining returns the requests each upstream host said are left in its rate limit's window, for the
// hosts that said.
func (d *Dialer) Remaining() map[string]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int64{}
	for h, l := range d.hosts {
		if l.remaining >= 0 {
			out[h] = l.remaining
		}
	}
	return out
}

func (d *Dialer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// maxRetryAfter bounds how long a Retry-After holds the requests to a host.
const maxRetryAfter = time.Hour

// observe keeps what an answer of host said of its rate limit.
func (d *Dialer) observe(host string, res *http.Response) {
	remaining, hasRemaining := parseRemaining(res.Header.Get("RateLimit-Remaining"))
	var until time.Time
	if res.StatusCode == http.StatusTooManyRequests {
		if wait, ok := parseRetryAfter(res.Header.Get("Retry-After"), d.now()); ok {
			until = d.now().Add(min(wait, maxRetryAfter))
		}
	}
	if !hasRemaining && until.IsZero() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.hosts[host]
	if l == nil {
		l = &hostLimits{remaining: -1}
		d.hosts[host] = l
	}
	if hasRemaining {
		l.remaining = remaining
	}
	if !until.IsZero() {
		l.retryAfter = until
	}
}

// held tells until when requests to host wait, after a 429 with a Retry-After; zero when they do not.
func (d *Dialer) held(host string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l := d.hosts[host]; l != nil && d.now().Before(l.retryAfter) {
		return l.retryAfter
	}
	return time.Time{}
}

// parseRemaining reads a ratelimit-remaining header ("76;w=21600", Docker Hub's form, or "76").
func parseRemaining(h string) (int64, bool) {
	v, _, _ := strings.Cut(h, ";")
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, err == nil && n >= 0
}

// parseRetryAfter reads a Retry-After header: seconds (at most maxRetryAfter), or an HTTP date.
func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		return time.Duration(min(max(n, 0), int64(maxRetryAfter/time.Second))) * time.Second, true // no overflow
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// client talks to an upstream registry with a rule's credentials, answering its authentication
// challenges.
type client struct {
	base   *url.URL
	creds  *registry.UpstreamCredentials
	http   *http.Client
	dialer *Dialer

	mu     sync.Mutex
	tokens map[string]string // scope -> bearer token
	basic  bool              // the upstream asked for Basic auth
}

// errAuth is the failure of credentials the upstream refused.
var errAuth = errors.New("the authentication to the upstream registry failed: verify that the credentials in the secret are valid")

// errTooMany is an upstream's refusal of too many requests.
var errTooMany = errors.New("the upstream registry refused the request: too many requests (HTTP 429)")

// Ping asks the upstream's base endpoint, GET /v2/, and answers why it refused, nil when it did not.
func (c *client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*c.dialer.idle)
	defer cancel()
	res, err := c.do(ctx, http.MethodGet, "/v2/", "", nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	switch {
	case res.StatusCode == http.StatusOK:
		return nil
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return errAuth
	case res.StatusCode == http.StatusTooManyRequests:
		return errTooMany
	}
	return fmt.Errorf("the upstream registry answered HTTP %d to GET %s", res.StatusCode, c.base.JoinPath("/v2/"))
}

// Get fetches path under /v2/<repository> and answers it when the upstream answers 200, else an error
// that wraps the core's cause: what the upstream could not be reached for is unavailable.
func (c *client) Get(ctx context.Context, repository, path, accept string) (*registry.UpstreamResponse, error) {
	res, err := c.send(ctx, http.MethodGet, repository, path, accept)
	if err != nil {
		return nil, err
	}
	return &registry.UpstreamResponse{ContentType: res.Header.Get("Content-Type"),
		Digest: res.Header.Get("Docker-Content-Digest"), Size: res.ContentLength, Body: res.Body}, nil
}

// Digest asks the digest of a manifest with a HEAD request, which registries do not count against their
// pull rate limits (Docker Hub): "" when the upstream did not say it.
func (c *client) Digest(ctx context.Context, repository, ref, accept string) (string, error) {
	res, err := c.send(ctx, http.MethodHead, repository, "/manifests/"+ref, accept)
	if err != nil {
		return "", err
	}
	res.Body.Close()
	return res.Header.Get("Docker-Content-Digest"), nil
}

// send sends a request of path under /v2/<repository> and returns the upstream's answer when it is 200,
// else an error that wraps the core's cause.
func (c *client) send(ctx context.Context, method, repository, path, accept string) (*http.Response, error) {
	h := http.Header{}
	if accept != "" {
		h.Set("Accept", accept)
	}
	path = "/v2/" + repository + path
	if until := c.dialer.held(c.base.Host); !until.IsZero() {
		return nil, &failure{registry.ErrUpstreamThrottled, fmt.Errorf("%w; it asked to wait until %s", errTooMany, until.UTC().Format(time.RFC3339))}
	}
	ctx, cancel := context.WithCancel(ctx)
	res, err := c.do(ctx, method, path, "repository:"+repository+":pull", h)
	if err != nil {
		cancel()
		return nil, &failure{registry.ErrUpstreamUnavailable, err}
	}
	res.Body = newIdleBody(res.Body, c.dialer.idle, cancel)
	if res.StatusCode == http.StatusOK {
		return res, nil
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	switch res.StatusCode {
	case http.StatusNotFound:
		return nil, &failure{registry.ErrUpstreamNotFound, fmt.Errorf("the upstream registry has nothing at %s", path)}
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, &failure{registry.ErrUpstreamDenied, errAuth}
	case http.StatusTooManyRequests:
		return nil, &failure{registry.ErrUpstreamThrottled, errTooMany}
	}
	return nil, &failure{registry.ErrUpstreamUnavailable, fmt.Errorf("the upstream registry answered HTTP %d to %s %s", res.StatusCode, method, path)}
}

// failure is an error of an upstream, err, with the core's cause of it.
type failure struct{ cause, err error }

func (f *failure) Error() string   { return f.err.Error() }
func (f *failure) Unwrap() []error { return []error{f.cause, f.err} }

// do sends a request to the upstream (path under its base URL) and, when it answers 401 with a
// challenge, authenticates as the challenge says and sends it once more. scope is the token scope the
// request needs ("repository:name:pull"), "" for none.
func (c *client) do(ctx context.Context, method, path, scope string, header http.Header) (*http.Response, error) {
	send := func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, c.base.JoinPath(path).String(), nil)
		if err != nil {
			return nil, err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		c.mu.Lock()
		token, basic := c.tokens[scope], c.basic
		c.mu.Unlock()
		switch {
		case token != "":
			req.Header.Set("Authorization", "Bearer "+token)
		case basic && c.creds != nil:
			req.SetBasicAuth(c.creds.Username, c.creds.AccessToken)
		}
		res, err := c.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("the upstream registry could not be reached: %w", err)
		}
		c.dialer.observe(c.base.Host, res)
		return res, nil
	}
	res, err := send()
	if err != nil || res.StatusCode != http.StatusUnauthorized {
		return res, err
	}
	challenge := res.Header.Get("WWW-Authenticate")
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	scheme, params := parseChallenge(challenge)
	switch scheme {
	case "basic":
		if c.creds == nil {
			return nil, errAuth
		}
		c.mu.Lock()
		c.basic = true
		c.mu.Unlock()
	case "bearer":
		if scope != "" && params["scope"] == "" {
			params["scope"] = scope
		}
		token, err := c.token(ctx, params)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.tokens[scope] = token
		c.mu.Unlock()
	default:
		return nil, fmt.Errorf("the upstream registry asked for an unsupported authentication: %q", challenge)
	}
	return send()
}

// token gets a bearer token from a challenge's realm, with the credentials when there are any
// (anonymous otherwise), as the registry token protocol has it.
func (c *client) token(ctx context.Context, params map[string]string) (string, error) {
	realm, err := url.Parse(params["realm"])
	if err != nil || realm.Scheme != "https" && realm.Scheme != "http" || realm.Host == "" {
		return "", fmt.Errorf("the upstream registry's authentication challenge names no valid realm: %q", params["realm"])
	}
	if realm.Scheme == "http" && c.base.Scheme != "http" {
		return "", fmt.Errorf("the upstream registry's token realm %s is not HTTPS", realm)
	}
	q := realm.Query()
	if params["service"] != "" {
		q.Set("service", params["service"])
	}
	if params["scope"] != "" {
		q.Set("scope", params["scope"])
	}
	realm.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, 2*c.dialer.idle)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return "", err
	}
	if c.creds != nil {
		req.SetBasicAuth(c.creds.Username, c.creds.AccessToken)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("the upstream registry's token service could not be reached: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
		return "", errAuth
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the upstream registry's token service answered HTTP %d", res.StatusCode)
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("the upstream registry's token service answered no token: %w", err)
	}
	if body.Token == "" {
		body.Token = body.AccessToken
	}
	if body.Token == "" {
		return "", errors.New("the upstream registry's token service answered no token")
	}
	return body.Token, nil
}

// parseChallenge reads a WWW-Authenticate header of one challenge: its scheme, lower-cased, and its
// parameters (key="value" or key=token, comma-separated).
func parseChallenge(h string) (scheme string, params map[string]string) {
	params = map[string]string{}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	for rest = strings.TrimSpace(rest); rest != ""; {
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		key = strings.ToLower(strings.TrimSpace(key))
		var value string
		if strings.HasPrefix(after, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			value, rest = b.String(), after[min(i+1, len(after)):]
		} else {
			value, rest, _ = strings.Cut(after, ",")
			value, rest = strings.TrimSpace(value), ","+rest
		}
		params[key] = value
		rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ","))
	}
	return strings.ToLower(scheme), params
}

// idleBody is the body of an upstream's answer whose reads each wait at most idle for bytes: an upstream
// that stops sending ends the request (its context's cancel) and the read with an error, rather than
// holding the fetch, and the lease on it, forever. The time between reads is the reader's own.
type idleBody struct {
	body    io.ReadCloser
	idle    time.Duration
	timer   *time.Timer
	stalled atomic.Bool
	cancel  context.CancelFunc
}

func newIdleBody(body io.ReadCloser, idle time.Duration, cancel context.CancelFunc) *idleBody {
	b := &idleBody{body: body, idle: idle, cancel: cancel}
	b.timer = time.AfterFunc(time.Hour, func() { b.stalled.Store(true); cancel() })
	b.timer.Stop()
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.idle)
	n, err := b.body.Read(p)
	if !b.timer.Stop() && b.stalled.Load() {
		return n, fmt.Errorf("the upstream registry sent nothing for %s", b.idle)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.body.Close()
	b.cancel()
	return err
}
