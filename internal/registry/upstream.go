package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"time"
)

// UpstreamConfig tunes how pull through cache rules reach their upstream registries.
type UpstreamConfig struct {
	// AllowHTTP lets rules name upstreams by http:// URLs: plain HTTP, for registries on a trusted network
	// (and tests). ECR has no such rules; off, an http:// URL is an unsupported upstream.
	AllowHTTP bool
	// Dial makes the client of the registry API at base (scheme and host) with a rule's credentials (nil:
	// anonymous). internal/upstream has the one over HTTP. Nil reaches no upstream: pulls through the
	// cache fail, their upstream unavailable.
	Dial func(base *url.URL, creds *UpstreamCredentials) UpstreamClient
	// Refresh is how often a cached tag is checked against its upstream at most. Default
	// DefaultPullThroughRefresh (ECR's 24 hours).
	Refresh time.Duration
	// Observe, when set, is told of each fetch from an upstream and each tag's check (metrics).
	Observe func(UpstreamFetch)
}

// UpstreamCredentials are what a pull through cache secret holds: ECR's JSON of a user and a token.
type UpstreamCredentials struct {
	Username    string `json:"username"`
	AccessToken string `json:"accessToken"`
}

// UpstreamClient is what the core needs of an upstream registry, reached with a rule's credentials.
type UpstreamClient interface {
	// Ping asks the registry API's base endpoint and answers why the upstream refused, nil when it did not.
	Ping(ctx context.Context) error
	// Get fetches path ("/manifests/<ref>", "/blobs/<digest>") of a repository upstream; accept lists the
	// media types asked for ("" for any). Its error wraps ErrUpstreamNotFound when the upstream has no
	// such thing, else the cause of the failure (ErrUpstreamDenied, ErrUpstreamThrottled, or
	// ErrUpstreamUnavailable when it wraps neither).
	Get(ctx context.Context, repository, path, accept string) (*UpstreamResponse, error)
	// Digest asks the digest of the manifest ref names (a HEAD, which registries do not count as a
	// pull): "" when the upstream does not say. Its errors are Get's.
	Digest(ctx context.Context, repository, ref, accept string) (string, error)
}

// UpstreamResponse is what an upstream answered a Get with. The caller closes Body.
type UpstreamResponse struct {
	ContentType string
	Digest      string // the digest the upstream says the content has (Docker-Content-Digest), "" for none
	Size        int64  // -1 when the upstream did not say
	Body        io.ReadCloser
}

// upstreamClient builds the client of a rule's upstream, with the credentials of its secret.
func (s *Service) upstreamClient(ctx context.Context, r *PullThroughCacheRule) (UpstreamClient, error) {
	up, _, err := ParseUpstreamURL(r.UpstreamURL, s.cfg.Upstreams.AllowHTTP)
	if err != nil {
		return nil, err
	}
	var creds *UpstreamCredentials
	if r.CredentialARN != "" {
		v, err := s.secretValue(ctx, r.RegistryID, r.CredentialARN)
		if err != nil {
			return nil, err
		}
		if json.Unmarshal(v, &creds) != nil || creds == nil || creds.Username == "" || creds.AccessToken == "" {
			return nil, errf(KindInvalidParameter, "The secret with ARN '%s' must hold a JSON object with a username and an accessToken", r.CredentialARN)
		}
	}
	if s.cfg.Upstreams.Dial == nil {
		return unreachable{}, nil
	}
	return s.cfg.Upstreams.Dial(up.Base, creds), nil
}

// unreachable is the client of every upstream when none can be reached (no UpstreamConfig.Dial).
type unreachable struct{}

var errUnreachable = errors.New("no upstream registry can be reached from this registry")

func (unreachable) Ping(context.Context) error { return errUnreachable }

func (unreachable) Get(context.Context, string, string, string) (*UpstreamResponse, error) {
	return nil, errUnreachable
}

func (unreachable) Digest(context.Context, string, string, string) (string, error) {
	return "", errUnreachable
}
