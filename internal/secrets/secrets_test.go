package secrets_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/secrets"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

const acct = "111122223333"

var ctx = context.Background()

type fixture struct {
	*secrets.Service
	meta  store.Store
	clock *clock.Fake
	keys  *identity.Keyring
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	meta, err := sqlite.Open(filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	keys, err := identity.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	return &fixture{Service: secrets.New(meta, keys, clk, "us-east-1"), meta: meta, clock: clk, keys: keys}
}

func str(s string) secrets.Value { return secrets.Value{String: &s} }

func (f *fixture) create(t *testing.T, name string, v secrets.Value) *store.Secret {
	t.Helper()
	sec, _, err := f.Create(ctx, acct, secrets.CreateInput{ARN: f.NewARN(acct, name), Name: name, Value: v})
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func code(err error) string {
	var e *secrets.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestCreateAndGet(t *testing.T) {
	f := newFixture(t)
	name := "ecr-pullthroughcache/hub"
	arn := f.NewARN(acct, name)
	if !regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:111122223333:secret:ecr-pullthroughcache/hub-[A-Za-z0-9]{6}$`).MatchString(arn) {
		t.Fatalf("ARN %s", arn)
	}
	value := `{"username":"u","accessToken":"t"}`
	token := "00000000-0000-4000-8000-00000000000a"
	in := secrets.CreateInput{ARN: arn, Name: name, Description: "Docker Hub", Value: str(value), VersionID: token,
		Tags: []store.ResourceTag{{Key: "team", Value: "build"}}}
	sec, version, err := f.Create(ctx, acct, in)
	if err != nil || sec.ARN != arn || version != token {
		t.Fatalf("create: %+v %s %v", sec, version, err)
	}
	// The same request again is answered alike; another is refused.
	if again, v, err := f.Create(ctx, acct, in); err != nil || again.ARN != arn || v != token {
		t.Fatalf("the same create again: %+v %s %v", again, v, err)
	}
	other := in
	other.ARN, other.VersionID = f.NewARN(acct, name), ""
	if _, _, err := f.Create(ctx, acct, other); code(err) != secrets.CodeExists {
		t.Fatalf("a second secret of the name: %v", err)
	}
	other.VersionID, other.Value = token, str("changed")
	if _, _, err := f.Create(ctx, acct, other); code(err) != secrets.CodeExists {
		t.Fatalf("the token again with another value: %v", err)
	}

	// By name, ARN and partial ARN; never another account's.
	for _, id := range []string{name, arn, "arn:aws:secretsmanager:us-east-1:111122223333:secret:" + name} {
		got, err := f.Value(ctx, acct, id)
		if err != nil || string(got) != value {
			t.Errorf("value by %s: %q %v", id, got, err)
		}
	}
	if _, err := f.Value(ctx, "444455556666", arn); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("another account's: %v", err)
	}
	if _, err := f.Value(ctx, acct, "nope"); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("a missing secret: %v", err)
	}
	if r, found, _ := f.ResourceARN(ctx, acct, "nope"); found || r != "arn:aws:secretsmanager:us-east-1:111122223333:secret:nope" {
		t.Errorf("the resource of a missing secret: %s %v", r, found)
	}
	if r, found, _ := f.ResourceARN(ctx, acct, name); !found || r != arn {
		t.Errorf("the resource of a secret: %s %v", r, found)
	}

	// Stored sealed, bound to its ARN and version.
	var rows []store.SecretVersion
	f.meta.View(ctx, func(tx store.Tx) (err error) { rows, err = tx.SecretVersions(arn); return err })
	if len(rows) != 1 || bytes.Contains(rows[0].Sealed, []byte("accessToken")) {
		t.Fatalf("stored: %+v", rows)
	}
	if _, err := f.keys.Open(rows[0].Sealed, "wharf secret value string "+arn+" other"); err == nil {
		t.Fatal("the value opens for another version")
	}

	// Binary values, and secrets without one.
	bin := f.create(t, "bin", secrets.Value{Binary: []byte{0, 1, 2}})
	if _, v, err := f.Get(ctx, acct, bin.ARN, "", ""); err != nil || v.Value.String != nil || !bytes.Equal(v.Value.Binary, []byte{0, 1, 2}) {
		t.Fatalf("binary: %+v %v", v, err)
	}
	empty := f.create(t, "empty", secrets.Value{})
	if _, _, err := f.Get(ctx, acct, empty.ARN, "", ""); code(err) != secrets.CodeNotFound ||
		!strings.Contains(err.Error(), "for staging label: AWSCURRENT") {
		t.Fatalf("a secret without a value: %v", err)
	}
	s := "x"
	for _, bad := range []secrets.CreateInput{
		{Name: "bad name!", ARN: f.NewARN(acct, "bad name!")},
		{Name: "both", ARN: f.NewARN(acct, "both"), Value: secrets.Value{String: &s, Binary: []byte{1}}},
		{Name: "short-token", ARN: f.NewARN(acct, "short-token"), Value: str("v"), VersionID: "abc"},
		{Name: "empty-value", ARN: f.NewARN(acct, "empty-value"), Value: str("")},
	} {
		if _, _, err := f.Create(ctx, acct, bad); code(err) != secrets.CodeInvalidParameter {
			t.Errorf("%s: %v", bad.Name, err)
		}
	}
}

func TestVersionsAndStages(t *testing.T) {
	f := newFixture(t)
	sec := f.create(t, "db", str("one"))
	_, first, _ := f.Get(ctx, acct, sec.ARN, "", "")
	f.clock.Advance(time.Minute)
	_, second, stages, err := f.Put(ctx, acct, sec.ARN, "", str("two"), nil)
	if err != nil || !slices.Equal(stages, []string{"AWSCURRENT"}) {
		t.Fatalf("put: %v %v", stages, err)
	}
	check := func(stage, want string) {
		t.Helper()
		_, v, err := f.Get(ctx, acct, sec.ARN, "", stage)
		if err != nil || *v.Value.String != want {
			t.Fatalf("%s: %+v %v", stage, v, err)
		}
	}
	check("AWSCURRENT", "two")
	check("AWSPREVIOUS", "one")
	if _, v, err := f.Get(ctx, acct, sec.ARN, first.ID, ""); err != nil || *v.Value.String != "one" || !slices.Equal(v.Stages, []string{"AWSPREVIOUS"}) {
		t.Fatalf("by version id: %+v %v", v, err)
	}
	if _, _, err := f.Get(ctx, acct, sec.ARN, first.ID, "AWSCURRENT"); code(err) != secrets.CodeNotFound {
		t.Fatalf("an id with a label it does not carry: %v", err)
	}

	// A third version: the first, left without labels, goes.
	token := "00000000-0000-4000-8000-000000000003"
	if _, _, _, err := f.Put(ctx, acct, sec.ARN, token, str("three"), nil); err != nil {
		t.Fatal(err)
	}
	check("AWSPREVIOUS", "two")
	if _, _, err := f.Get(ctx, acct, sec.ARN, first.ID, ""); code(err) != secrets.CodeNotFound {
		t.Fatalf("a version without labels: %v", err)
	}
	d, err := f.Describe(ctx, acct, sec.ARN)
	if err != nil || len(d.Versions) != 2 || !slices.Equal(d.Versions[second], []string{"AWSPREVIOUS"}) ||
		!slices.Equal(d.Versions[token], []string{"AWSCURRENT"}) || !d.ChangedAt.Equal(f.clock.Now()) {
		t.Fatalf("describe: %+v %v", d, err)
	}
	// The same put again changes nothing; the token with another value is refused.
	if _, v, _, err := f.Put(ctx, acct, sec.ARN, token, str("three"), nil); err != nil || v != token {
		t.Fatalf("the same put again: %v", err)
	}
	check("AWSPREVIOUS", "two")
	if _, _, _, err := f.Put(ctx, acct, sec.ARN, token, str("four"), nil); code(err) != secrets.CodeExists {
		t.Fatalf("a token again with another value: %v", err)
	}
	// A label of one's own moves without touching AWSCURRENT.
	if _, _, stages, err := f.Put(ctx, acct, sec.ARN, "", str("pending"), []string{"AWSPENDING"}); err != nil || !slices.Equal(stages, []string{"AWSPENDING"}) {
		t.Fatalf("put AWSPENDING: %v %v", stages, err)
	}
	check("AWSCURRENT", "three")
	check("AWSPREVIOUS", "two")
	check("AWSPENDING", "pending")
	if v, err := f.Value(ctx, acct, "db"); err != nil || string(v) != "three" {
		t.Fatalf("value: %q %v", v, err)
	}
	if _, _, _, err := f.Put(ctx, acct, sec.ARN, "", secrets.Value{}, nil); code(err) != secrets.CodeInvalidParameter {
		t.Fatalf("a put without a value: %v", err)
	}
}

func TestDeletionWindow(t *testing.T) {
	f := newFixture(t)
	sec := f.create(t, "ecr-pullthroughcache/hub", str("v"))
	for _, tc := range []struct {
		days  int64
		force bool
	}{{6, false}, {31, false}, {7, true}} {
		if _, _, err := f.Delete(ctx, acct, sec.ARN, tc.days, tc.force); code(err) != secrets.CodeInvalidParameter {
			t.Errorf("delete %d days, force %v: %v", tc.days, tc.force, err)
		}
	}
	now := f.clock.Now()
	_, at, err := f.Delete(ctx, acct, sec.ARN, 7, false)
	if err != nil || !at.Equal(now.Add(7*24*time.Hour)) {
		t.Fatalf("delete: %v %v", at, err)
	}
	if _, _, err := f.Get(ctx, acct, sec.ARN, "", ""); code(err) != secrets.CodeInvalidRequest {
		t.Fatalf("get while scheduled: %v", err)
	}
	if _, _, _, err := f.Put(ctx, acct, sec.ARN, "", str("w"), nil); code(err) != secrets.CodeInvalidRequest {
		t.Fatalf("put while scheduled: %v", err)
	}
	if _, _, err := f.Delete(ctx, acct, sec.ARN, 0, false); code(err) != secrets.CodeInvalidRequest {
		t.Fatalf("delete again: %v", err)
	}
	// The name stays taken; listings leave it out unless asked.
	if _, _, err := f.Create(ctx, acct, secrets.CreateInput{ARN: f.NewARN(acct, sec.Name), Name: sec.Name}); code(err) != secrets.CodeInvalidRequest {
		t.Fatalf("create while scheduled: %v", err)
	}
	if d, err := f.Describe(ctx, acct, sec.ARN); err != nil || !d.DeletedAt.Equal(now) || !d.PurgeAt.Equal(at) {
		t.Fatalf("describe while scheduled: %+v %v", d, err)
	}
	if page, _, _ := f.List(ctx, acct, secrets.ListInput{Limit: 10}); len(page) != 0 {
		t.Fatalf("listed while scheduled: %+v", page)
	}
	if page, _, _ := f.List(ctx, acct, secrets.ListInput{Limit: 10, IncludePlannedDeletion: true}); len(page) != 1 {
		t.Fatalf("listed with planned deletions: %+v", page)
	}

	// The pass deletes it once the window has passed, not before.
	f.clock.Advance(7*24*time.Hour - time.Second)
	if n, err := f.Purge(ctx); n != 0 || err != nil {
		t.Fatalf("purged early: %d %v", n, err)
	}
	f.clock.Advance(time.Second)
	if n, err := f.Purge(ctx); n != 1 || err != nil {
		t.Fatalf("purge: %d %v", n, err)
	}
	if _, err := f.Describe(ctx, acct, sec.ARN); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("describe after the purge: %v", err)
	}
	again := f.create(t, sec.Name, str("new"))
	if again.ARN == sec.ARN {
		t.Fatal("a new secret of the name has the old ARN")
	}

	// Forced: gone at once, default window otherwise.
	if _, at, err := f.Delete(ctx, acct, again.ARN, 0, true); err != nil || !at.Equal(f.clock.Now()) {
		t.Fatalf("force delete: %v %v", at, err)
	}
	if _, err := f.Value(ctx, acct, sec.Name); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("after force delete: %v", err)
	}
	third := f.create(t, sec.Name, str("3"))
	if _, at, err := f.Delete(ctx, acct, third.ARN, 0, false); err != nil || !at.Equal(f.clock.Now().Add(30*24*time.Hour)) {
		t.Fatalf("default window: %v %v", at, err)
	}
	if _, _, err := f.Delete(ctx, acct, third.ARN, 0, true); err != nil { // a scheduled secret may be forced
		t.Fatal(err)
	}
}

func TestList(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"ecr-pullthroughcache/hub", "ecr-pullthroughcache/ghcr", "db/main", "db/replica"} {
		sec := f.create(t, n, str("v"))
		if n == "db/main" {
			f.meta.Update(ctx, func(tx store.Tx) error {
				sec.Description, sec.Tags = "primary database", []store.ResourceTag{{Key: "env", Value: "prod"}}
				return tx.UpdateSecret(*sec)
			})
		}
	}
	names := func(in secrets.ListInput) ([]string, bool) {
		t.Helper()
		page, more, err := f.List(ctx, acct, in)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range page {
			out = append(out, d.Name)
			if len(d.Versions) != 1 {
				t.Errorf("%s versions %v", d.Name, d.Versions)
			}
		}
		return out, more
	}
	if got, more := names(secrets.ListInput{Limit: 3}); !slices.Equal(got, []string{"db/main", "db/replica", "ecr-pullthroughcache/ghcr"}) || !more {
		t.Fatalf("first page: %v %v", got, more)
	}
	if got, more := names(secrets.ListInput{Limit: 3, After: "ecr-pullthroughcache/ghcr"}); !slices.Equal(got, []string{"ecr-pullthroughcache/hub"}) || more {
		t.Fatalf("second page: %v %v", got, more)
	}
	for _, tc := range []struct {
		filters []secrets.Filter
		want    []string
	}{
		{[]secrets.Filter{{Key: "name", Values: []string{"ecr-pullthroughcache/"}}}, []string{"ecr-pullthroughcache/ghcr", "ecr-pullthroughcache/hub"}},
		{[]secrets.Filter{{Key: "name", Values: []string{"!ecr-"}}}, []string{"db/main", "db/replica"}},
		{[]secrets.Filter{{Key: "description", Values: []string{"primary"}}}, []string{"db/main"}},
		{[]secrets.Filter{{Key: "tag-key", Values: []string{"env"}}}, []string{"db/main"}},
		{[]secrets.Filter{{Key: "name", Values: []string{"db/"}}, {Key: "tag-key", Values: []string{"!env"}}}, []string{"db/replica"}},
		{[]secrets.Filter{{Key: "all", Values: []string{"prod"}}}, []string{"db/main"}},
	} {
		if got, _ := names(secrets.ListInput{Limit: 10, Filters: tc.filters}); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.filters, got, tc.want)
		}
	}
	if _, _, err := f.List(ctx, acct, secrets.ListInput{Limit: 10, Filters: []secrets.Filter{{Key: "colour", Values: []string{"x"}}}}); code(err) != secrets.CodeInvalidParameter {
		t.Fatalf("an unknown filter: %v", err)
	}
	if page, _, _ := f.List(ctx, "444455556666", secrets.ListInput{Limit: 10}); len(page) != 0 {
		t.Fatalf("another account lists %+v", page)
	}
}
