package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

var (
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d1 = digest.FromString("image one")
)

func TestRenderPushInEventBridgeFormat(t *testing.T) {
	envs := Render(registry.Event{Type: registry.EventImagePushed, At: t0, RegistryID: "123456789012", Repository: "team/app",
		Digest: d1, Tag: "latest"}, "us-west-2")
	if len(envs) != 1 {
		t.Fatalf("%d events", len(envs))
	}
	envs[0].ID = "13cde686-328b-6117-af20-0e5566167482"
	got, _ := json.Marshal(envs[0])
	want := `{"version":"0","id":"13cde686-328b-6117-af20-0e5566167482","detail-type":"ECR Image Action","source":"aws.ecr",` +
		`"account":"123456789012","time":"2026-03-01T12:00:00Z","region":"us-west-2",` +
		`"resources":["arn:aws:ecr:us-west-2:123456789012:repository/team/app"],` +
		`"detail":{"result":"SUCCESS","repository-name":"team/app","image-digest":"` + d1.String() + `","action-type":"PUSH","image-tag":"latest"}}`
	if string(got) != want {
		t.Fatalf("rendered\n%s\nwant\n%s", got, want)
	}
}

func TestRenderImageScanInEventBridgeFormat(t *testing.T) {
	for _, c := range []struct {
		event registry.Event
		want  string
	}{
		{registry.Event{Tags: []string{"latest"}, SeverityCounts: map[string]int{"CRITICAL": 10, "MEDIUM": 9}},
			`"detail":{"scan-status":"COMPLETE","repository-name":"team/app","finding-severity-counts":{"CRITICAL":10,"MEDIUM":9},"image-digest":"` + d1.String() + `","image-tags":["latest"]}}`},
		{registry.Event{},
			`"detail":{"scan-status":"COMPLETE","repository-name":"team/app","finding-severity-counts":{},"image-digest":"` + d1.String() + `","image-tags":[]}}`},
	} {
		e := c.event
		e.Type, e.At, e.RegistryID, e.Repository, e.Digest, e.ScanStatus = registry.EventImageScanned, t0, "123456789012", "team/app", d1, "COMPLETE"
		envs := Render(e, "us-east-1")
		if len(envs) != 1 {
			t.Fatalf("%d events", len(envs))
		}
		envs[0].ID = "85fc3613-e913-7fc4-a80c-a3753e4aa9ae"
		got, _ := json.Marshal(envs[0])
		want := `{"version":"0","id":"85fc3613-e913-7fc4-a80c-a3753e4aa9ae","detail-type":"ECR Image Scan","source":"aws.ecr",` +
			`"account":"123456789012","time":"2026-03-01T12:00:00Z","region":"us-east-1",` +
			`"resources":["arn:aws:ecr:us-east-1:123456789012:repository/team/app"],` + c.want
		if string(got) != want {
			t.Fatalf("rendered\n%s\nwant\n%s", got, want)
		}
		if !(&Target{}).Matches(&envs[0]) {
			t.Fatal("a target with no detail types does not receive ECR Image Scan")
		}
	}
}

func TestRenderEachKind(t *testing.T) {
	ev := func(e registry.Event) registry.Event {
		e.At, e.RegistryID, e.Repository, e.Digest = t0, "123456789012", "app", d1
		return e
	}
	for _, c := range []struct {
		event registry.Event
		want  []string // detail-type action-type tag
	}{
		{ev(registry.Event{Type: registry.EventImagePushed}), []string{"ECR Image Action PUSH "}},
		{ev(registry.Event{Type: registry.EventTagDeleted, Tag: "v1"}), []string{"ECR Image Action DELETE v1"}},
		{ev(registry.Event{Type: registry.EventImageDeleted, Tags: []string{"a", "b"}, Cause: registry.CauseAPI}),
			[]string{"ECR Image Action DELETE a", "ECR Image Action DELETE b"}},
		{ev(registry.Event{Type: registry.EventImageDeleted, Cause: registry.CauseLifecycle}), []string{"ECR Image Action DELETE "}},
		{ev(registry.Event{Type: registry.EventTagMoved, Tag: "v1"}), nil},
		{ev(registry.Event{Type: registry.EventLifecyclePass, Evaluated: 5, Expired: 2}), []string{"ECR Lifecycle Policy Action EXPIRE "}},
		{ev(registry.Event{Type: registry.EventLifecyclePass, Evaluated: 5}), nil},
		{ev(registry.Event{Type: registry.EventLifecyclePass, Evaluated: 5, Transitioned: 2}), []string{"ECR Lifecycle Policy Action TRANSITION "}},
		{ev(registry.Event{Type: registry.EventRepositoryCreated}), []string{"Wharf Repository Action CREATE "}},
		{ev(registry.Event{Type: registry.EventPolicyChanged, Policy: registry.PolicyLifecycle, Change: registry.PolicyDeleted}),
			[]string{"Wharf Policy Action DELETE "}},
		{ev(registry.Event{Type: registry.EventImageStorageChanged, Status: "ARCHIVED"}), []string{"Wharf Image Storage Action ARCHIVE "}},
		{ev(registry.Event{Type: registry.EventImageStorageChanged, Status: "ACTIVATING"}), []string{"Wharf Image Storage Action RESTORE "}},
	} {
		var got []string
		for _, e := range Render(c.event, "us-east-1") {
			got = append(got, e.DetailType+" "+e.Detail.ActionType+" "+e.Detail.ImageTag)
			if e.DetailType == LifecyclePolicyAction && e.Detail.ImageCount != 2 {
				t.Errorf("lifecycle image-count %d", e.Detail.ImageCount)
			}
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: %q, want %q", c.event.Type, got, c.want)
		}
	}
}

func TestSign(t *testing.T) {
	// python3 -c 'import hmac,hashlib;print(hmac.new(b"key",b"{\"a\":1}",hashlib.sha256).hexdigest())'
	if got := Sign("key", []byte(`{"a":1}`)); got != "sha256=88a67f24bbcdaed0e6c997404bb79a743baf44c6bab2f4c27328e3009d22e342" {
		t.Fatal(got)
	}
}

func TestParseTargets(t *testing.T) {
	ts, err := ParseTargets(`[{"name":"ci","url":"https://hooks.example.com/wharf","secret":"s3cret","repositories":["prod/*"]}]`)
	if err != nil {
		t.Fatal(err)
	}
	if ts[0].Attempts != DefaultAttempts || time.Duration(ts[0].Timeout) != DefaultTimeout || time.Duration(ts[0].Backoff) != DefaultBackoff {
		t.Fatalf("defaults not filled: %+v", ts[0])
	}
	if ts, err := ParseTargets(""); ts != nil || err != nil {
		t.Fatal(ts, err)
	}
	for _, bad := range []string{
		`{"name":"x"}`,
		`[{"name":"a b","url":"https://h/","secret":"s"}]`,
		`[{"name":"a","url":"ftp://h/","secret":"s"}]`,
		`[{"name":"a","url":"/relative","secret":"s"}]`,
		`[{"name":"a","url":"https://user:pw@h/","secret":"s"}]`,
		`[{"name":"a","url":"https://h/"}]`,
		`[{"name":"a","url":"https://h/","secret":"s","detailTypes":["ECR Image Scanning"]}]`,
		`[{"name":"a","url":"https://h/","secret":"s","timeout":"soon"}]`,
		`[{"name":"a","url":"https://h/","secret":"s","colour":"red"}]`,
		`[{"name":"a","url":"https://h/","secret":"s"},{"name":"a","url":"https://h/","secret":"s"}]`,
	} {
		if _, err := ParseTargets(bad); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestMatches(t *testing.T) {
	push := Render(registry.Event{Type: registry.EventImagePushed, At: t0, RegistryID: "111111111111", Repository: "prod/web", Digest: d1}, "r")[0]
	created := Render(registry.Event{Type: registry.EventRepositoryCreated, At: t0, RegistryID: "111111111111", Repository: "prod/web"}, "r")[0]
	for _, c := range []struct {
		target Target
		env    Envelope
		want   bool
	}{
		{Target{}, push, true},
		{Target{}, created, false}, // Wharf's own detail-types only when asked for
		{Target{DetailTypes: []string{RepositoryAction}}, created, true},
		{Target{ActionTypes: []string{"DELETE"}}, push, false},
		{Target{ActionTypes: []string{"PUSH"}}, push, true},
		{Target{Repositories: []string{"prod/*"}}, push, true},
		{Target{Repositories: []string{"dev/*", "*/web"}}, push, true},
		{Target{Repositories: []string{"prod"}}, push, false},
		{Target{Repositories: []string{"p*d/w*b"}}, push, true},
		{Target{Accounts: []string{"222222222222"}}, push, false},
		{Target{Repositories: []string{"*"}}, push, true},
		{Target{Repositories: []string{"prod/web*"}}, push, true},
		{Target{Repositories: []string{"*prod/web"}}, push, true},
		{Target{Repositories: []string{"**/*e*"}}, push, true},
		{Target{Repositories: []string{"*/*/*"}}, push, false},
		{Target{Repositories: []string{"prod/we"}}, push, false},
	} {
		if got := c.target.Matches(&c.env); got != c.want {
			t.Errorf("%+v on %s %s: %v", c.target, c.env.DetailType, c.env.Detail.RepositoryName, got)
		}
	}
}

// TestWildcardOfManyStars: a pattern of many stars against a long repository name (a user names
// repositories) is matched in polynomial steps, not by trying every way its stars could split the name.
func TestWildcardOfManyStars(t *testing.T) {
	name := strings.Repeat("a", 256)
	if wildcard(strings.Repeat("*a", 12)+"*b", name) {
		t.Fatal("matched a name without b")
	}
	if !wildcard(strings.Repeat("*a", 12)+"*", name) {
		t.Fatal("did not match")
	}
}

// receiver is a webhook endpoint on 127.0.0.1 that records what it gets and answers status.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	delay  time.Duration
	got    []*http.Request
	bodies [][]byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: 200}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status, delay := r.status, r.delay
		r.got, r.bodies = append(r.got, req), append(r.bodies, body)
		r.mu.Unlock()
		time.Sleep(delay)
		w.WriteHeader(status)
		w.Write([]byte(strings.Repeat("x", 1<<20))) // a large answer is not read
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) set(status int, delay time.Duration) {
	r.mu.Lock()
	r.status, r.delay = status, delay
	r.mu.Unlock()
}

// claim takes the due jobs of kind, as the job runner would.
func claim(t *testing.T, meta store.Store, kind string, now time.Time) []store.Job {
	t.Helper()
	var js []store.Job
	err := meta.Update(context.Background(), func(tx store.Tx) (err error) {
		js, err = tx.ClaimJobs(kind, "test", now, now.Add(time.Minute), 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestDispatchAndDeliver: the dispatcher enqueues one delivery per matching (event, target) and moves its
// cursor, so a second pass enqueues nothing; a delivery POSTs the signed event; a failing receiver, or one
// too slow, fails the attempt, and the last failed attempt counts as dead.
func TestDispatchAndDeliver(t *testing.T) {
	ctx := context.Background()
	meta, err := sqlite.Open(filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	rcv := newReceiver(t)
	targets, err := ParseTargets(`[{"name":"all","url":"` + rcv.URL + `/all","secret":"one","timeout":"300ms","attempts":2},
		{"name":"prod","url":"` + rcv.URL + `/prod","secret":"two","repositories":["prod/*"]}]`)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	clk := clock.NewFake(t0)
	n := New(meta, clk, "us-east-1", targets, slog.Default(), reg)

	add := func(e registry.Event) {
		data, _ := json.Marshal(e)
		if err := meta.Update(ctx, func(tx store.Tx) error {
			return tx.AddEvent(&store.Event{Type: e.Type, At: e.At, RegistryID: e.RegistryID, Repository: e.Repository, Data: data})
		}); err != nil {
			t.Fatal(err)
		}
	}
	add(registry.Event{Type: registry.EventImagePushed, At: t0, RegistryID: "000000000000", Repository: "prod/web", Digest: d1, Tag: "v1"})
	add(registry.Event{Type: registry.EventImagePushed, At: t0, RegistryID: "000000000000", Repository: "dev/web", Digest: d1, Tag: "v1"})
	add(registry.Event{Type: registry.EventRepositoryCreated, At: t0, RegistryID: "000000000000", Repository: "dev/web"})
	for range 2 {
		if err := n.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
	}
	all, prod := claim(t, meta, KindPrefix+"all", t0), claim(t, meta, KindPrefix+"prod", t0)
	if len(all) != 2 || len(prod) != 1 {
		t.Fatalf("enqueued %d deliveries to all and %d to prod, want 2 and 1", len(all), len(prod))
	}

	if err := n.deliver(ctx, prod[0]); err != nil {
		t.Fatal(err)
	}
	req, body := rcv.got[0], rcv.bodies[0]
	if req.URL.Path != "/prod" || req.Header.Get(SignatureHeader) != Sign("two", body) || req.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("delivery %s with headers %v", req.URL.Path, req.Header)
	}
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Detail.RepositoryName != "prod/web" || req.Header.Get(EventIDHeader) != env.ID ||
		req.Header.Get(TimestampHeader) != "1772366400" || len(env.ID) != 36 {
		t.Fatalf("delivered %s (%v) with id header %q, timestamp %q", body, err, req.Header.Get(EventIDHeader), req.Header.Get(TimestampHeader))
	}

	rcv.set(503, 0)
	if err := n.deliver(ctx, all[0]); err == nil || !strings.Contains(err.Error(), "503") || len(err.Error()) > 400 {
		t.Fatalf("a 503 delivered: %v", err)
	}
	rcv.set(200, time.Second)
	start := time.Now()
	last := all[1]
	last.Attempts = last.MaxAttempts
	if err := n.deliver(ctx, last); err == nil || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("a receiver slower than the timeout: %v after %s", err, time.Since(start))
	}
	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "wharf_webhook_deliveries_total":
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			case "wharf_webhook_delivery_duration_seconds":
				got["observed"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	if want := map[string]float64{"delivered": 1, "failed": 1, "dead": 1, "observed": 3}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
}

// TestDeliveryStaysWithItsReceiver: a receiver's redirect is not followed (the event goes to the
// configured URL only), a huge answer is read only in part, and neither the secret nor a token in the
// URL's query appears in the error.
func TestDeliveryStaysWithItsReceiver(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	var read atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, other.URL+"/stolen", http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 1024 { // 64 MiB, unless the client stops reading
			n, err := w.Write(chunk)
			read.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer rcv.Close()
	targets, err := ParseTargets(`[{"name":"r","url":"` + rcv.URL + `/redirect?token=qtoken","secret":"the-secret"},
		{"name":"big","url":"` + rcv.URL + `/big?token=qtoken","secret":"the-secret"}]`)
	if err != nil {
		t.Fatal(err)
	}
	n := New(nil, clock.NewFake(t0), "us-east-1", targets, slog.Default(), nil)
	body, _ := json.Marshal(map[string]string{"id": "e"})
	for _, name := range []string{"r", "big"} {
		payload, _ := json.Marshal(delivery{Target: name, ID: "e", Body: body})
		err := n.deliver(context.Background(), store.Job{Payload: payload, Attempts: 1, MaxAttempts: 3})
		if err == nil || strings.Contains(err.Error(), "the-secret") || strings.Contains(err.Error(), "qtoken") || len(err.Error()) > 400 {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if elsewhere.Load() != 0 {
		t.Fatal("a redirect was followed")
	}
	if read.Load() > 8<<20 {
		t.Fatalf("the receiver's answer was read whole (%d bytes)", read.Load())
	}
}
