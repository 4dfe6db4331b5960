package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "[]",
		"10.0.0.0/8":                    "[10.0.0.0/8]",
		" 10.1.2.3/8 , 192.0.2.7":       "[10.0.0.0/8 192.0.2.7/32]",
		"2001:db8::/32,::1":             "[2001:db8::/32 ::1/128]",
		"::ffff:10.0.0.0/104":           "[10.0.0.0/8]",
		`["10.0.0.0/8", "2001:db8::1"]`: "[10.0.0.0/8 2001:db8::1/128]",
	} {
		got, err := ParseTrustedProxies(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		s := "["
		for i, p := range got {
			if i > 0 {
				s += " "
			}
			s += p.String()
		}
		if s += "]"; s != want {
			t.Errorf("%q: %s, want %s", in, s, want)
		}
	}
	for _, in := range []string{"10.0.0.0/33", "proxy.example.com", "10.0.0.1:80", "fe80::1%eth0", "::ffff:0.0.0.0/64", `["10.0.0.0/8"`, "*"} {
		if _, err := ParseTrustedProxies(in); err == nil {
			t.Errorf("%q: accepted", in)
		}
	}
}

func TestForwardedClient(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8,2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string // "" : the peer's address stays
	}{
		{"one proxy", "10.0.0.1:4000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"no header", "10.0.0.1:4000", nil, ""},
		{"empty header", "10.0.0.1:4000", []string{""}, ""},
		{"untrusted peer", "198.51.100.9:4000", []string{"203.0.113.7"}, ""},
		{"untrusted peer naming a proxy", "198.51.100.9:4000", []string{"10.0.0.2"}, ""},
		{"client prepends an address", "10.0.0.1:4000", []string{"192.0.2.1, 203.0.113.7"}, "203.0.113.7"},
		{"client prepends garbage", "10.0.0.1:4000", []string{"<script>, not an address,203.0.113.7"}, "203.0.113.7"},
		{"client prepends a trusted address", "10.0.0.1:4000", []string{"10.9.9.9, 203.0.113.7"}, "203.0.113.7"},
		{"client's own header line first", "10.0.0.1:4000", []string{"192.0.2.1", "203.0.113.7"}, "203.0.113.7"},
		{"chain of proxies", "10.0.0.1:4000", []string{"203.0.113.7, 10.0.0.2,10.0.0.3"}, "203.0.113.7"},
		{"every hop a proxy", "10.0.0.1:4000", []string{"10.0.0.2, 10.0.0.3"}, "10.0.0.2"},
		{"garbage appended by the proxy", "10.0.0.1:4000", []string{"203.0.113.7, unknown"}, ""},
		{"empty entry", "10.0.0.1:4000", []string{"203.0.113.7,"}, ""},
		{"IPv4 with a port", "10.0.0.1:4000", []string{"203.0.113.7:51234"}, "203.0.113.7"},
		{"IPv6", "10.0.0.1:4000", []string{"2001:db8:1::7"}, "2001:db8:1::7"},
		{"IPv6 with brackets", "10.0.0.1:4000", []string{"[2001:db8:1::7]"}, "2001:db8:1::7"},
		{"IPv6 with a port", "10.0.0.1:4000", []string{"[2001:db8:1::7]:443"}, "2001:db8:1::7"},
		{"IPv6 with a zone", "10.0.0.1:4000", []string{"fe80::1%eth0"}, "fe80::1"},
		{"IPv4-mapped", "10.0.0.1:4000", []string{"::ffff:203.0.113.7"}, "203.0.113.7"},
		{"IPv6 proxy", "[2001:db8:ffff::1]:4000", []string{"203.0.113.7, 2001:db8:ffff::2"}, "203.0.113.7"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.1]:4000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"malformed peer", "10.0.0.1", []string{"203.0.113.7"}, ""},
		{"overlong", "10.0.0.1:4000", []string{"203.0.113.7, 2001:db8:1::7:1:2:3:4:5:6"}, ""},
	} {
		got, ok := proxies.Client(c.peer, c.xff)
		if !ok && c.want != "" || ok && got.String() != c.want {
			t.Errorf("%s: %v %v, want %q", c.name, got, ok, c.want)
		}
	}
	if _, ok := TrustedProxies(nil).Client("10.0.0.1:4000", []string{"203.0.113.7"}); ok {
		t.Error("no trusted proxies: the header was believed")
	}
}

// TestForwardedRequest: the handlers see the client's address as RemoteAddr, and TLS when the proxy
// says https; from an untrusted peer, or with no trusted proxies, the request is left alone.
func TestForwardedRequest(t *testing.T) {
	proxies, _ := ParseTrustedProxies("10.0.0.0/8")
	var seen *http.Request
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r })
	for _, c := range []struct {
		name     string
		proxies  TrustedProxies
		peer     string
		hdr      map[string]string
		addr     string
		tls      bool
		sameAsIn bool
	}{
		{"trusted", proxies, "10.0.0.1:4000", map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, "203.0.113.7:0", true, false},
		{"IPv6 client", proxies, "10.0.0.1:4000", map[string]string{"X-Forwarded-For": "2001:db8::7"}, "[2001:db8::7]:0", false, false},
		{"proto http", proxies, "10.0.0.1:4000", map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http"}, "203.0.113.7:0", false, false},
		{"proto chain", proxies, "10.0.0.1:4000", map[string]string{"X-Forwarded-Proto": "https, http"}, "10.0.0.1:4000", true, false},
		{"untrusted", proxies, "198.51.100.9:4000", map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, "198.51.100.9:4000", false, true},
		{"no trusted proxies", nil, "10.0.0.1:4000", map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, "10.0.0.1:4000", false, true},
		{"no headers", proxies, "10.0.0.1:4000", nil, "10.0.0.1:4000", false, true},
	} {
		r := httptest.NewRequest("GET", "http://registry.example.com/v2/", nil)
		r.RemoteAddr = c.peer
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		forwarded(c.proxies, h).ServeHTTP(httptest.NewRecorder(), r)
		if seen.RemoteAddr != c.addr || (seen.TLS != nil) != c.tls || (seen == r) != c.sameAsIn {
			t.Errorf("%s: RemoteAddr %s, TLS %v, same request %v; want %s, %v, %v", c.name, seen.RemoteAddr, seen.TLS != nil, seen == r, c.addr, c.tls, c.sameAsIn)
		}
		if r.RemoteAddr != c.peer || r.TLS != nil {
			t.Errorf("%s: the caller's request was changed", c.name)
		}
	}
}
