package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/pipeline"
)

// TestLookupAcrossOverlappingChunks: two nodes' batches cover the same seconds; a lookup pages through
// their records newest first, each once, and a time range and an attribute narrow it.
func TestLookupAcrossOverlappingChunks(t *testing.T) {
	meta := openStore(t)
	start := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for node := range 2 {
		trail := NewTrail(meta, "us-east-1", nil)
		for i := range 40 {
			c := pullCall()
			c.Caller.AccountID = "123456789012"
			c.RequestID = pipeline.NewRequestID()
			c.Start = start.Add(time.Duration(2*i+node) * time.Second) // node 0 even seconds, node 1 odd ones
			if i%10 == 9 {
				c.Action = "ecr:DescribeImages"
			}
			trail.Record(c, nil, 0)
			if i%15 == 14 {
				trail.Flush() // several chunks per node
			}
		}
		trail.Close()
	}
	q := Query{Account: "123456789012", Limit: 7}
	var times []time.Time
	for {
		page, err := Lookup(t.Context(), meta, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			times = append(times, e.Time)
		}
		if len(page) < q.Limit {
			break
		}
		q.BeforeTime, q.BeforeID = page[len(page)-1].Time, page[len(page)-1].EventID
	}
	if len(times) != 80 {
		t.Fatalf("%d records, want 80", len(times))
	}
	for i, at := range times {
		if want := start.Add(time.Duration(79-i) * time.Second); !at.Equal(want) {
			t.Fatalf("record %d at %s, want %s", i, at, want)
		}
	}
	got, err := Lookup(t.Context(), meta, Query{Account: "123456789012", Limit: 50, Attribute: "EventName", Value: "DescribeImages",
		Start: start.Add(20 * time.Second), End: start.Add(60 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	// DescribeImages at i = 9, 19, 29, 39: seconds 18+node, 38+node, 58+node, 78+node; 38, 39, 58, 59 are in range.
	if len(got) != 4 || !got[0].Time.Equal(start.Add(59*time.Second)) || !got[3].Time.Equal(start.Add(38*time.Second)) {
		t.Fatalf("%d DescribeImages records in range", len(got))
	}
}

// TestResourceListedOnce: a call that names one repository for two actions (AttachImageSbom) lists it once.
func TestResourceListedOnce(t *testing.T) {
	repo := func(action string) pipeline.Target { return pipeline.Repository(action, "111122223333", "app") }
	lines, accounts := resourcesOfTargets([]pipeline.Target{repo("ecr:DescribeImageScanFindings"), repo("ecr:PutImage")}, "111122223333", "us-east-1")
	if strings.Count(lines, "\n") != 1 || len(accounts) != 1 {
		t.Fatalf("resources %q, accounts %v", lines, accounts)
	}
}
