package server

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the networks of the reverse proxies and load balancers in front of Wharf: a request
// whose peer is in one of them is taken to come from the client its X-Forwarded-For header names.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies parses a comma-separated list of networks (CIDR) or single addresses, or a JSON
// array of them (a config file's list).
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	fields := strings.Split(s, ",")
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		if err := json.Unmarshal([]byte(s), &fields); err != nil {
			return nil, fmt.Errorf("trusted proxies: %w", err)
		}
	}
	var t TrustedProxies
	for _, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("trusted proxies: %q is not a network (CIDR) or an address", f)
			}
			f = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String()
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxies: %q is not a network (CIDR) or an address", f)
		}
		if p.Addr().Is4In6() { // ::ffff:10.0.0.0/104 is 10.0.0.0/8: addresses are compared unmapped
			if p.Bits() < 96 {
				return nil, fmt.Errorf("trusted proxies: %q mixes IPv6 and IPv4-mapped addresses", f)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		t = append(t, p.Masked())
	}
	return t, nil
}

// trusts tells whether a is the address of a trusted proxy.
func (t TrustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client is the address of the client that sent a request whose peer is remoteAddr (host:port) and whose
// X-Forwarded-For header values are xff; ok is false when the peer's address stays (the peer is not a
// trusted proxy, or the header is absent or malformed). The header is read from the right, the entry the
// nearest proxy appended first: entries that are trusted proxies are skipped, and the first that is not
// is the client. Entries left of it are the client's to write and are never read.
func (t TrustedProxies) Client(remoteAddr string, xff []string) (client netip.Addr, ok bool) {
	peer, err := netip.ParseAddrPort(remoteAddr)
	if err != nil || !t.trusts(peer.Addr()) || len(xff) == 0 {
		return netip.Addr{}, false
	}
	var entries []string
	for _, v := range xff {
		entries = append(entries, strings.Split(v, ",")...)
	}
	for i := len(entries) - 1; i >= 0; i-- {
		a, ok := forwardedAddr(strings.TrimSpace(entries[i]))
		if !ok {
			return netip.Addr{}, false
		}
		client = a
		if !t.trusts(a) {
			return client, true
		}
	}
	return client, true // every hop a trusted proxy: the farthest is the client
}

// forwardedAddr parses an X-Forwarded-For entry: an address, IPv6 or not, with or without a port.
func forwardedAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// forwarded wraps the server's handler, outside everything else, when proxies are trusted: a request from
// a trusted proxy has its RemoteAddr replaced by the client's address (port 0), so the audit trail,
// aws:SourceIp, the sign-in limits and the access log all see the client; and a request the proxy tells
// arrived over https (X-Forwarded-Proto) is seen as TLS (r.TLS set, with no connection state), for its
// URIs and the console's Secure cookie. Without trusted proxies the headers are ignored.
func forwarded(t TrustedProxies, next http.Handler) http.Handler {
	if len(t) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client, ok := t.Client(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
		https := r.TLS == nil && forwardedHTTPS(r) && t.fromProxy(r.RemoteAddr)
		if ok || https {
			r2 := *r
			if ok {
				r2.RemoteAddr = netip.AddrPortFrom(client, 0).String()
			}
			if https {
				r2.TLS = &tls.ConnectionState{}
			}
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}

func (t TrustedProxies) fromProxy(remoteAddr string) bool {
	peer, err := netip.ParseAddrPort(remoteAddr)
	return err == nil && t.trusts(peer.Addr())
}

// forwardedHTTPS tells whether X-Forwarded-Proto names https: in a chain of proxies, any of them (a client
// can only make its own request look more secure than it is).
func forwardedHTTPS(r *http.Request) bool {
	for _, v := range r.Header.Values("X-Forwarded-Proto") {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "https") {
				return true
			}
		}
	}
	return false
}
