package registry_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/registry"
)

// TestPullTimeExclusions: pulls by an excluded user or role leave the last pull time alone; other pulls
// update it; the list pages and is bounded.
func TestPullTimeExclusions(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "")
	d := e.push(t, "app", "v1", "1")
	const robot, role = "arn:aws:iam::000000000000:user/robot", "arn:aws:iam::000000000000:role/scanner"
	if _, err := e.svc.RegisterPullTimeExclusion(ctx, reg, robot); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RegisterPullTimeExclusion(ctx, reg, role); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RegisterPullTimeExclusion(ctx, reg, robot); registry.KindOf(err) != registry.KindExclusionExists {
		t.Fatalf("registered twice: %v", err)
	}
	for _, bad := range []string{"", "arn:aws:iam::000000000000:root", "arn:aws:sts::000000000000:assumed-role/scanner/s", "robot"} {
		if _, err := e.svc.RegisterPullTimeExclusion(ctx, reg, bad); registry.KindOf(err) != registry.KindInvalidParameter {
			t.Errorf("principal %q: %v", bad, err)
		}
	}
	lastPulled := func() time.Time {
		e.svc.FlushPulls()
		img, err := e.svc.FindImage(ctx, reg, "app", registry.ImageRef{Digest: d})
		if err != nil {
			t.Fatal(err)
		}
		return img.LastPulledAt
	}
	pull := func(by ...string) {
		if _, err := e.svc.GetManifest(ctx, reg, "app", "v1", by); err != nil {
			t.Fatal(err)
		}
	}
	pull(robot)
	pull("arn:aws:sts::000000000000:assumed-role/scanner/s1", role) // a session of the excluded role
	if at := lastPulled(); !at.IsZero() {
		t.Fatalf("excluded pulls recorded a pull at %v", at)
	}
	pull("arn:aws:iam::000000000000:user/dev")
	first := lastPulled()
	if first.IsZero() {
		t.Fatal("a pull by a principal not excluded was not recorded")
	}
	e.clock.Advance(time.Hour)
	if err := e.svc.DeregisterPullTimeExclusion(ctx, reg, robot); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeregisterPullTimeExclusion(ctx, reg, robot); registry.KindOf(err) != registry.KindExclusionNotFound {
		t.Fatalf("deregistered twice: %v", err)
	}
	pull(robot)
	if at := lastPulled(); !at.After(first) {
		t.Fatalf("a pull after the exclusion ended was not recorded: %v", at)
	}

	// Pages, and the registry's bound.
	for i := range registry.MaxPullTimeExclusions - 1 {
		if _, err := e.svc.RegisterPullTimeExclusion(ctx, reg, fmt.Sprintf("arn:aws:iam::000000000000:user/u%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.RegisterPullTimeExclusion(ctx, reg, "arn:aws:iam::000000000000:user/one-too-many"); registry.KindOf(err) != registry.KindLimitExceeded {
		t.Fatalf("past the bound: %v", err)
	}
	var all []string
	after := ""
	for {
		page, more, err := e.svc.PullTimeExclusions(ctx, reg, after, 30)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if !more {
			break
		}
		after = page[len(page)-1]
	}
	if len(all) != registry.MaxPullTimeExclusions || all[0] != role {
		t.Fatalf("listed %d, first %q", len(all), all[0])
	}
	if other, _, err := e.svc.PullTimeExclusions(ctx, "111111111111", "", 10); err != nil || len(other) != 0 {
		t.Fatalf("another registry's: %v, %v", other, err)
	}
}
