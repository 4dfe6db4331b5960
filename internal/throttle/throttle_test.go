package throttle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func call(account, protocol, action string) *pipeline.Call {
	return &pipeline.Call{Protocol: protocol, Action: action, Caller: identity.Principal{AccountID: account}}
}

// burst takes calls at one instant until one is refused and returns how many passed and the refusal.
func burst(t *testing.T, l *Limiter, c *pipeline.Call) (int, *registry.Error) {
	t.Helper()
	for n := 0; n < 100000; n++ {
		if err := l.Allow(context.Background(), c); err != nil {
			var de *registry.Error
			if !errors.As(err, &de) || de.Kind != registry.KindThrottled || de.Message != "Rate exceeded" {
				t.Fatalf("refused with %v", err)
			}
			return n, de
		}
	}
	t.Fatal("never refused")
	return 0, nil
}

func limits(t *testing.T, s string) *Limits {
	t.Helper()
	ls, err := ParseLimits(s)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func TestBurstThenSustainedRate(t *testing.T) {
	clk := clock.NewFake(t0)
	l := New(limits(t, ""), clk)
	gat := call("111122223333", "ecr", "ecr:GetAuthorizationToken")
	n, de := burst(t, l, gat)
	if n != 500 {
		t.Fatalf("a full bucket let %d calls through, want ECR's 500", n)
	}
	if de.Fields.RetryAfter <= 0 || de.Fields.RetryAfter > 2*time.Millisecond {
		t.Fatalf("retry after %v, want one token's time (2ms)", de.Fields.RetryAfter)
	}
	// A second later the bucket holds one second of tokens again; never more than the burst.
	clk.Advance(time.Second)
	if n, _ := burst(t, l, gat); n != 500 {
		t.Fatalf("after 1s %d calls, want 500", n)
	}
	clk.Advance(time.Hour)
	if n, _ := burst(t, l, gat); n != 500 {
		t.Fatalf("after an hour %d calls, want the burst (500)", n)
	}
	// Other accounts and other actions have their own buckets.
	if err := l.Allow(context.Background(), call("444455556666", "ecr", "ecr:GetAuthorizationToken")); err != nil {
		t.Fatal(err)
	}
	if err := l.Allow(context.Background(), call("111122223333", "oci", "ecr:BatchGetImage")); err != nil {
		t.Fatal(err)
	}
	// CloudTrail's LookupEvents: 2 a second, with a burst for a listing's pages.
	if n, _ := burst(t, l, call("111122223333", "cloudtrail", "cloudtrail:LookupEvents")); n != 10 {
		t.Fatalf("LookupEvents burst %d, want 10", n)
	}
}

func TestPushesAndConfiguredLimits(t *testing.T) {
	clk := clock.NewFake(t0)
	l := New(limits(t, `{"default": {"ecr:BatchGetImage": {"rate": 2, "burst": 5}, "iam:*": {"rate": 1}},
		"111122223333": {"*": {"rate": 0}}, "444455556666": {"ecr:BatchGetImage": {"rate": 10}}}`), clk)
	put := call("777788889999", "oci", "ecr:PutImage")
	if n, de := burst(t, l, put); n != 40 || de.Fields.RetryAfter > 100*time.Millisecond {
		t.Fatalf("PutImage burst %d (retry after %v), want 40 at 10/s", n, de.Fields.RetryAfter)
	}
	get := call("777788889999", "oci", "ecr:BatchGetImage")
	n, de := burst(t, l, get)
	if n != 5 || de.Fields.RetryAfter != 500*time.Millisecond {
		t.Fatalf("configured burst %d (retry after %v), want 5 then 500ms", n, de.Fields.RetryAfter)
	}
	clk.Advance(500 * time.Millisecond)
	if n, _ := burst(t, l, get); n != 1 {
		t.Fatalf("%d calls after half a second at 2/s, want 1", n)
	}
	if n, _ := burst(t, l, call("777788889999", "iam", "iam:CreateUser")); n != 1 {
		t.Fatalf("iam:* rate 1 without a burst: %d calls, want 1", n)
	}
	if n, _ := burst(t, l, call("444455556666", "oci", "ecr:BatchGetImage")); n != 10 {
		t.Fatalf("an account's own limit: %d calls, want 10", n)
	}
	// Rate 0: no limit for that account; nor for the command line and background work.
	for i := 0; i < 10000; i++ {
		for _, c := range []*pipeline.Call{call("111122223333", "ecr", "ecr:PutImage"), call("777788889999", "cli", "ecr:PutImage"),
			call("777788889999", "lifecycle", "ecr:BatchDeleteImage")} {
			if err := l.Allow(context.Background(), c); err != nil {
				t.Fatalf("%s %s: %v", c.Protocol, c.Action, err)
			}
		}
	}
}

func TestParseLimitsRefusesMistakes(t *testing.T) {
	for _, s := range []string{`{"default": {"PutImage": {"rate": 1}}}`, `{"12345": {}}`, `{"default": {"ecr:PutImage": {"rate": -1}}}`,
		`{"default": {"ecr:PutImage": {"rat": 1}}}`, `[1]`} {
		if _, err := ParseLimits(s); err == nil {
			t.Errorf("%s: no error", s)
		}
	}
}

func TestNodesShareTheLimit(t *testing.T) {
	clk := clock.NewFake(t0)
	l := New(limits(t, `{"default": {"ecr:GetAuthorizationToken": {"rate": 30, "burst": 300}}}`), clk)
	l.SetNodes(3)
	gat := call("111122223333", "ecr", "ecr:GetAuthorizationToken")
	if n, _ := burst(t, l, gat); n != 100 {
		t.Fatalf("one of three nodes let %d calls through, want a third of 300", n)
	}
	clk.Advance(time.Second)
	if n, _ := burst(t, l, gat); n != 10 {
		t.Fatalf("one of three nodes refilled %d tokens in 1s, want a third of 30", n)
	}
	// A tiny burst shared by many nodes still lets one call through on each.
	l = New(limits(t, `{"default": {"ecr:PutImage": {"rate": 1, "burst": 2}}}`), clk)
	l.SetNodes(5)
	if n, _ := burst(t, l, call("111122223333", "ecr", "ecr:PutImage")); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

func TestIdleBucketsAreDropped(t *testing.T) {
	clk := clock.NewFake(t0)
	l := New(limits(t, ""), clk)
	for i := 0; i < 1000; i++ {
		l.Allow(context.Background(), call(fmt.Sprintf("%012d", i), "oci", "ecr:BatchGetImage"))
	}
	if l.Len() != 1000 {
		t.Fatalf("%d buckets, want 1000", l.Len())
	}
	clk.Advance(Idle + time.Second)
	l.Allow(context.Background(), call("999999999999", "oci", "ecr:BatchGetImage")) // a new bucket sweeps
	if l.Len() != 1 {
		t.Fatalf("%d buckets after every other went idle, want 1", l.Len())
	}
}

func TestThrottledCallIsAuditedAndRunsNothing(t *testing.T) {
	clk := clock.NewFake(t0)
	l := New(limits(t, `{"default": {"ecr:DeleteRepository": {"rate": 1, "burst": 1}}}`), clk)
	var audited []error
	p := &pipeline.Pipeline{Throttle: l, Authorize: allowAll{}, Audit: []pipeline.Auditor{auditFunc(func(err error) { audited = append(audited, err) })}, Clock: clk}
	ran, decoded := 0, 0
	op := pipeline.Op{Action: "ecr:DeleteRepository",
		Decode: func() (any, error) { decoded++; return nil, nil },
		Run:    func(context.Context, *pipeline.Call) error { ran++; return nil }}
	as := pipeline.As(identity.Principal{AccountID: "111122223333", UserName: "bob"})
	for i := 0; i < 2; i++ {
		p.Do(context.Background(), &pipeline.Call{Protocol: "ecr", Credential: as}, op)
	}
	if ran != 1 || decoded != 1 || len(audited) != 2 || registry.KindOf(audited[1]) != registry.KindThrottled {
		t.Fatalf("ran %d, decoded %d, audited %v", ran, decoded, audited)
	}
}

type allowAll struct{}

func (allowAll) Authorize(context.Context, *pipeline.Call) error              { return nil }
func (allowAll) Permits(context.Context, *pipeline.Call, string, string) bool { return true }

type auditFunc func(error)

func (f auditFunc) Record(_ *pipeline.Call, err error, _ time.Duration) { f(err) }

func TestHeartbeatsCountLiveNodes(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clock.NewFake(t0)
	var nodes []*Nodes
	for i := 0; i < 3; i++ {
		nodes = append(nodes, &Nodes{Store: st, Limiter: New(limits(t, ""), clk), Clock: clk, Log: discard})
	}
	beat := func(ns ...*Nodes) {
		for _, n := range ns {
			if err := n.Beat(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	beat(nodes...)
	beat(nodes...)
	for i, n := range nodes {
		if got := n.Limiter.NodeCount(); got != 3 {
			t.Fatalf("node %d counts %d nodes, want 3", i, got)
		}
	}
	// Node 3 stops beating: after the live window the others share the limits by two.
	clk.Advance(LiveWindow / 2)
	beat(nodes[0], nodes[1])
	clk.Advance(LiveWindow/2 + time.Second)
	beat(nodes[0], nodes[1])
	if got := nodes[0].Limiter.NodeCount(); got != 2 {
		t.Fatalf("%d live nodes after one stopped beating, want 2", got)
	}
	// With beats every 300 ms, a node is live for a second: node 2 stops beating and is gone after it.
	for _, n := range nodes[:2] {
		n.Interval = 300 * time.Millisecond
	}
	clk.Advance(900 * time.Millisecond)
	beat(nodes[0])
	if got := nodes[0].Limiter.NodeCount(); got != 2 {
		t.Fatalf("%d live nodes 900 ms after the last beats, want 2", got)
	}
	clk.Advance(200 * time.Millisecond)
	beat(nodes[0])
	if got := nodes[0].Limiter.NodeCount(); got != 1 {
		t.Fatalf("%d live nodes 1.1 s after node 2's last beat, want 1", got)
	}
}

var discard = slog.New(slog.DiscardHandler)

// BenchmarkAllow is the throttle step of a call that is not throttled, from many goroutines on one
// account's bucket (the manifest GET benchmark's case) and on 1000 accounts' buckets.
func BenchmarkAllow(b *testing.B) {
	for _, accounts := range []int{1, 1000} {
		b.Run(fmt.Sprintf("accounts=%d", accounts), func(b *testing.B) {
			l := New(&Limits{Default: map[string]Limit{"*": {Rate: 1e9, Burst: 1e9}}}, clock.Real{})
			calls := make([]*pipeline.Call, accounts)
			for i := range calls {
				calls[i] = call(fmt.Sprintf("%012d", i), "oci", "ecr:BatchGetImage")
			}
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if err := l.Allow(context.Background(), calls[i%accounts]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}
