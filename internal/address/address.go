// Package address says where each account's registry is reached: the host (and path prefix) that
// repository URIs, proxyEndpoint and download URLs carry, and which account a registry request's host and
// path address. One rule serves both directions, so every address Wharf hands out leads back to the
// registry it names.
//
// Registries live under a base URL: the configured public URL, or else the scheme and host the caller
// used to reach Wharf (so the URIs match the host a client logged in to). Two forms:
//
//   - Account host names, when the base host's first label is an account id, as ECR's
//     111122223333.dkr.ecr.us-east-1.amazonaws.com: every account's registry is the same host with its own
//     id as the first label. This needs a wildcard DNS record (and certificate) for the other accounts.
//   - One host for all, otherwise (localhost:5000, registry.example.com): the default account's
//     repositories are at host/<name>, every other account's at host/<account id>/<name>. A first path
//     component of twelve digits always names an account, so the default account's repositories whose
//     names begin with one are at host/<default account>/<name>.
package address

import (
	"errors"
	"net/url"
	"strings"

	"github.com/wharf-dev/wharf/internal/identity"
)

// Origin is where a caller reached Wharf, or the public URL: a scheme ("http", "https") and a host with
// an optional port.
type Origin struct {
	Scheme string
	Host   string
}

// From is the origin of a request sent to host, over TLS or not.
func From(tls bool, host string) Origin {
	if tls {
		return Origin{Scheme: "https", Host: host}
	}
	return Origin{Scheme: "http", Host: host}
}

// ParseURL reads a public URL: http(s)://host[:port], with nothing after the host but an optional "/".
func ParseURL(s string) (Origin, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Origin{}, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return Origin{}, errors.New("a public URL is http(s)://host[:port] and nothing after it: " + s)
	}
	return Origin{Scheme: u.Scheme, Host: strings.ToLower(u.Host)}, nil
}

// Book computes the addresses of an installation's registries.
type Book struct {
	// Public is where clients reach Wharf (behind a load balancer or a TLS proxy, its address, not the
	// listener's). Zero: the origin of each request.
	Public Origin
	// DefaultAccount is the account a host without an account id addresses.
	DefaultAccount string
}

// base is the public URL when one is set, else the caller's origin.
func (b *Book) base(from Origin) Origin {
	if b.Public.Host != "" {
		return b.Public
	}
	return Origin{Scheme: from.Scheme, Host: strings.ToLower(from.Host)}
}

// Host is the host of an account's registry: the one a client logs in to and pushes to.
func (b *Book) Host(from Origin, account string) string {
	host := b.base(from).Host
	if rest, ok := accountHost(host); ok {
		return account + rest
	}
	return host
}

// Endpoint is the URL a client logs in to for an account's registry: ECR's proxyEndpoint.
func (b *Book) Endpoint(from Origin, account string) string {
	return b.base(from).Scheme + "://" + b.Host(from, account)
}

// URI is a repository's URI, as docker push and pull take it.
func (b *Book) URI(from Origin, account, repository string) string {
	return b.Host(from, account) + "/" + b.Path(from, account, repository)
}

// Path is a repository's name as registry requests to its registry's host carry it after /v2/.
func (b *Book) Path(from Origin, account, repository string) string {
	return b.PathOn(b.base(from).Host, account, repository)
}

// PathOn is a repository's name as registry requests sent to host carry it after /v2/: what Resolve
// reads back as the account and the repository, for the names a request is answered with.
func (b *Book) PathOn(host, account, repository string) string {
	if _, ok := accountHost(strings.ToLower(host)); ok {
		return repository
	}
	if account != b.DefaultAccount || startsWithAccount(repository) {
		return account + "/" + repository
	}
	return repository
}

// Resolve says which account's registry a registry request addresses and what repository, from the host
// it was sent to and the name in its path. prefix is what the path carries before the repository name
// ("" or "<account>/"), for the URLs answered back.
func (b *Book) Resolve(host, name string) (account, repository, prefix string) {
	if id, _, ok := strings.Cut(strings.ToLower(host), "."); ok && validAccount(id) {
		return id, name, ""
	}
	if id, rest, ok := strings.Cut(name, "/"); ok && validAccount(id) {
		return id, rest, id + "/"
	}
	return b.DefaultAccount, name, ""
}

// accountHost reports whether host begins with an account id label, and returns the rest after it
// (".dkr.ecr.us-east-1.example.com:443").
func accountHost(host string) (rest string, ok bool) {
	id, _, found := strings.Cut(host, ".")
	if !found || !validAccount(id) {
		return "", false
	}
	return host[len(id):], true
}

// ValidHost reports whether a request's Host (or HTTP/2 :authority) holds only what a host and port may:
// the rule net/http applies to HTTP/1 requests, which HTTP/2 requests do not get. Addresses are built on
// the Host, so one with quotes or spaces would come back inside the answers' URIs and headers.
func ValidHost(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0) {
			return false
		}
	}
	return true
}

func startsWithAccount(name string) bool {
	id, _, ok := strings.Cut(name, "/")
	return ok && validAccount(id)
}

var validAccount = identity.ValidAccountID
