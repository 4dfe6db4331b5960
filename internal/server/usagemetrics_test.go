package server_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/store"
)

// TestUsageMetrics: the first scrape starts a pass; a later one has each account's storage, pulls and
// estimated cost, and each repository's storage, as Usage reports them.
func TestUsageMetrics(t *testing.T) {
	app, _ := newApp(t, server.Options{})
	ctx := context.Background()
	const acct = "000000000000"
	if _, err := app.Service.CreateRepository(ctx, store.Repository{RegistryID: acct, Name: "app"}); err != nil {
		t.Fatal(err)
	}
	layer := strings.Repeat("layer", 1000)
	d := digest.FromString(layer)
	if _, err := app.Service.PutBlob(ctx, acct, "app", d, strings.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}`, d, len(layer))
	if _, err := app.Service.PutManifest(ctx, acct, "app", "v1", "application/vnd.oci.image.manifest.v1+json", []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Service.GetManifest(ctx, acct, "app", "v1", []string{"arn:aws:iam::000000000000:root"}); err != nil {
		t.Fatal(err)
	}
	app.Service.FlushPulls()
	u, err := app.Service.Usage(ctx, acct, registry.UsageOptions{Totals: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf(`wharf_account_storage_bytes{account="%s"} %d`, acct, u.Totals.StorageBytes),
		fmt.Sprintf(`wharf_storage_bytes{account="%s",repository="app"} %d`, acct, len(layer)+len(body)),
		fmt.Sprintf(`wharf_account_pulls_30d{account="%s"} 1`, acct),
		`wharf_estimated_monthly_cost_usd{account="000000000000"} `,
	}
	var text string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		rec := httptest.NewRecorder()
		app.Metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if text = rec.Body.String(); strings.Contains(text, "wharf_account_storage_bytes{") {
			break
		}
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("metrics lack %q", w)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}
}
