// Package e2e runs the real wharf binary against real clients: the OCI conformance suite, crane, oras and
// skopeo. It needs those tools on PATH (scripts/test.sh installs them) and runs when WHARF_E2E=1.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

var wharfBin string

func TestMain(m *testing.M) {
	if os.Getenv("WHARF_E2E") != "1" {
		fmt.Println("e2e: skipped; WHARF_E2E=1 runs these tests (scripts/test.sh sets it)")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "wharf-e2e-bin")
	if err != nil {
		panic(err)
	}
	wharfBin = filepath.Join(dir, "wharf")
	build := exec.Command("go", "build", "-o", wharfBin, "../cmd/wharf")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Println("e2e: building wharf:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tool finds a client on PATH; missing tools fail the test, they never skip it.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not on PATH (scripts/test.sh installs it): %v", name, err)
	}
	return p
}

type wharfProc struct {
	t    *testing.T
	dir  string
	addr string
	args []string
	env  []string // more environment of the server process
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs wharf serve on a fresh loopback port with its data in dir.
func startServer(t *testing.T, dir string, args ...string) *wharfProc {
	s := &wharfProc{t: t, dir: dir, addr: freeAddr(t), args: args}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// The admin key of the default account in every test server.
const (
	adminKeyID  = "AKIAE2EADMIN00000001"
	adminSecret = "e2e-admin-secret-0000000000000000000000"
)

func (s *wharfProc) start() {
	s.t.Helper()
	env := []string{"WHARF_ADMIN_ACCESS_KEY_ID=" + adminKeyID, "WHARF_ADMIN_SECRET_ACCESS_KEY=" + adminSecret}
	if !slices.Contains(s.args, "--throttle") && !slices.Contains(s.args, "--config") {
		// ECR's rate quotas would throttle the conformance suite's bursts of pushes: servers of tests
		// that set no limits of their own have none.
		env = append(env, `WHARF_THROTTLE={"default": {"*": {"rate": 0}}}`)
	}
	s.startWithEnv(append(env, s.env...))
}

func (s *wharfProc) startWithEnv(env []string) {
	s.t.Helper()
	s.log = &bytes.Buffer{}
	args := append([]string{"serve", "--addr", s.addr, "--data-dir", s.dir, "--log-level", "warn"}, s.args...)
	s.cmd = exec.Command(wharfBin, args...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("wharf did not become healthy; its log:\n%s", s.log)
}

func (s *wharfProc) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

func (s *wharfProc) kill() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// awsEnv is the environment of the aws CLI talking to this server as the admin.
func (s *wharfProc) awsEnv() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + adminKeyID, "AWS_SECRET_ACCESS_KEY=" + adminSecret, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ENDPOINT_URL_ECR=http://" + s.addr, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
}

// aws runs the aws CLI against this server.
func (s *wharfProc) aws(args ...string) string {
	s.t.Helper()
	out, err := runEnv(s.t, s.awsEnv(), nil, tool(s.t, "aws"), args...)
	if err != nil {
		s.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// password returns a registry password from `aws ecr get-login-password`.
func (s *wharfProc) password() string {
	s.t.Helper()
	return strings.TrimSpace(s.aws("ecr", "get-login-password"))
}

// login logs crane, oras and skopeo in with the password of `aws ecr get-login-password`, piped as a user
// would, into configuration files private to the test.
func (s *wharfProc) login() string {
	s.t.Helper()
	cfg := s.t.TempDir()
	s.t.Setenv("DOCKER_CONFIG", cfg)
	s.t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(cfg, "auth.json"))
	pw := s.password()
	for _, c := range [][]string{
		{"crane", "auth", "login", s.addr, "-u", "AWS", "--password-stdin"},
		{"oras", "login", "--plain-http", "-u", "AWS", "--password-stdin", s.addr},
		{"skopeo", "login", "--tls-verify=false", "-u", "AWS", "--password-stdin", s.addr},
	} {
		if out, err := runEnv(s.t, nil, strings.NewReader(pw), tool(s.t, c[0]), c[1:]...); err != nil {
			s.t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	return pw
}

// wharf runs a wharf subcommand on the server's storage.
func (s *wharfProc) wharf(args ...string) string {
	s.t.Helper()
	out, err := runEnv(s.t, s.env, nil, wharfBin, append(append(args, "--data-dir", s.dir), s.storageArgs()...)...)
	if err != nil {
		s.t.Fatalf("wharf %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// storageArgs are the server's flags that say where its storage is (and the secret its nodes share).
func (s *wharfProc) storageArgs() []string {
	var out []string
	for i := 0; i < len(s.args); i++ {
		switch s.args[i] {
		case "--metadata", "--blobs", "--s3-endpoint", "--server-secret":
			out = append(out, s.args[i], s.args[i+1])
			i++
		case "--s3-force-path-style":
			out = append(out, s.args[i])
		}
	}
	return out
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func runEnv(t *testing.T, env []string, stdin io.Reader, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// writeTar writes a tar archive holding one file and returns its path.
func writeTar(t *testing.T, dir, name string, content []byte) string {
	t.Helper()
	src := filepath.Join(dir, "src-"+name)
	os.MkdirAll(src, 0o755)
	if err := os.WriteFile(filepath.Join(src, name), content, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+".tar")
	run(t, "tar", "-C", src, "-cf", out, name)
	return out
}

// TestAdminKeyFromTheEnvironmentStaysSecret: a key the operator chose (WHARF_ADMIN_ACCESS_KEY_ID and
// WHARF_ADMIN_SECRET_ACCESS_KEY) is neither printed nor written to the data directory; only a key Wharf
// generated is shown, once, and kept in admin-credentials (TestFirstStartAndAdmin).
func TestAdminKeyFromTheEnvironmentStaysSecret(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	if strings.Contains(s.log.String(), adminSecret) {
		t.Fatalf("the secret is in the output:\n%s", s.log)
	}
	if _, err := os.Stat(filepath.Join(dir, "admin-credentials")); !os.IsNotExist(err) {
		t.Fatalf("admin-credentials written: %v", err)
	}
	if !strings.Contains(s.log.String(), adminKeyID) {
		t.Fatalf("the output does not say which key the admin got:\n%s", s.log)
	}
}
