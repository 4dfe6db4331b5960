package main

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// These tests run the wharf binary, built once with a version stamped in as a release build would be.

const testVersion = "v9.8.7-test"

var wharfBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wharf-cli-bin")
	if err != nil {
		panic(err)
	}
	wharfBin = filepath.Join(dir, "wharf")
	build := exec.Command("go", "build", "-o", wharfBin, "-ldflags", "-X main.version="+testVersion, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Println("building wharf:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// wharf runs the binary in dir (a fresh temporary directory when "") with args.
func wharf(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cmd := exec.Command(wharfBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("wharf %s: %v", strings.Join(args, " "), err)
	}
	return result{out.String(), errOut.String(), cmd.ProcessState.ExitCode()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := wharf(t, "", nil, args...)
		line := strings.TrimSuffix(r.stdout, "\n")
		if r.code != 0 || r.stderr != "" || strings.Contains(line, "\n") {
			t.Fatalf("%v: want one line on stdout:\n%s", args, r)
		}
		for _, want := range []string{"wharf " + testVersion, runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH, "sqlite", "filesystem", "postgresql", "s3"} {
			if !strings.Contains(line, want) {
				t.Errorf("%v: %q lacks %q", args, line, want)
			}
		}
	}
	r := wharf(t, "", nil, "version", "--json")
	var b buildInfo
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil || r.code != 0 {
		t.Fatalf("version --json: %v\n%s", err, r)
	}
	if b.Version != testVersion || b.Go != runtime.Version() || b.Platform != runtime.GOOS+"/"+runtime.GOARCH || len(b.Storage) != 4 {
		t.Fatalf("version --json: %+v", b)
	}
	if r := wharf(t, "", nil, "version", "extra"); r.code != 2 {
		t.Fatalf("version with an argument:\n%s", r)
	}
}

// TestVersionWithoutStamp: a build without -ldflags reports the module's version, or "devel" (as here, in
// the test binary).
func TestVersionWithoutStamp(t *testing.T) {
	if b := readBuildInfo(); b.Version != "devel" || b.Go != runtime.Version() {
		t.Fatalf("%+v", b)
	}
}

// serveOnly are flags that only a server reads.
var serveOnly = []string{"--addr", "--tls-cert", "--gc-interval", "--lifecycle-interval", "--max-images", "--max-layers",
	"--max-body-memory", "--create-on-push", "--public-url", "--blob-redirect", "--manifest-cache-ttl", "--pprof-addr", "--metrics-addr",
	"--audit-retention", "--audit-delivery", "--audit-delivery-interval"}

// TestHelp: every command answers -h and --help with its own usage on stdout and exit status 0, listing the
// flags it reads and not the server's.
func TestHelp(t *testing.T) {
	for _, c := range commands {
		for _, h := range []string{"-h", "--help"} {
			args := append(strings.Fields(c.name), h)
			r := wharf(t, "", nil, args...)
			if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "usage: wharf "+c.name) || !strings.Contains(r.stdout, c.short[1:]) {
				t.Fatalf("%v:\n%s", args, r)
			}
			if c.name == "serve" || c.name == "healthcheck" { // healthcheck asks the server at serve's --addr
				continue
			}
			for _, f := range serveOnly {
				if listsFlag(r.stdout, f) {
					t.Errorf("%v lists %s, a flag of serve", args, f)
				}
			}
		}
	}
	r := wharf(t, "", nil, "serve", "--help")
	for _, f := range serveOnly {
		if !listsFlag(r.stdout, f) {
			t.Errorf("serve --help does not list %s", f)
		}
	}
	for cmd, want := range map[string][]string{
		"repo":      {"repo create", "repo list", "repo delete"},
		"lifecycle": {"lifecycle run", "lifecycle history"},
		"admin":     {"admin create-user", "admin create-access-key", "admin put-role-policy"},
	} {
		for _, h := range []string{"-h", "--help"} {
			r := wharf(t, "", nil, cmd, h)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("%s %s:\n%s", cmd, h, r)
			}
			for _, w := range want {
				if !strings.Contains(r.stdout, "\n  "+w+" ") {
					t.Errorf("%s %s does not list %s:\n%s", cmd, h, w, r.stdout)
				}
			}
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		if r := wharf(t, "", nil, args...); r.code != 0 || !strings.Contains(r.stdout, "\n  admin delete-user ") || r.stderr != "" {
			t.Fatalf("%v:\n%s", args, r)
		}
	}
	if r := wharf(t, "", nil, "help", "repo", "delete"); r.code != 0 || !strings.HasPrefix(r.stdout, "usage: wharf repo delete [flags] NAME\n") || !strings.Contains(r.stdout, "--force") {
		t.Fatalf("help repo delete:\n%s", r)
	}
}

func listsFlag(help, flag string) bool {
	return strings.Contains(help, "\n  "+flag+" ") || strings.Contains(help, "\n  "+flag+"\n")
}

// TestUsageErrors: a mistake on the command line is one line naming it, then the usage line, on stderr,
// and exit status 2; nothing runs.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"repo", "list", "--nope"}, "wharf repo list: flag provided but not defined: --nope\nusage: wharf repo list [flags]\n"},
		{[]string{"repo", "list", "stray"}, `wharf repo list: unexpected argument "stray"` + "\n"},
		{[]string{"repo", "create", "a", "b"}, `wharf repo create: unexpected argument "b"` + "\n"},
		{[]string{"repo", "create"}, "wharf repo create: missing NAME\nusage: wharf repo create [flags] NAME\n"},
		{[]string{"gc", "--gc-grace", "soon"}, `wharf gc: invalid value "soon" for flag --gc-grace`},
		{[]string{"gc", "--max-images", "5"}, "wharf gc: flag provided but not defined: --max-images\n"},
		{[]string{"lifecycle", "history"}, "wharf lifecycle history: missing --repository\n"},
		{[]string{"admin", "attach-user-policy", "bob"}, "wharf admin attach-user-policy: missing --policy-arn\n"},
		{[]string{"admin", "add-user-to-group", "--group", "g"}, "wharf admin add-user-to-group: missing USER\n"},
		{[]string{"admin", "delete-access-key"}, "wharf admin delete-access-key: missing KEY-ID\n"},
		{[]string{"migrate-storage", "--metadata", "postgres://x/y"}, "wharf migrate-storage: missing --from-data-dir\n"},
		{[]string{"serve", "extra"}, `wharf serve: unexpected argument "extra"` + "\n"},
		{[]string{"nope"}, `wharf: unknown command "nope"`},
		{[]string{"repo"}, "wharf repo: missing command\n"},
		{[]string{"repo", "rename"}, `wharf: unknown command "repo rename"` + "\n"},
		{[]string{}, "usage: wharf <command>"},
	} {
		dir := t.TempDir()
		r := wharf(t, dir, nil, tc.args...)
		if r.code != 2 || r.stdout != "" || !strings.HasPrefix(r.stderr, tc.want) {
			t.Errorf("%v: want exit 2 and stderr starting %q:\n%s", tc.args, tc.want, r)
		}
		if strings.Count(r.stderr, "usage:") > 1 || strings.Contains(r.stderr, "Usage of") {
			t.Errorf("%v: the usage is printed more than once:\n%s", tc.args, r.stderr)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%v created %s", tc.args, entries[0].Name())
		}
	}
}

// TestSharedConfigFile: a config file holds the server's settings too; the other commands leave them
// alone, and a setting no command knows is still an error.
func TestSharedConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wharf.json")
	os.WriteFile(cfg, []byte(`{"addr": "127.0.0.1:0", "max-images": 5, "data-dir": "elsewhere"}`), 0o644)
	r := wharf(t, dir, nil, "repo", "list", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "no Wharf installation in elsewhere") {
		t.Fatalf("repo list with a server's config file:\n%s", r)
	}
	os.WriteFile(cfg, []byte(`{"max-imagez": 5}`), 0o644)
	if r := wharf(t, dir, nil, "repo", "list", "--config", cfg); r.code != 1 || !strings.Contains(r.stderr, `unknown setting "max-imagez"`) {
		t.Fatalf("a misspelt setting:\n%s", r)
	}
}

// TestNoInstallationIsCreated: the commands that read or change an installation refuse to run where there is
// none, and create nothing; serve and migrate create one.
func TestNoInstallationIsCreated(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"repo", "list"},
		{"repo", "create", "app"},
		{"admin", "create-access-key", "admin"},
		{"admin", "create-account", "--account-id", "111122223333"},
		{"gc"},
		{"lifecycle", "run"},
		{"lifecycle", "history", "--repository", "app"},
	} {
		r := wharf(t, dir, nil, args...)
		want := "wharf: no Wharf installation in ./wharf-data (run 'wharf serve' first, or pass --data-dir)\n"
		if r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("%v: want exit 1 and %q:\n%s", args, want, r)
		}
		r = wharf(t, dir, nil, append(args, "--data-dir", filepath.Join(dir, "data"))...)
		if r.code != 1 || !strings.Contains(r.stderr, "no Wharf installation in "+filepath.Join(dir, "data")) {
			t.Errorf("%v --data-dir: %s", args, r)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the commands created %s", entries[0].Name())
	}
	// migrate creates the installation's metadata; the commands then work on it.
	data := filepath.Join(dir, "data")
	if r := wharf(t, dir, nil, "migrate", "--data-dir", data); r.code != 0 {
		t.Fatalf("migrate:\n%s", r)
	}
	if r := wharf(t, dir, nil, "repo", "create", "app", "--data-dir", data); r.code != 0 {
		t.Fatalf("repo create after migrate:\n%s", r)
	}
	if r := wharf(t, dir, nil, "repo", "list", "--data-dir", data); r.code != 0 || r.stdout != "app\n" {
		t.Fatalf("repo list after migrate:\n%s", r)
	}
}

// TestNoSchemaIsCreated: with the metadata in PostgreSQL, a command refuses a database without Wharf's
// schema and leaves it empty; after wharf migrate it runs.
func TestNoSchemaIsCreated(t *testing.T) {
	base := os.Getenv("WHARF_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("WHARF_E2E") == "1" {
			t.Fatal("WHARF_TEST_POSTGRES is not set; scripts/test.sh starts a PostgreSQL server and sets it")
		}
		t.Skip("WHARF_TEST_POSTGRES is not set (scripts/test.sh starts a PostgreSQL server)")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("wharf_cli_%d", os.Getpid())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP DATABASE " + name + " WITH (FORCE)") })
	u, _ := url.Parse(base)
	u.Path = "/" + name
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	storage := []string{"--metadata", u.String(), "--server-secret", base64.StdEncoding.EncodeToString(make([]byte, 32)), "--data-dir", data}

	r := wharf(t, dir, nil, append([]string{"repo", "list"}, storage...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "no Wharf installation in the PostgreSQL database") || !strings.Contains(r.stderr, "wharf migrate") {
		t.Fatalf("repo list on an empty database:\n%s", r)
	}
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("the refused command created %d tables (%v)", tables, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the refused command created %s", entries[0].Name())
	}
	if r := wharf(t, dir, nil, append([]string{"migrate"}, storage...)...); r.code != 0 {
		t.Fatalf("migrate:\n%s", r)
	}
	// The blobs are files in the data directory: a directory that holds none is not the installation's.
	other := append(storage[:len(storage)-1:len(storage)-1], filepath.Join(dir, "other"))
	if r := wharf(t, dir, nil, append([]string{"repo", "list"}, other...)...); r.code != 1 || !strings.Contains(r.stderr, "no blobs in "+filepath.Join(dir, "other")) {
		t.Fatalf("repo list without the blobs' directory:\n%s", r)
	}
	if r := wharf(t, dir, nil, append([]string{"repo", "create", "app"}, storage...)...); r.code != 0 {
		t.Fatalf("repo create after migrate:\n%s", r)
	}
}
