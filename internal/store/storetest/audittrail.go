package storetest

import (
	"compress/gzip"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/audit"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/store"
)

// testAuditTrail: the trail over the store: reads batched, changes at once, a call across accounts seen
// by both, looked up newest first page by page, delivered once each.
func testAuditTrail(t *testing.T, s store.Store) {
	const a, b = "111111111111", "222222222222"
	carol := identity.Principal{AccountID: a, UserName: "carol", UserID: "AIDACAROL", AccessKeyID: "AKIACAROL"}
	call := func(action, registry, repo string, at time.Time) *pipeline.Call {
		return &pipeline.Call{Protocol: "ecr", SourceIP: "127.0.0.1", UserAgent: "test", RequestID: pipeline.NewRequestID(),
			RegistryID: registry, Action: action, Caller: carol, Start: at,
			Input:   map[string]any{"repositoryName": repo},
			Targets: []pipeline.Target{pipeline.Repository(action, registry, repo)}}
	}
	trail := audit.NewTrail(s, "us-east-1", nil)
	trail.FlushEvery, trail.Deliver, trail.Node = time.Hour, true, "node-a"
	trail.Start()
	for i := range 120 {
		trail.Record(call("ecr:BatchGetImage", a, "app", t0.Add(time.Duration(i)*time.Millisecond)), nil, 0)
	}
	trail.Record(call("ecr:CreateRepository", a, "new", t0.Add(time.Second)), nil, 0)
	trail.Record(call("ecr:PutImage", b, "shared", t0.Add(2*time.Second)), nil, 0) // across accounts
	lookup := func(q audit.Query) []audit.Event {
		t.Helper()
		if q.Limit == 0 {
			q.Limit = 50
		}
		events, err := audit.Lookup(ctx, s, q)
		if err != nil {
			t.Fatal(err)
		}
		return events
	}
	// Changes are there at once; reads once flushed.
	if got := lookup(audit.Query{Account: a}); len(got) != 2 || got[0].Name() != "PutImage" || got[1].Name() != "CreateRepository" {
		t.Fatalf("before a flush: %d events", len(got))
	}
	trail.Flush()
	if got := lookup(audit.Query{Account: b}); len(got) != 1 || got[0].Name() != "PutImage" || got[0].Username() != "carol" {
		t.Fatalf("the other account sees %v", got)
	}
	// Page by page, newest first, each event once.
	seen := map[string]bool{}
	q := audit.Query{Account: a, Limit: 50}
	var last time.Time
	for pages := 0; ; pages++ {
		page := lookup(q)
		for _, e := range page {
			if seen[e.EventID] || !last.IsZero() && e.Time.After(last) {
				t.Fatalf("event %s again or out of order", e.EventID)
			}
			seen[e.EventID], last = true, e.Time
		}
		if len(page) < q.Limit {
			break
		}
		q.BeforeTime, q.BeforeID = page[len(page)-1].Time, page[len(page)-1].EventID
	}
	if len(seen) != 122 {
		t.Fatalf("paged through %d events, want 122", len(seen))
	}
	if got := lookup(audit.Query{Account: a, Attribute: "ReadOnly", Value: "false"}); len(got) != 2 {
		t.Fatalf("%d mutating events", len(got))
	}
	if got := lookup(audit.Query{Account: a, Attribute: "EventName", Value: "BatchGetImage", Start: t0.Add(10 * time.Millisecond),
		End: t0.Add(19 * time.Millisecond)}); len(got) != 10 {
		t.Fatalf("%d events in ten milliseconds", len(got))
	}
	trail.Close()

	// Delivered once each: twice delivering writes nothing more.
	dir := t.TempDir()
	d := &audit.Delivery{Meta: s, To: audit.Dir(dir), Region: "us-east-1", Now: func() time.Time { return t0 }, Holder: "node-a"}
	for range 2 {
		if _, err := d.Deliver(ctx); err != nil {
			t.Fatal(err)
		}
	}
	records := map[string]int{}
	filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Records []map[string]any }
		if err := json.NewDecoder(zr).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		for _, r := range doc.Records {
			records[r["recipientAccountId"].(string)+" "+r["eventID"].(string)]++
		}
		return nil
	})
	if len(records) != 123 || d.Delivered.Load() != 123 {
		t.Fatalf("%d records delivered (%d counted), want 123", len(records), d.Delivered.Load())
	}
	for k, n := range records {
		if n != 1 {
			t.Fatalf("%s delivered %d times", k, n)
		}
	}
}
