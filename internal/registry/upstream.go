package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// UpstreamConfig tunes how pull through cache rules reach their upstream registries.
type UpstreamConfig struct {
	// AllowHTTP lets rules name upstreams by http:// URLs: plain HTTP, for registries on a trusted network
	// (and tests). ECR has no such rules; off, an http:// URL is an unsupported upstream.
	AllowHTTP bool
	// Transport makes the requests to upstreams; nil is http.DefaultTransport.
	Transport http.RoundTripper
	// Timeout bounds the wait for the headers of each answer of an upstream (with the default transport).
	// Default 30 seconds.
	Timeout time.Duration
}

// withDefaults fills in the transport: the default one's settings, with a bound on the wait for headers
// (not on the body: a large blob takes the time it takes).
func (c UpstreamConfig) withDefaults() UpstreamConfig {
	if c.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = c.Timeout
		if t.ResponseHeaderTimeout <= 0 {
			t.ResponseHeaderTimeout = 30 * time.Second
		}
		c.Transport = t
	}
	return c
}

// upstreamCredentials is what a pull through cache secret holds: ECR's JSON of a user and a token.
type upstreamCredentials struct {
	Username    string `json:"username"`
	AccessToken string `json:"accessToken"`
}

// upstreamClient talks to a rule's upstream registry with the rule's credentials, answering its
// authentication challenges: Basic, or Bearer with a token from the challenge's realm.
type upstreamClient struct {
	base  *url.URL
	path  string // the upstream's repository names start with it (the URL's path)
	creds *upstreamCredentials
	http  *http.Client

	mu     sync.Mutex
	tokens map[string]string // scope -> bearer token
	basic  bool              // the upstream asked for Basic auth
}

// upstreamClient builds the client of a rule's upstream, with the credentials of its secret.
func (s *Service) upstreamClient(ctx context.Context, r *PullThroughCacheRule) (*upstreamClient, error) {
	up, _, err := ParseUpstreamURL(r.UpstreamURL, s.cfg.Upstreams.AllowHTTP)
	if err != nil {
		return nil, err
	}
	c := &upstreamClient{base: up.Base, path: up.Path, tokens: map[string]string{}}
	c.http = &http.Client{Transport: s.cfg.Upstreams.Transport}
	if r.CredentialARN != "" {
		v, err := s.secretValue(ctx, r.RegistryID, r.CredentialARN)
		if err != nil {
			return nil, err
		}
		var creds upstreamCredentials
		if json.Unmarshal(v, &creds) != nil || creds.Username == "" || creds.AccessToken == "" {
			return nil, errf(KindInvalidParameter, "The secret with ARN '%s' must hold a JSON object with a username and an accessToken", r.CredentialARN)
		}
		c.creds = &creds
	}
	return c, nil
}

// errUpstreamAuth is the failure of credentials the upstream refused.
var errUpstreamAuth = errors.New("the authentication to the upstream registry failed: verify that the credentials in the secret are valid")

// ping asks the upstream's base endpoint, GET /v2/, and answers why it refused, nil when it did not.
func (c *upstreamClient) ping(ctx context.Context) error {
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
		return errUpstreamAuth
	case res.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("the upstream registry refused the request: too many requests (HTTP 429)")
	}
	return fmt.Errorf("the upstream registry answered HTTP %d to GET %s", res.StatusCode, c.base.JoinPath("/v2/"))
}

// do sends a request to the upstream (path under its base URL) and, when it answers 401 with a
// challenge, authenticates as the challenge says and sends it once more. scope is the token scope the
// request needs ("repository:name:pull"), "" for none.
func (c *upstreamClient) do(ctx context.Context, method, path, scope string, header http.Header) (*http.Response, error) {
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
			return nil, errUpstreamAuth
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
func (c *upstreamClient) token(ctx context.Context, params map[string]string) (string, error) {
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
		return "", errUpstreamAuth
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
