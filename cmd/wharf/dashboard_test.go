package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/opencontainers/go-digest"
)

var (
	// Label matchers, range selectors and strings, and the label lists of grouping clauses: no metric
	// names there.
	promNoNames  = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]|"[^"]*"`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// An identifier, with the parenthesis that makes it a function or aggregation.
	promIdent    = regexp.MustCompile(`\b[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// metricNames are the metric names a PromQL expression selects.
func metricNames(expr string) []string {
	expr = promGrouping.ReplaceAllString(promNoNames.ReplaceAllString(expr, " "), " ")
	var names []string
	for _, id := range promIdent.FindAllString(expr, -1) {
		if id = strings.TrimSpace(id); !strings.HasSuffix(id, "(") && !promKeywords[strings.ToLower(id)] {
			names = append(names, id)
		}
	}
	return names
}

func TestMetricNamesOfExpressions(t *testing.T) {
	for expr, want := range map[string]string{
		`histogram_quantile(0.99, sum by (le, op) (rate(wharf_x_bucket{instance=~"$i",op!="a b"}[$__rate_interval])))`: "wharf_x_bucket",
		`sum(rate(a_total[5m])) / on (job) group_left (x) sum(b) or vector(0) > bool 1`:                                "a_total b",
		`topk(10, max by (kind) (c offset 5m))`:                                                                        "c",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("%s: %q, want %q", expr, got, want)
		}
	}
}

// TestDashboardMetricsAreServed: every metric the Grafana dashboard's panels query is on a running
// server's /metrics after some traffic (calls that succeed, fail and are throttled, a blob pushed, the
// background jobs scheduled), except the few that other parts of Wharf will serve.
func TestDashboardMetricsAreServed(t *testing.T) {
	data, err := os.ReadFile("../../deploy/grafana/wharf-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	queried := map[string]string{} // metric → a panel that queries it
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			names := metricNames(tg.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q: no metric in %q", p.Title, tg.Expr)
			}
			for _, n := range names {
				queried[n] = p.Title
			}
		}
	}

	metricsAddr := freeAddr(t)
	t.Setenv("WHARF_THROTTLE", `{"default": {"ecr:ListImages": {"rate": 0.001, "burst": 1}}}`)
	s := startServe(t, "--metrics-addr", metricsAddr)
	base := "http://" + s.addr
	ctx := context.Background()
	client := ecr.New(ecr.Options{Region: "us-east-1", BaseEndpoint: aws.String(base), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(adminKeyID, adminSecret, "")})
	if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"nope"}}); err == nil {
		t.Fatal("DescribeRepositories of a missing repository succeeded")
	}
	client.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("app")})
	if _, err := client.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("app")}); err == nil || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Fatalf("ListImages over its limit: %v", err)
	}
	tok, err := client.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	auth := "Basic " + *tok.AuthorizationData[0].AuthorizationToken
	layer := []byte("a layer of the dashboard test")
	if res := request(t, "POST", base+"/v2/app/blobs/uploads/?digest="+digest.FromBytes(layer).String(), auth, layer); res.StatusCode != 201 {
		t.Fatalf("upload: %d", res.StatusCode)
	}

	// The job runner schedules the periodic jobs as it starts: wait for their series, a while at most.
	var missing []string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		served, err := scrape("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		missing = missing[:0]
		for n := range queried {
			if !served[n] {
				missing = append(missing, n+" (panel "+queried[n]+")")
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the dashboard queries metrics the server does not serve: %v", missing)
	}
}

// scrape returns the names of the samples a /metrics page serves.
func scrape(url string) (map[string]bool, error) {
	res, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		return nil, errors.Join(err, errors.New(res.Status))
	}
	names := map[string]bool{}
	for _, l := range strings.Split(string(body), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		if i := strings.IndexAny(l, "{ "); i > 0 {
			names[l[:i]] = true
		}
	}
	return names, nil
}
