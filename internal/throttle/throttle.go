// Package throttle refuses calls over their rate, as ECR does: every account has, in the region an
// installation serves, one token bucket per action, with a sustained rate and a burst (ECR's service
// quotas by default; see Defaults). A call that finds its bucket empty is refused with a
// registry.KindThrottled error, which each protocol answers in its own words (ThrottlingException,
// 429 TOOMANYREQUESTS with Retry-After, Throttling).
//
// ECR's current quotas are per account and region, none per repository (its 2019 table had pulls and
// pushes per repository), so the step needs no resolved target: it runs right after the caller is
// identified, before the input is decoded — identify → throttle → decode → resolve → authorize — and a
// refused call costs nearly nothing.
//
// Several nodes enforce a limit together: each holds its share, the limit divided by the number of live
// nodes, which the nodes count from their heartbeats in the metadata store (see Nodes). A client spread
// evenly over the nodes (a load balancer's round robin) gets about the whole limit; one that reaches a
// single node gets that node's share.
//
// Buckets are kept in memory, found without a lock (a sync.Map) and taken from with one atomic
// compare-and-swap: the generic cell rate algorithm, which is a token bucket stored as the time it is
// next full. Buckets idle long enough to be full again are dropped, so memory follows the accounts and
// actions active in the last minutes, not all that ever called.
package throttle

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// Limiter is the pipeline's throttle step.
type Limiter struct {
	limits  *Limits
	clock   clock.Clock
	buckets sync.Map // key → *bucket
	nodes   atomic.Int64
	swept   atomic.Int64 // unix nanoseconds of the last sweep of idle buckets
}

// Idle is how long a bucket stays full and unused before it is dropped.
const Idle = time.Minute

// key is one bucket's: an account's action (the installation serves one region).
type key struct{ account, action string }

// bucket is a token bucket kept as tat, the theoretical arrival time (unix nanoseconds) of the next call
// if calls came at exactly the sustained rate: the bucket is full when tat is in the past, and holds
// (burst·T − (tat − now))/T tokens otherwise, T being the time one token takes to come back.
type bucket struct {
	limit Limit
	tat   atomic.Int64
}

// New returns a limiter of limits on one node; SetNodes tells it of others.
func New(limits *Limits, c clock.Clock) *Limiter {
	if c == nil {
		c = clock.Real{}
	}
	l := &Limiter{limits: limits, clock: c}
	l.nodes.Store(1)
	l.swept.Store(c.Now().UnixNano())
	return l
}

// SetNodes sets the number of live nodes that share each limit (at least 1).
func (l *Limiter) SetNodes(n int) { l.nodes.Store(int64(max(n, 1))) }

// NodeCount is the number of live nodes the limits are shared by.
func (l *Limiter) NodeCount() int { return int(l.nodes.Load()) }

// throttled are the protocols whose calls are throttled: what clients send. The command line and
// Wharf's own background work are not.
func throttled(protocol string) bool {
	switch protocol {
	case "oci", "ecr", "iam", "sts", "cloudtrail", "secretsmanager", "signin":
		return true
	}
	return false
}

// Allow implements pipeline.Throttler: it takes a token from the bucket of the caller's account for the
// call's action, or refuses the call.
func (l *Limiter) Allow(_ context.Context, c *pipeline.Call) error {
	if c.Action == "" || !throttled(c.Protocol) {
		return nil
	}
	k := key{c.Caller.AccountID, c.Action}
	now := l.clock.Now().UnixNano()
	v, ok := l.buckets.Load(k)
	if !ok {
		v = l.add(k, now)
	}
	b := v.(*bucket)
	if b.limit.Rate <= 0 {
		return nil
	}
	if wait := b.take(now, l.nodes.Load()); wait > 0 {
		return &registry.Error{Kind: registry.KindThrottled, Message: "Rate exceeded", Fields: registry.Fields{RetryAfter: wait}}
	}
	return nil
}

// take takes a token at now from a bucket shared by n nodes: this node's bucket fills at rate/n and holds
// burst/n tokens (at least one). It returns 0, or how long until a token is back.
func (b *bucket) take(now, n int64) time.Duration {
	t := int64(float64(n) * float64(time.Second) / b.limit.Rate) // one token's time on this node
	size := max(b.limit.Burst/float64(n), 1)
	tolerance := int64(size * float64(t))
	for {
		tat := b.tat.Load()
		next := max(tat, now) + t
		if next-now > tolerance {
			return time.Duration(next - now - tolerance)
		}
		if b.tat.CompareAndSwap(tat, next) {
			return 0
		}
	}
}

// add creates the bucket of k, full, unless another call just did; now and then it drops idle buckets.
func (l *Limiter) add(k key, now int64) any {
	l.sweep(now)
	v, _ := l.buckets.LoadOrStore(k, &bucket{limit: l.limits.For(k.account, k.action)})
	return v
}

// sweep drops the buckets that have been full for longer than Idle, at most every Idle/4: dropping a full bucket
// changes nothing, as a new one starts full. (A call that found a bucket just as it is dropped takes its
// token from the dropped one: at most one call more than the limit, once.)
func (l *Limiter) sweep(now int64) {
	last := l.swept.Load()
	if now-last < int64(Idle/4) || !l.swept.CompareAndSwap(last, now) {
		return // another call sweeps, or one did a moment ago
	}
	cutoff := now - int64(Idle)
	l.buckets.Range(func(k, v any) bool {
		if v.(*bucket).tat.Load() < cutoff {
			l.buckets.Delete(k)
		}
		return true
	})
}

// Len is the number of buckets held.
func (l *Limiter) Len() int {
	n := 0
	l.buckets.Range(func(any, any) bool { n++; return true })
	return n
}

// service is the service part of an action ("ecr" of "ecr:PutImage").
func service(action string) string {
	s, _, _ := strings.Cut(action, ":")
	return s
}
