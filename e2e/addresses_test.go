package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// accountEnv is the aws CLI's environment for an account's admin key, against endpoint.
func accountEnv(keyID, secret, endpoint string) []string {
	return []string{"AWS_ACCESS_KEY_ID=" + keyID, "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ENDPOINT_URL_ECR=" + endpoint, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
}

func awsAs(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := runEnv(t, env, nil, tool(t, "aws"), args...)
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// TestURIsLeadWhereTheyPoint is the ECR flow with Wharf's defaults: log in to the host the aws CLI was
// pointed at, create a repository, push to the repositoryUri it returns, pull it back — for the default
// account and for another one, on localhost and on 127.0.0.1 — and fetch a layer from its downloadUrl.
func TestURIsLeadWhereTheyPoint(t *testing.T) {
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir())
	_, port, _ := net.SplitHostPort(s.addr)
	var key struct{ AccessKeyId, SecretAccessKey string }
	jsonOf(t, s.wharf("admin", "create-account", "--account-id", "111122223333"), &key)

	for _, c := range []struct {
		host, keyID, secret, account, wantRegistry string
	}{
		{"localhost:" + port, adminKeyID, adminSecret, "000000000000", "localhost:" + port},
		{"127.0.0.1:" + port, adminKeyID, adminSecret, "000000000000", "127.0.0.1:" + port},
		{"localhost:" + port, key.AccessKeyId, key.SecretAccessKey, "111122223333", "localhost:" + port + "/111122223333"},
	} {
		t.Run(c.account+"@"+c.host, func(t *testing.T) {
			env := accountEnv(c.keyID, c.secret, "http://"+c.host)
			t.Setenv("DOCKER_CONFIG", t.TempDir())
			login := awsAs(t, env, "ecr", "get-authorization-token", "--query", "authorizationData[0].proxyEndpoint", "--output", "text")
			if login != "http://"+c.host {
				t.Fatalf("proxyEndpoint %q, want http://%s", login, c.host)
			}
			pw := awsAs(t, env, "ecr", "get-login-password")
			if out, err := runEnv(t, nil, strings.NewReader(pw), crane, "auth", "login", c.host, "-u", "AWS", "--password-stdin"); err != nil {
				t.Fatalf("crane auth login: %v\n%s", err, out)
			}
			repo := "app-" + c.account[:4] + "-" + strings.NewReplacer(":", "-", ".", "-").Replace(c.host)
			uri := awsAs(t, env, "ecr", "create-repository", "--repository-name", repo, "--query", "repository.repositoryUri", "--output", "text")
			if uri != c.wantRegistry+"/"+repo {
				t.Fatalf("repositoryUri %q, want %s/%s", uri, c.wantRegistry, repo)
			}
			content := []byte("pushed to " + uri + "\n")
			run(t, crane, "append", "--insecure", "-f", writeTar(t, t.TempDir(), "f", content), "-t", uri+":v1")
			if got := run(t, crane, "export", "--insecure", uri+":v1", "-"); !strings.Contains(got, string(content)) {
				t.Fatalf("pull of %s returned other content", uri)
			}
			// The image is in the account that created the repository, and only there.
			digest := awsAs(t, env, "ecr", "describe-images", "--repository-name", repo, "--query", "imageDetails[0].imageDigest", "--output", "text")
			if !strings.HasPrefix(digest, "sha256:") {
				t.Fatalf("describe-images: %q", digest)
			}
			if c.account != "000000000000" {
				out, err := runEnv(t, s.awsEnv(), nil, tool(t, "aws"), "ecr", "describe-repositories", "--repository-names", repo)
				if err == nil || !strings.Contains(out, "RepositoryNotFoundException") {
					t.Fatalf("the default account has %s too: %v %s", repo, err, out)
				}
			}
			// A layer's download URL answers with the layer, for the account it names.
			layer := awsAs(t, env, "ecr", "batch-get-image", "--repository-name", repo, "--image-ids", "imageTag=v1",
				"--query", "images[0].imageManifest", "--output", "text")
			var m struct{ Layers []struct{ Digest string } }
			jsonOf(t, layer, &m)
			u := awsAs(t, env, "ecr", "get-download-url-for-layer", "--repository-name", repo, "--layer-digest", m.Layers[0].Digest,
				"--query", "downloadUrl", "--output", "text")
			if !strings.HasPrefix(u, "http://"+c.wantRegistry+"/") && !strings.HasPrefix(u, "http://"+c.host+"/v2/") {
				t.Fatalf("downloadUrl %q is not on %s", u, c.host)
			}
			res, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || "sha256:"+sha256Hex(b) != m.Layers[0].Digest {
				t.Fatalf("GET downloadUrl: %d, %d bytes", res.StatusCode, len(b))
			}
		})
	}

	// A default-account repository whose name begins with an account id is reached under the default
	// account's id, as its URI says; serve names it when it starts.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	env := accountEnv(adminKeyID, adminSecret, "http://localhost:"+port)
	uri := awsAs(t, env, "ecr", "create-repository", "--repository-name", "222233334444/x", "--query", "repository.repositoryUri", "--output", "text")
	if uri != "localhost:"+port+"/000000000000/222233334444/x" {
		t.Fatalf("repositoryUri %q", uri)
	}
	if out, err := runEnv(t, nil, strings.NewReader(awsAs(t, env, "ecr", "get-login-password")), crane, "auth", "login", "localhost:"+port, "-u", "AWS", "--password-stdin"); err != nil {
		t.Fatalf("crane auth login: %v\n%s", err, out)
	}
	run(t, crane, "append", "--insecure", "-f", writeTar(t, t.TempDir(), "f", []byte("x")), "-t", uri+":v1")
	if got := awsAs(t, env, "ecr", "list-images", "--repository-name", "222233334444/x", "--query", "length(imageIds)", "--output", "text"); got != "1" {
		t.Fatalf("%s holds %s images", uri, got)
	}
	s.stop()
	s.start()
	if !strings.Contains(s.log.String(), `repository=222233334444/x path=000000000000/222233334444/x`) {
		t.Fatalf("serve did not name the repository reached under the default account's id:\n%s", s.log)
	}
}

// TestBehindATLSProxyWithTheCredentialHelper: Wharf serves plain HTTP behind a TLS-terminating proxy and
// advertises its public URL in ECR's host name form. Amazon's credential helper, configured in a docker
// config.json's credHelpers, gets crane its credentials through the ECR API; crane pushes and pulls over
// https to each account's own host name.
func TestBehindATLSProxyWithTheCredentialHelper(t *testing.T) {
	crane, helper := tool(t, "crane"), tool(t, "docker-credential-ecr-login")
	const suffix = ".dkr.ecr.us-east-1.amazonaws.com"
	s := startServer(t, t.TempDir(), "--public-url", "https://000000000000"+suffix)
	var key struct{ AccessKeyId, SecretAccessKey string }
	jsonOf(t, s.wharf("admin", "create-account", "--account-id", "111122223333"), &key)

	// The load balancer: TLS with a certificate for *.dkr.ecr.us-east-1.amazonaws.com, forwarding to Wharf
	// with the Host the client sent.
	dir := t.TempDir()
	cert, caFile := wildcardCert(t, dir, "*"+suffix)
	target, _ := url.Parse("http://" + s.addr)
	lb := &http.Server{Handler: &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}}, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	lbLn, err := tls.Listen("tcp", "127.0.0.1:0", lb.TLSConfig)
	if err != nil {
		t.Fatal(err)
	}
	go lb.Serve(lbLn)
	t.Cleanup(func() { lb.Close() })
	// DNS for the account host names, as a wildcard record would give: crane reaches them through an HTTP
	// CONNECT proxy that sends every connection to the load balancer.
	proxy := connectProxy(t, lbLn.Addr().String())

	cfg := t.TempDir()
	hosts := map[string]string{"000000000000": adminKeyID, "111122223333": key.AccessKeyId}
	var helpers []string
	for acct := range hosts {
		helpers = append(helpers, `"`+acct+suffix+`": "ecr-login"`)
	}
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"credHelpers": {`+strings.Join(helpers, ", ")+`}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ account, keyID, secret string }{
		{"000000000000", adminKeyID, adminSecret},
		{"111122223333", key.AccessKeyId, key.SecretAccessKey},
	} {
		env := append(accountEnv(c.keyID, c.secret, "http://"+s.addr),
			"DOCKER_CONFIG="+cfg, "HTTPS_PROXY=http://"+proxy, "SSL_CERT_FILE="+caFile, "HOME="+t.TempDir(),
			"AWS_ECR_DISABLE_CACHE=1", "PATH="+filepath.Dir(helper)+string(os.PathListSeparator)+os.Getenv("PATH"))
		if got := awsAs(t, env, "ecr", "get-authorization-token", "--query", "authorizationData[0].proxyEndpoint", "--output", "text"); got != "https://"+c.account+suffix {
			t.Fatalf("proxyEndpoint %q", got)
		}
		uri := awsAs(t, env, "ecr", "create-repository", "--repository-name", "app", "--query", "repository.repositoryUri", "--output", "text")
		if uri != c.account+suffix+"/app" {
			t.Fatalf("repositoryUri %q", uri)
		}
		content := []byte("behind TLS for " + c.account + "\n")
		if out, err := runEnv(t, env, nil, crane, "append", "-f", writeTar(t, t.TempDir(), "f", content), "-t", uri+":v1"); err != nil {
			t.Fatalf("crane push through the credential helper: %v\n%s", err, out)
		}
		out, err := runEnv(t, env, nil, crane, "export", uri+":v1", "-")
		if err != nil || !strings.Contains(out, string(content)) {
			t.Fatalf("crane pull: %v\n%.300s", err, out)
		}
		got := awsAs(t, env, "ecr", "describe-images", "--repository-name", "app", "--query", "length(imageDetails)", "--output", "text")
		if got != "1" {
			t.Fatalf("%s has %s images", c.account, got)
		}
	}
}

// wildcardCert makes a certificate for name, signed by a new CA written to dir/ca.pem.
func wildcardCert(t *testing.T, dir, name string) (tls.Certificate, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wharf test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}, caFile
}

// connectProxy is an HTTP proxy on loopback that answers every CONNECT by connecting to to.
func connectProxy(t *testing.T, to string) string {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", to)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { io.Copy(up, rw); up.Close() }()
		io.Copy(conn, up)
		conn.Close()
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
