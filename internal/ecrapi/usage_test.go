package ecrapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/registry"
)

func TestDescribeUsage(t *testing.T) {
	a := newAPIAt(t, registry.Config{}, clock.NewFake(time.Now()))
	for _, r := range []string{"app", "web"} {
		a.ok("CreateRepository", map[string]any{"repositoryName": r})
		a.pushImage(r, "v1", r)
	}
	a.ok("BatchGetImage", map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": "v1"}}})
	a.app.Service.FlushPulls()

	if out := a.ok("DescribeUsage", map[string]any{}); out["totals"] != nil {
		t.Fatalf("totals not asked for: %v", out)
	}
	out := a.ok("DescribeUsage", map[string]any{"includeTotals": true})
	repos := out["repositories"].([]any)
	totals, _ := out["totals"].(map[string]any)
	if len(repos) != 2 || totals == nil || out["nextToken"] != nil || out["days"] != float64(30) {
		t.Fatalf("DescribeUsage = %v", out)
	}
	app, web := repos[0].(map[string]any), repos[1].(map[string]any)
	if app["repositoryName"] != "app" || app["imageCount"] != float64(1) || app["tagCount"] != float64(1) || app["pulls"] != float64(1) ||
		len(app["daily"].([]any)) != 1 || web["pulls"] != float64(0) {
		t.Fatalf("repositories: %v", repos)
	}
	if s := app["storageBytes"].(float64) + web["storageBytes"].(float64); s != totals["storageBytes"] || s == 0 ||
		totals["repositoryCount"] != float64(2) || totals["pulls"] != float64(1) {
		t.Fatalf("totals %v; repositories %v", totals, repos)
	}
	if c := totals["estimatedMonthlyCost"].(map[string]any); c["currency"] != "USD" || c["storage"].(float64) <= 0 {
		t.Fatalf("cost: %v", c)
	}
	if p := out["prices"].(map[string]any); p["storagePerGBMonth"] != 0.10 || p["transferOutPerGB"] != 0.09 {
		t.Fatalf("prices: %v", p)
	}

	// Pages, each with the totals when asked for.
	first := a.ok("DescribeUsage", map[string]any{"maxResults": 1, "includeTotals": true})
	if len(first["repositories"].([]any)) != 1 || first["totals"] == nil || first["nextToken"] == nil {
		t.Fatalf("first page: %v", first)
	}
	second := a.ok("DescribeUsage", map[string]any{"maxResults": 1, "nextToken": first["nextToken"]})
	if rs := second["repositories"].([]any); len(rs) != 1 || rs[0].(map[string]any)["repositoryName"] != "web" || second["totals"] != nil || second["nextToken"] != nil {
		t.Fatalf("second page: %v", second)
	}
	if second = a.ok("DescribeUsage", map[string]any{"maxResults": 1, "nextToken": first["nextToken"], "includeTotals": true}); second["totals"] == nil {
		t.Fatalf("second page: %v", second)
	}
	named := a.ok("DescribeUsage", map[string]any{"repositoryNames": []string{"web"}, "days": 7})
	if rs := named["repositories"].([]any); len(rs) != 1 || named["totals"] != nil || named["days"] != float64(7) {
		t.Fatalf("named: %v", named)
	}
	a.fails(a.call("DescribeUsage", map[string]any{"days": 0}), 400, "InvalidParameterException")
	a.fails(a.call("DescribeUsage", map[string]any{"repositoryNames": []string{"web"}, "includeTotals": true}), 400, "InvalidParameterException")
	a.fails(a.call("DescribeUsage", map[string]any{"repositoryNames": []string{"web"}, "maxResults": 5}), 400, "InvalidParameterException")
	a.fails(a.call("DescribeUsage", map[string]any{"repositoryNames": []string{"nope"}}), 400, "RepositoryNotFoundException")

	// A caller allowed on one repository sees that one, and not the registry's.
	bob := a.user("bob")
	if err := a.app.Identity.PutUserPolicy(context.Background(), "000000000000", "bob", "usage",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:DescribeUsage","Resource":"arn:aws:ecr:us-east-1:000000000000:repository/web"}]}`); err != nil {
		t.Fatal(err)
	}
	a.fails(a.as(bob, "DescribeUsage", map[string]any{}), 400, "AccessDeniedException")
	a.fails(a.as(bob, "DescribeUsage", map[string]any{"repositoryNames": []string{"app", "web"}}), 400, "AccessDeniedException")
	if r := a.as(bob, "DescribeUsage", map[string]any{"repositoryNames": []string{"web"}}); r.status != 200 {
		t.Fatalf("bob on web: %d %s", r.status, r.raw)
	}
}
