package address

import (
	"strings"
	"testing"
)

const def, other = "000000000000", "111122223333"

func TestAddresses(t *testing.T) {
	local := Origin{"http", "localhost:5000"}
	cases := []struct {
		name              string
		book              Book
		from              Origin
		account, repo     string
		uri, endpoint     string
		resolveHost, path string // what a client pushing to uri sends
	}{
		{"default account, host the caller used", Book{DefaultAccount: def}, local, def, "app",
			"localhost:5000/app", "http://localhost:5000", "localhost:5000", "app"},
		{"loopback address as used", Book{DefaultAccount: def}, Origin{"http", "127.0.0.1:5000"}, def, "team/app",
			"127.0.0.1:5000/team/app", "http://127.0.0.1:5000", "127.0.0.1:5000", "team/app"},
		{"another account: path prefix on one host", Book{DefaultAccount: def}, local, other, "app",
			"localhost:5000/111122223333/app", "http://localhost:5000", "localhost:5000", "111122223333/app"},
		{"default account's name that begins like an account", Book{DefaultAccount: def}, local, def, "222233334444/x",
			"localhost:5000/000000000000/222233334444/x", "http://localhost:5000", "localhost:5000", "000000000000/222233334444/x"},
		{"public URL wins over the caller's host", Book{Public: Origin{"https", "registry.example.com"}, DefaultAccount: def},
			local, def, "app", "registry.example.com/app", "https://registry.example.com", "registry.example.com", "app"},
		{"ECR-form host names: each account its own host", Book{Public: Origin{"https", def + ".dkr.ecr.us-east-1.example.com"}, DefaultAccount: def},
			local, other, "app", other + ".dkr.ecr.us-east-1.example.com/app", "https://" + other + ".dkr.ecr.us-east-1.example.com",
			other + ".dkr.ecr.us-east-1.example.com", "app"},
		{"account host names keep names as they are", Book{Public: Origin{"https", def + ".registry.example.com:8443"}, DefaultAccount: def},
			local, def, "222233334444/x", def + ".registry.example.com:8443/222233334444/x", "https://" + def + ".registry.example.com:8443",
			def + ".registry.example.com:8443", "222233334444/x"},
		{"caller reached an account host", Book{DefaultAccount: def}, Origin{"https", other + ".dkr.ecr.eu-west-1.example.com"}, def, "app",
			def + ".dkr.ecr.eu-west-1.example.com/app", "https://" + def + ".dkr.ecr.eu-west-1.example.com", def + ".dkr.ecr.eu-west-1.example.com", "app"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.book.URI(c.from, c.account, c.repo); got != c.uri {
				t.Errorf("URI = %q, want %q", got, c.uri)
			}
			if got := c.book.Endpoint(c.from, c.account); got != c.endpoint {
				t.Errorf("Endpoint = %q, want %q", got, c.endpoint)
			}
			if got := c.book.Path(c.from, c.account, c.repo); got != c.path {
				t.Errorf("Path = %q, want %q", got, c.path)
			}
			if !strings.HasPrefix(c.uri, c.resolveHost+"/") {
				t.Fatalf("bad case: %q is not under %q", c.uri, c.resolveHost)
			}
			acct, repo, prefix := c.book.Resolve(c.resolveHost, c.path)
			if acct != c.account || repo != c.repo || prefix+repo != c.path {
				t.Errorf("Resolve(%q, %q) = %q, %q, %q; want %q, %q", c.resolveHost, c.path, acct, repo, prefix, c.account, c.repo)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	for s, want := range map[string]Origin{
		"https://Registry.Example.com":     {"https", "registry.example.com"},
		"http://127.0.0.1:5000/":           {"http", "127.0.0.1:5000"},
		"https://000000000000.dkr.ecr.x.y": {"https", "000000000000.dkr.ecr.x.y"},
	} {
		if got, err := ParseURL(s); err != nil || got != want {
			t.Errorf("ParseURL(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "registry.example.com", "ftp://x", "https://", "https://x/path", "https://u:p@x", "https://x?q", "https://x#f"} {
		if _, err := ParseURL(s); err == nil {
			t.Errorf("ParseURL(%q) accepted", s)
		}
	}
}

// FuzzRoundTrip holds the one rule in both directions: a client that pushes to the URI Wharf hands out
// for a repository reaches that repository, whatever the base host, account and name.
func FuzzRoundTrip(f *testing.F) {
	f.Add("localhost:5000", "", other, "team/app")
	f.Add("localhost:5000", "", def, "123456789012/x")
	f.Add("127.0.0.1:5000", "000000000000.dkr.ecr.us-east-1.example.com", other, "a")
	f.Add("registry.example.com", "", def, "000000000000")
	f.Fuzz(func(t *testing.T, from, public, account, repo string) {
		if !validAccount(account) || repo == "" || strings.HasPrefix(repo, "/") || strings.HasSuffix(repo, "/") ||
			strings.Contains(repo, "//") || strings.ContainsAny(from+public, "/?#@ ") || from == "" {
			return
		}
		b := Book{DefaultAccount: def}
		if public != "" {
			o, err := ParseURL("https://" + public)
			if err != nil {
				return
			}
			b.Public = o
		}
		uri := b.URI(Origin{"http", from}, account, repo)
		host := b.Host(Origin{"http", from}, account)
		path := strings.TrimPrefix(uri, host+"/")
		if got, name, prefix := b.Resolve(host, path); got != account || name != repo || prefix+name != path {
			t.Fatalf("URI %q resolves to %q %q (prefix %q), want %q %q", uri, got, name, prefix, account, repo)
		}
	})
}

// TestPathOnLeadsBackOnThatHost: the names a registry request is answered with (a catalog) are paths
// on the host it was sent to, whatever the public URL says: Resolve on that host reads them back.
func TestPathOnLeadsBackOnThatHost(t *testing.T) {
	b := Book{Public: Origin{"https", "registry.example.com"}, DefaultAccount: def}
	for _, c := range []struct{ host, account, repo, path string }{
		{"registry.example.com", def, "app", "app"},
		{"registry.example.com", def, other + "/app", def + "/" + other + "/app"},
		{"registry.example.com", other, "app", other + "/app"},
		{other + ".registry.example.com", other, "app", "app"},
		{other + ".Registry.example.com", other, def + "/app", def + "/app"},
	} {
		path := b.PathOn(c.host, c.account, c.repo)
		if path != c.path {
			t.Errorf("PathOn(%q, %q, %q) = %q, want %q", c.host, c.account, c.repo, path, c.path)
		}
		if acct, repo, _ := b.Resolve(c.host, path); acct != c.account || repo != c.repo {
			t.Errorf("Resolve(%q, %q) = %q, %q; want %q, %q", c.host, path, acct, repo, c.account, c.repo)
		}
	}
}

func TestValidHost(t *testing.T) {
	for _, h := range []string{"", "localhost:5000", "[::1]:5000", "[fe80::1%25eth0]", "111122223333.dkr.ecr.us-east-1.example.com", "Registry.Example"} {
		if !ValidHost(h) {
			t.Errorf("ValidHost(%q) = false", h)
		}
	}
	for _, h := range []string{`x", evil="1`, "a b", `x\y`, "x\ty", "x/y", "x@y", "é.example"} {
		if ValidHost(h) {
			t.Errorf("ValidHost(%q) = true", h)
		}
	}
}
