package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/identity"
)

// recorder is every step the pipeline can call, writing down what it saw.
type recorder struct {
	steps   []string
	targets []Target // what the authorizer was asked about
	deny    bool
	audited []error
}

func (r *recorder) Allow(ctx context.Context, c *Call) error {
	r.steps = append(r.steps, "throttle")
	return nil
}

func (r *recorder) Authorize(ctx context.Context, c *Call) error {
	r.steps = append(r.steps, "authorize")
	r.targets = c.Targets
	if r.deny {
		return errors.New("denied")
	}
	return nil
}

func (r *recorder) Permits(ctx context.Context, c *Call, action, repository string) bool {
	return !r.deny
}

func (r *recorder) Record(c *Call, err error, _ time.Duration) {
	r.steps = append(r.steps, "audit")
	r.audited = append(r.audited, err)
}

type credential struct {
	r   *recorder
	p   identity.Principal
	err error
}

func (c credential) Identify(context.Context) (identity.Principal, error) {
	c.r.steps = append(c.r.steps, "identify")
	return c.p, c.err
}

func newPipeline(r *recorder) *Pipeline {
	return &Pipeline{Throttle: r, Authorize: r, Audit: []Auditor{r}}
}

// op decodes a name, resolves it to one repository target and runs, recording each step.
func op(r *recorder, decoded *string, ran *Call) Op {
	return Op{
		Action: "ecr:DeleteRepository",
		Decode: func() (any, error) {
			r.steps = append(r.steps, "decode")
			return decoded, nil
		},
		Resolve: func(c *Call) ([]Target, error) {
			r.steps = append(r.steps, "resolve")
			return []Target{Repository("ecr:DeleteRepository", c.RegistryID, *c.Input.(*string))}, nil
		},
		Run: func(ctx context.Context, c *Call) error {
			r.steps = append(r.steps, "run")
			*ran = *c
			return nil
		},
	}
}

func TestStepsInOrderOnOneValue(t *testing.T) {
	r := &recorder{}
	name := "prod"
	var ran Call
	c := &Call{Protocol: "ecr", Credential: credential{r: r, p: identity.Principal{AccountID: "111122223333", UserName: "carol"}}}
	if err := newPipeline(r).Do(context.Background(), c, op(r, &name, &ran)); err != nil {
		t.Fatal(err)
	}
	if want := "identify throttle decode resolve authorize run audit"; strings.Join(r.steps, " ") != want {
		t.Fatalf("steps %v, want %s", r.steps, want)
	}
	want := []Target{Repository("ecr:DeleteRepository", "111122223333", "prod")}
	if !reflect.DeepEqual(r.targets, want) || !reflect.DeepEqual(ran.Targets, want) {
		t.Fatalf("authorized %+v, ran on %+v", r.targets, ran.Targets)
	}
	if ran.Input != any(&name) || ran.Action != "ecr:DeleteRepository" || ran.Caller.UserName != "carol" {
		t.Fatalf("ran with %+v", ran)
	}
}

func TestAStepThatFailsStopsTheCallAndIsAudited(t *testing.T) {
	name := "prod"
	var ran Call
	// A caller that cannot be identified: nothing is decoded, resolved or run.
	r := &recorder{}
	c := &Call{Credential: credential{r: r, err: errors.New("bad signature")}}
	if err := newPipeline(r).Do(context.Background(), c, op(r, &name, &ran)); err == nil {
		t.Fatal("no error")
	}
	if strings.Join(r.steps, " ") != "identify audit" || r.audited[0] == nil {
		t.Fatalf("steps %v, audited %v", r.steps, r.audited)
	}
	// A denial: the operation does not run.
	r = &recorder{deny: true}
	c = &Call{Credential: credential{r: r, p: identity.Principal{AccountID: "111122223333"}}}
	if err := newPipeline(r).Do(context.Background(), c, op(r, &name, &ran)); err == nil || ran.Action != "" {
		t.Fatalf("ran after a denial: %v", err)
	}
	if r.steps[len(r.steps)-1] != "audit" || r.audited[0] == nil {
		t.Fatalf("denial not audited: %v %v", r.steps, r.audited)
	}
}

func TestRegistryAddressed(t *testing.T) {
	r := &recorder{}
	name := "app"
	var ran Call
	p := identity.Principal{AccountID: "111122223333"}
	// The caller's own registry, unless the transport named another.
	c := &Call{Credential: credential{r: r, p: p}, RegistryID: "444455556666"}
	if err := newPipeline(r).Do(context.Background(), c, op(r, &name, &ran)); err != nil {
		t.Fatal(err)
	}
	if ran.RegistryID != "444455556666" || r.targets[0].RegistryID != "444455556666" {
		t.Fatalf("registry %s, target %+v", ran.RegistryID, r.targets[0])
	}
}

func TestSourceIP(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.1:5000": "10.0.0.1", "[::1]:80": "::1", "[2001:db8::1]:443": "2001:db8::1", "host": "host"} {
		if got := SourceIP(in); got != want {
			t.Errorf("SourceIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRequestID(t *testing.T) {
	a, b := NewRequestID(), NewRequestID()
	if a == b || len(a) != 36 || a[14] != '4' {
		t.Fatalf("request ids %s %s", a, b)
	}
}

// TestAnonymousCallersGetNothingDecoded: a call with no credential is refused before its input is read.
func TestAnonymousCallersGetNothingDecoded(t *testing.T) {
	r := &recorder{}
	name := "prod"
	var ran Call
	err := newPipeline(r).Do(context.Background(), &Call{}, op(r, &name, &ran))
	if !errors.Is(err, ErrAnonymous) || strings.Join(r.steps, " ") != "audit" {
		t.Fatalf("err %v, steps %v", err, r.steps)
	}
}

// TestSummary: a call made in a context that carries a summary fills it, with the summary's request id,
// and is left out of the LogAuditor's log (the transport logs it); a call without one is logged there.
func TestSummary(t *testing.T) {
	var logs strings.Builder
	audit := LogAuditor{Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	r := &recorder{deny: true}
	p := &Pipeline{Authorize: r, Audit: []Auditor{audit}}
	ctx, sum := WithSummary(context.Background())
	name := "prod"
	var ran Call
	c := &Call{RequestID: RequestID(ctx), Protocol: "ecr", Credential: credential{r: r, p: identity.Principal{AccountID: "111122223333", UserName: "carol"}}}
	err := p.Do(ctx, c, op(r, &name, &ran))
	want := Summary{RequestID: c.RequestID, Protocol: "ecr", Action: "ecr:DeleteRepository", Caller: identity.Principal{AccountID: "111122223333", UserName: "carol"},
		RegistryID: "111122223333", Repository: "prod", Err: err}
	if err == nil || *sum != want || len(sum.RequestID) != 36 {
		t.Fatalf("summary %+v, want %+v", *sum, want)
	}
	if logs.Len() != 0 {
		t.Fatalf("a call its transport logs was logged again:\n%s", logs.String())
	}
	if RequestID(context.Background()) == RequestID(context.Background()) {
		t.Fatal("RequestID without a summary repeats")
	}
	r.deny = false
	if err := p.Do(context.Background(), &Call{Protocol: "cli", Credential: As(identity.RootOf("111122223333"))}, Op{Action: "wharf:Nothing",
		Run: func(context.Context, *Call) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=DEBUG msg=call") || !strings.Contains(logs.String(), "action=wharf:Nothing") {
		t.Fatalf("a command's call is not logged:\n%s", logs.String())
	}
}
