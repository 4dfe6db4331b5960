// Package pipeline is the one path every request takes, whatever its protocol:
//
//	identify the caller → throttle → authorize as an ECR action → run the operation in the core → audit
//
// Protocol adapters describe a request as a Call (its ECR action and repository), hand the pipeline the
// operation to run, and write whatever error comes back in their own wire format.
package pipeline

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
)

// Call is one request as the pipeline sees it.
type Call struct {
	Protocol   string // "oci", "ecr", "console", …
	Action     string // the ECR action it needs, e.g. "ecr:PutImage"; "" when any identified caller may
	RegistryID string // the registry (account) addressed; "" for the caller's own
	Repository string // the repository addressed, "" for registry-wide actions
	Resource   string // the resource ARN when it is not a repository (IAM users, roles), else ""
	Source     string // a second repository read by the call (a cross-repository mount), or ""
	// RequestTags are the resource tags a call sets (CreateRepository, TagResource); TagKeys the keys it
	// names (those, or UntagResource's): the aws:RequestTag/… and aws:TagKeys condition keys.
	RequestTags map[string]string
	TagKeys     []string
	// Resolve, when set, completes the call once the caller is known (a resource named relative to the
	// caller's own account).
	Resolve  func(*Call)
	Caller   identity.Principal
	SourceIP string
	Start    time.Time
}

// Identifier tells who sent a request.
type Identifier interface {
	Identify(r *http.Request) (identity.Principal, error)
}

// Throttler refuses calls over their rate.
type Throttler interface {
	Allow(ctx context.Context, c *Call) error
}

// Authorizer decides whether the caller may perform the call's action on its repository.
type Authorizer interface {
	Authorize(ctx context.Context, c *Call) error
}

// Filter is implemented by authorizers that can tell, inside an operation, whether the caller may perform
// an action on one repository: listings show only what the caller may see.
type Filter interface {
	Permits(ctx context.Context, c *Call, action, repository string) bool
}

// Permits asks the pipeline's authorizer whether the call's caller may perform action on repository;
// with no authorizer everything is permitted.
func (p *Pipeline) Permits(ctx context.Context, c *Call, action, repository string) bool {
	f, ok := p.Authorize.(Filter)
	if !ok {
		return p.Authorize == nil
	}
	return f.Permits(ctx, c, action, repository)
}

// Auditor records every call and its outcome.
type Auditor interface {
	Record(c *Call, err error, elapsed time.Duration)
}

// Pipeline holds the steps. A nil step lets every call pass (no throttling, no authorization);
// Identify nil treats every caller as anonymous; every auditor records every call.
type Pipeline struct {
	Identify  Identifier
	Throttle  Throttler
	Authorize Authorizer
	Audit     []Auditor
	Clock     clock.Clock
}

// Do runs a call through the pipeline. It returns the first error: from a step or from op.
func (p *Pipeline) Do(r *http.Request, c *Call, op func(ctx context.Context) error) (err error) {
	ctx := r.Context()
	c.Start = p.now()
	c.SourceIP = sourceIP(r)
	defer func() {
		elapsed := p.now().Sub(c.Start)
		for _, a := range p.Audit {
			a.Record(c, err, elapsed)
		}
	}()
	if p.Identify != nil {
		if c.Caller, err = p.Identify.Identify(r); err != nil {
			return err
		}
	}
	if c.RegistryID == "" { // a caller addresses its own registry unless it names another
		c.RegistryID = c.Caller.AccountID
	}
	if c.Resolve != nil {
		c.Resolve(c)
	}
	if p.Throttle != nil {
		if err = p.Throttle.Allow(ctx, c); err != nil {
			return err
		}
	}
	if p.Authorize != nil {
		if err = p.Authorize.Authorize(ctx, c); err != nil {
			return err
		}
	}
	return op(ctx)
}

func (p *Pipeline) now() time.Time {
	if p.Clock == nil {
		return time.Now()
	}
	return p.Clock.Now()
}

func sourceIP(r *http.Request) string {
	host := r.RemoteAddr
	for i := len(host) - 1; i >= 0; i-- {
		if host[i] == ':' {
			host = host[:i]
			break
		}
	}
	if len(host) > 1 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	return host
}

// LogAuditor writes each call to a structured log at debug level, and failures at info level.
type LogAuditor struct{ Log *slog.Logger }

// Record logs the call.
func (a LogAuditor) Record(c *Call, err error, elapsed time.Duration) {
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelInfo
	}
	if !a.Log.Enabled(context.Background(), level) {
		return
	}
	a.Log.Log(context.Background(), level, "call", "protocol", c.Protocol, "action", c.Action,
		"registry", c.RegistryID, "repository", c.Repository, "caller", c.Caller.ARN(), "ip", c.SourceIP,
		"elapsed", elapsed, "err", err)
}
