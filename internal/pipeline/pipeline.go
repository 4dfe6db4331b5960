// Package pipeline is the one way into Wharf's core, whatever the transport:
//
//	identify the caller → throttle → decode the input → resolve its targets → authorize each target → run → audit
//
// An operation (Op) is a value that says how it decodes its input, once and strictly, which targets that
// input names (Resolve), and how it runs. Authorization evaluates exactly those targets, and the operation
// runs on exactly that decoded input and those targets: the thing checked and the thing acted on are one
// value, never two readings of the request. The HTTP adapters (registry API, ECR API, IAM and STS), the
// command line and background work all call Do; nothing reaches the core around it.
//
// The package knows no transport: a call carries what the transport told about the request (its
// credential, source address, user agent) as plain values.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"github.com/wharf-dev/wharf/internal/address"
	"log/slog"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/registry"
)

// Credential is what a request presents to prove who sends it. Identify checks it and tells who it is.
type Credential interface {
	Identify(ctx context.Context) (identity.Principal, error)
}

// As is a credential already known to be the principal: the command line acting as an account's root
// user, or Wharf's own background work.
type As identity.Principal

// Identify implements Credential.
func (a As) Identify(context.Context) (identity.Principal, error) { return identity.Principal(a), nil }

// Target is one thing a call acts on, with the action it needs there.
type Target struct {
	Action string // e.g. "ecr:BatchGetImage", "iam:CreateAccessKey"
	// A repository target names its registry and repository: the repository's policy and resource tags
	// apply. Repository "" with a RegistryID is the registry's repositories as a whole ("repository/*").
	RegistryID string
	Repository string
	// Resource is the ARN of a target that is not a repository (an IAM user, a role); "" otherwise.
	Resource string
	// RequestTags are the resource tags the call sets on the target (CreateRepository, TagResource); TagKeys
	// the keys it names: the aws:RequestTag/… and aws:TagKeys condition keys.
	RequestTags map[string]string
	TagKeys     []string
	// Conditions are other condition keys the call gives values to (iam:PolicyARN, say).
	Conditions map[string][]string
}

// Repository is the target of an action on one repository (name "" for all of a registry's).
func Repository(action, registryID, name string) Target {
	return Target{Action: action, RegistryID: registryID, Repository: name}
}

// Call is one request as the pipeline sees it.
type Call struct {
	RequestID  string
	Protocol   string     // "oci", "ecr", "iam", "sts", "cli", "lifecycle", "gc"
	Credential Credential // nil for a request that presents none (anonymous)
	SourceIP   string
	UserAgent  string
	// Origin is the scheme and host the caller reached Wharf at; the addresses handed back (repository
	// URIs, proxyEndpoint, download URLs) are built on it unless a public URL is set.
	Origin address.Origin
	// RegistryID is the registry (account) the call addresses: set by the adapter when the transport names
	// one (a registry host name), else the caller's own; Resolve may change it (an input's registryId).
	RegistryID string
	// ErrorCode tells the code and message the protocol answers an error with (AccessDeniedException,
	// MANIFEST_UNKNOWN, NoSuchEntity …), for the audit trail. Nil: the error's own ErrorCode, or its kind.
	ErrorCode func(error) (code, message string)

	// Filled in by the pipeline.
	Action string             // the operation's action, for the audit trail and metrics
	Caller identity.Principal // who the credential identified
	Input  any                // the decoded input: the audit trail's requestParameters
	// Output is the operation's result, set by Run when it has one: the audit trail's responseElements.
	// Input and Output are recorded in their JSON form less secrets, or as their AuditSummary tells.
	Output  any
	Targets []Target // what the input names, each authorized
	Start   time.Time
	// Logged tells that the transport logs the call itself: its context carried a Summary.
	Logged bool
}

// Target returns the call's first target: the one thing most operations act on.
func (c *Call) Target() Target {
	if len(c.Targets) == 0 {
		return Target{}
	}
	return c.Targets[0]
}

// Summarizer is an Input or Output that tells what the audit trail records of it, instead of its JSON
// form: a request that is no JSON document (a registry request's path), or one too large to record whole.
type Summarizer interface {
	AuditSummary() any
}

// Op is one operation.
type Op struct {
	// Action names the operation in the audit trail and metrics: its ECR or IAM action ("ecr:PutImage").
	Action string
	// Decode reads the input, once and strictly; its result is the call's Input. Nil: no input.
	Decode func() (any, error)
	// Resolve names the targets of the decoded input for the identified caller; it may set the call's
	// RegistryID. Nil: no target — any identified caller may run it.
	Resolve func(c *Call) ([]Target, error)
	// Run performs the operation on the call's Input and Targets.
	Run func(ctx context.Context, c *Call) error
}

// ErrAnonymous refuses a call that presents no credential.
var ErrAnonymous error = &registry.Error{Kind: registry.KindUnauthorized, Message: "authentication required"}

// Throttler refuses calls over their rate.
type Throttler interface {
	Allow(ctx context.Context, c *Call) error
}

// Authorizer decides whether the call's caller may perform each target's action on it. It refuses
// anonymous callers.
type Authorizer interface {
	Authorize(ctx context.Context, c *Call) error
	// Permits tells, inside an operation, whether the caller may perform action on one repository of the
	// call's registry: listings show only what the caller may see.
	Permits(ctx context.Context, c *Call, action, repository string) bool
}

// Auditor records every call and its outcome.
type Auditor interface {
	Record(c *Call, err error, elapsed time.Duration)
}

// Pipeline holds the steps. Authorize must be set; a nil Throttle lets every call pass.
type Pipeline struct {
	Throttle  Throttler
	Authorize Authorizer
	Audit     []Auditor
	Clock     clock.Clock
}

// Do runs a call through the pipeline and returns the first error: of a step or of the operation.
func (p *Pipeline) Do(ctx context.Context, c *Call, op Op) (err error) {
	c.Start = p.now()
	c.Action = op.Action
	summary, _ := ctx.Value(summaryKey{}).(*Summary)
	c.Logged = summary != nil
	defer func() {
		if summary != nil {
			*summary = Summary{RequestID: c.RequestID, Protocol: c.Protocol, Action: c.Action, Caller: c.Caller,
				RegistryID: c.RegistryID, Repository: c.Target().Repository, Err: err}
		}
		elapsed := p.now().Sub(c.Start)
		for _, a := range p.Audit {
			a.Record(c, err, elapsed)
		}
	}()
	if c.Credential != nil {
		if c.Caller, err = c.Credential.Identify(ctx); err != nil {
			return err
		}
	}
	if c.Caller.Anonymous() { // no operation is open to anonymous callers: nothing of theirs is even decoded
		return ErrAnonymous
	}
	if c.RegistryID == "" { // a caller addresses its own registry unless it names another
		c.RegistryID = c.Caller.AccountID
	}
	if p.Throttle != nil {
		if err = p.Throttle.Allow(ctx, c); err != nil {
			return err
		}
	}
	if op.Decode != nil {
		if c.Input, err = op.Decode(); err != nil {
			return err
		}
	}
	if op.Resolve != nil {
		if c.Targets, err = op.Resolve(c); err != nil {
			return err
		}
	}
	if err = p.Authorize.Authorize(ctx, c); err != nil {
		return err
	}
	// The core authorizes the actions it decides a call needs besides its targets' (a push that creates
	// its repository needs ecr:CreateRepository) as the targets were: for the same caller, by the same rules.
	ctx = registry.WithAuthorizer(ctx, func(action, repository string) error {
		sub := *c
		sub.Targets = []Target{Repository(action, c.RegistryID, repository)}
		return p.Authorize.Authorize(ctx, &sub)
	})
	// And records the actions it performs for the call besides its own (a pull through a cache imports the
	// image: ecr:BatchImportUpstreamImage), each as a call of the same caller and request.
	ctx = registry.WithRecorder(ctx, func(action, repository string, input, output any, err error) {
		sub := *c
		sub.Action, sub.Input, sub.Output = action, input, output
		sub.Targets = []Target{Repository(action, c.RegistryID, repository)}
		for _, a := range p.Audit {
			a.Record(&sub, err, 0)
		}
	})
	return op.Run(ctx, c)
}

// Permits asks the authorizer whether the call's caller may perform action on a repository of the call's
// registry.
func (p *Pipeline) Permits(ctx context.Context, c *Call, action, repository string) bool {
	return p.Authorize.Permits(ctx, c, action, repository)
}

func (p *Pipeline) now() time.Time {
	if p.Clock == nil {
		return time.Now()
	}
	return p.Clock.Now()
}

// LogAuditor writes each call that no transport logs (the command line's, background work's) to a
// structured log at debug level. HTTP requests have their access log line instead (Summary).
type LogAuditor struct{ Log *slog.Logger }

// Record logs the call.
func (a LogAuditor) Record(c *Call, err error, elapsed time.Duration) {
	if c.Logged || !a.Log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	a.Log.Debug("call", "request_id", c.RequestID, "protocol", c.Protocol, "action", c.Action,
		"registry", c.RegistryID, "repository", c.Target().Repository, "caller", c.Caller.ARN(), "elapsed", elapsed, "err", err)
}

// Summary is what a transport's access log tells of a call: Do fills the summary the call's context
// carries (WithSummary), so that the transport's one line per request says who called, what, on which
// repository and how it ended, without the transport looking into the pipeline.
type Summary struct {
	RequestID  string
	Protocol   string
	Action     string
	Caller     identity.Principal // the zero Principal when anonymous or not identified
	RegistryID string
	Repository string
	Err        error // the call's error, nil when it succeeded
}

type summaryKey struct{}

// WithSummary returns a context that carries a new summary, with a request id for the call made in it.
func WithSummary(ctx context.Context) (context.Context, *Summary) {
	s := &Summary{RequestID: NewRequestID()}
	return context.WithValue(ctx, summaryKey{}, s), s
}

// RequestID is the request id of the context's summary, or a new one.
func RequestID(ctx context.Context) string {
	if s, ok := ctx.Value(summaryKey{}).(*Summary); ok {
		return s.RequestID
	}
	return NewRequestID()
}

// SourceIP is the address of a request's peer (host:port or [v6]:port), without the port.
func SourceIP(remoteAddr string) string {
	host := remoteAddr
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

// NewRequestID returns a request id in AWS's form, a random UUID.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	hex.Encode(out[9:13], b[4:6])
	hex.Encode(out[14:18], b[6:8])
	hex.Encode(out[19:23], b[8:10])
	hex.Encode(out[24:], b[10:])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return string(out[:])
}
