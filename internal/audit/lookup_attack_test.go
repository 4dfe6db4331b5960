package audit

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// decodeCounter counts the records of the chunks a store hands out to lookups.
type decodeCounter struct {
	store.Store
	records *int
}

func (s decodeCounter) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.View(ctx, func(tx store.Tx) error { return fn(countingTx{tx, s.records}) })
}

type countingTx struct {
	store.Tx
	records *int
}

// AuditChunks counts a chunk's records, and a chunk as chunkCost records.
func (tx countingTx) AuditChunks(q store.AuditChunkQuery) ([]store.AuditChunk, error) {
	chunks, err := tx.Tx.AuditChunks(q)
	for _, c := range chunks {
		*tx.records += c.Records + chunkCost
	}
	return chunks, err
}

// busyTrail writes n chunks of per pulls each, a second apart, the last one at start + n*per seconds.
func busyTrail(t *testing.T, n, per int) (store.Store, time.Time) {
	meta := openStore(t)
	start := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	trail := NewTrail(meta, "us-east-1", nil)
	for i := range n * per {
		c := pullCall()
		c.RequestID = pipeline.NewRequestID()
		c.Start = start.Add(time.Duration(i) * time.Second)
		if i == 7 {
			c.Caller.UserName = "dave" // the one record of a rare caller, in the oldest chunk
		}
		trail.Record(c, nil, 0)
		if i%per == per-1 {
			trail.Flush()
		}
	}
	trail.Close()
	return meta, start
}

// TestLookupWorkIsBounded: a lookup that few records match, over a busy trail, reads at most about its
// budget of records per page, and pages through to the one record, each record once.
func TestLookupWorkIsBounded(t *testing.T) {
	meta, start := busyTrail(t, 40, 100)
	var read int
	counted := decodeCounter{meta, &read}
	q := Query{Account: "123456789012", Limit: 50, Attribute: "Username", Value: "dave", Budget: 500}
	var found []Event
	pages := 0
	for {
		read = 0
		p, err := LookupPage(t.Context(), counted, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if read > 500+2*20*(100+chunkCost) { // the budget, and the chunks of the query that passes it and the next
			t.Fatalf("page %d read %d records", pages, read)
		}
		found = append(found, p.Events...)
		if p.NextID == "" {
			break
		}
		if pages > 100 {
			t.Fatal("the pages do not move on")
		}
		q.BeforeTime, q.BeforeID = p.NextTime, p.NextID
	}
	if len(found) != 1 || !found[0].Time.Equal(start.Add(7*time.Second)) {
		t.Fatalf("found %d records", len(found))
	}
	if pages < 5 {
		t.Fatalf("%d pages: the budget did not bound the work", pages)
	}

	// A trail of many small chunks: the chunks cost the budget too.
	meta, _ = busyTrail(t, 400, 1)
	counted = decodeCounter{meta, &read}
	read = 0
	p, err := LookupPage(t.Context(), counted, Query{Account: "123456789012", Limit: 50, Attribute: "Username", Value: "nobody", Budget: 2000})
	if err != nil || p.NextID == "" || read > 2000+2*20*(1+chunkCost) {
		t.Fatalf("read %d records' worth of 400 small chunks at once: %v", read, err)
	}

	// Every record, paged with a budget smaller than a chunk, comes once, newest first.
	meta, start = busyTrail(t, 40, 100)
	q = Query{Account: "123456789012", Limit: 30, Budget: 50}
	var times []time.Time
	for pages = 0; ; pages++ {
		p, err := LookupPage(t.Context(), meta, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			times = append(times, e.Time)
		}
		if p.NextID == "" {
			break
		}
		q.BeforeTime, q.BeforeID = p.NextTime, p.NextID
	}
	if len(times) != 4000 {
		t.Fatalf("%d records, want 4000", len(times))
	}
	for i, at := range times {
		if want := start.Add(time.Duration(3999-i) * time.Second); !at.Equal(want) {
			t.Fatalf("record %d at %s, want %s", i, at, want)
		}
	}
}

// TestLookupEventsInputs: LookupEvents refuses what CloudTrail refuses, with CloudTrail's error codes, and a
// NextToken only serves the account and the parameters it was given for.
func TestLookupEventsInputs(t *testing.T) {
	meta, _ := busyTrail(t, 2, 30)
	h := &Handler{Meta: meta}
	const account = "123456789012"
	type attr = lookupAttribute
	in := func(f func(*lookupInput)) *lookupInput { i := &lookupInput{}; f(i); return i }
	n := func(v int) *int { return &v }
	f := func(v float64) *float64 { return &v }
	first, err := h.lookup(t.Context(), account, in(func(i *lookupInput) { i.MaxResults = n(5) }))
	if err != nil || first.NextToken == "" || len(first.Events) != 5 {
		t.Fatalf("first page: %v, %+v", err, first)
	}
	cases := []struct {
		name, account, code string
		in                  *lookupInput
	}{
		{"MaxResults 0", account, "InvalidMaxResultsException", in(func(i *lookupInput) { i.MaxResults = n(0) })},
		{"MaxResults 51", account, "InvalidMaxResultsException", in(func(i *lookupInput) { i.MaxResults = n(51) })},
		{"start after end", account, "InvalidTimeRangeException", in(func(i *lookupInput) { i.StartTime, i.EndTime = f(2e9), f(1e9) })},
		{"unknown key", account, "InvalidLookupAttributesException", in(func(i *lookupInput) {
			i.LookupAttributes = append(i.LookupAttributes, attr{"Region", "x"})
		})},
		{"two attributes", account, "InvalidLookupAttributesException", in(func(i *lookupInput) {
			i.LookupAttributes = append(i.LookupAttributes, attr{"EventName", "BatchGetImage"}, attr{"Username", "carol"})
		})},
		{"long value", account, "InvalidLookupAttributesException", in(func(i *lookupInput) {
			i.LookupAttributes = append(i.LookupAttributes, attr{"Username", strings.Repeat("a", 2001)})
		})},
		{"ReadOnly neither true nor false", account, "InvalidLookupAttributesException", in(func(i *lookupInput) {
			i.LookupAttributes = append(i.LookupAttributes, attr{"ReadOnly", "maybe"})
		})},
		{"category", account, "InvalidEventCategoryException", in(func(i *lookupInput) { i.EventCategory = "data" })},
		{"token of another account", "210987654321", "InvalidNextTokenException", in(func(i *lookupInput) { i.NextToken = first.NextToken })},
		{"token of other parameters", account, "InvalidNextTokenException", in(func(i *lookupInput) {
			i.NextToken = first.NextToken
			i.LookupAttributes = append(i.LookupAttributes, attr{"Username", "carol"})
		})},
		{"token of another time range", account, "InvalidNextTokenException", in(func(i *lookupInput) {
			i.NextToken, i.StartTime = first.NextToken, f(1)
		})},
		{"forged token", account, "InvalidNextTokenException", in(func(i *lookupInput) {
			i.NextToken = base64.RawURLEncoding.EncodeToString([]byte("99999999999999999999.x"))
		})},
		{"tampered token", account, "InvalidNextTokenException", in(func(i *lookupInput) {
			raw, _ := base64.RawURLEncoding.DecodeString(first.NextToken)
			i.NextToken = base64.RawURLEncoding.EncodeToString(append([]byte("1"), raw...))
		})},
	}
	for _, c := range cases {
		_, err := h.lookup(t.Context(), c.account, c.in)
		var ae *apiError
		if !errors.As(err, &ae) || ae.Code != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	// The token goes on with another page size, as CloudTrail's does.
	next, err := h.lookup(t.Context(), account, in(func(i *lookupInput) { i.NextToken, i.MaxResults = first.NextToken, n(50) }))
	if err != nil || len(next.Events) != 55 && len(next.Events) != 50 {
		t.Fatalf("next page: %v, %d events", err, len(next.Events))
	}
	if next.Events[0].EventID == first.Events[4].EventID || next.Events[0].EventTime > first.Events[4].EventTime {
		t.Fatal("the next page does not follow the first")
	}
}

// TestLookupsWhilePullsAreRecorded: many clients look up while others pull (go test -race): each page is
// newest first, each record in it once, and the pulls all get recorded.
func TestLookupsWhilePullsAreRecorded(t *testing.T) {
	meta := openStore(t)
	trail := NewTrail(meta, "us-east-1", nil)
	trail.FlushEvery, trail.BatchSize = time.Millisecond, 16
	trail.Start()
	start := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	const pullers, pulls = 4, 200
	var wg sync.WaitGroup
	for p := range pullers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range pulls {
				c := pullCall()
				c.RequestID = pipeline.NewRequestID()
				c.Start = start.Add(time.Duration(i*pullers+p) * time.Millisecond)
				trail.Record(c, nil, 0)
			}
		}()
	}
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				p, err := LookupPage(t.Context(), meta, Query{Account: "123456789012", Limit: 50, Budget: 64})
				if err != nil {
					errs <- err
					return
				}
				seen := map[string]bool{}
				for i, e := range p.Events {
					if seen[e.EventID] || i > 0 && newestFirst(p.Events[i-1], e) >= 0 {
						errs <- fmt.Errorf("page out of order or with a record twice")
						return
					}
					seen[e.EventID] = true
				}
			}
		}()
	}
	wg.Wait()
	trail.Close()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := count(t, meta); n != pullers*pulls {
		t.Fatalf("%d records, want %d", n, pullers*pulls)
	}
}

// TestChunksSpanLittleTime: a batch holding a long call's record (its time is its start) and newer ones is
// written in chunks spanning less than store.AuditChunkSpan each, which lookups by time rely on, and a
// lookup up to the long call's time finds it.
func TestChunksSpanLittleTime(t *testing.T) {
	meta := openStore(t)
	trail := NewTrail(meta, "us-east-1", nil)
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for i, at := range []time.Time{now, now.Add(-time.Hour), now.Add(time.Second), now.Add(-3 * time.Hour)} {
		c := pullCall()
		c.RequestID = pipeline.NewRequestID()
		c.Start = at
		if i == 3 {
			c.Caller.AccountID = "210987654321" // a call across accounts: the repository's account sees it too
		}
		trail.Record(c, nil, 0)
	}
	trail.Close()
	var chunks []store.AuditChunk
	meta.View(t.Context(), func(tx store.Tx) (err error) {
		chunks, err = tx.AuditChunks(store.AuditChunkQuery{Account: "123456789012", Limit: 100})
		return err
	})
	for _, c := range chunks {
		if c.End.Sub(c.Start) >= store.AuditChunkSpan {
			t.Fatalf("a chunk spans %s", c.End.Sub(c.Start))
		}
	}
	for _, end := range []time.Time{now.Add(-30 * time.Minute), now.Add(-time.Hour)} {
		events, err := Lookup(t.Context(), meta, Query{Account: "123456789012", Limit: 50, End: end})
		if err != nil || len(events) != 2 || !events[0].Time.Equal(now.Add(-time.Hour)) {
			t.Fatalf("up to %s: %d records, %v", end, len(events), err)
		}
	}
}

// TestThrottledLookupAnswer: a throttled LookupEvents answers CloudTrail's ThrottlingException, which
// clients retry, not an internal failure.
func TestThrottledLookupAnswer(t *testing.T) {
	ae := toAPI(&registry.Error{Kind: registry.KindThrottled, Message: "Rate exceeded"})
	if ae.Code != "ThrottlingException" || ae.Status != 400 {
		t.Fatalf("%+v", ae)
	}
}

// windowCheck fails a lookup by name that asks the store for chunks of more than a window's time.
type windowCheck struct {
	store.Store
	t *testing.T
}

func (s windowCheck) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.View(ctx, func(tx store.Tx) error { return fn(windowTx{tx, s.t}) })
}

type windowTx struct {
	store.Tx
	t *testing.T
}

func (tx windowTx) AuditChunks(q store.AuditChunkQuery) ([]store.AuditChunk, error) {
	if q.Name != "" && (q.Start.IsZero() || q.BeforeID != 0 && q.BeforeEnd.Sub(q.Start) > lookupWindow) {
		tx.t.Errorf("a lookup by name asks for the chunks from %s to %s", q.Start, q.BeforeEnd)
	}
	return tx.Tx.AuditChunks(q)
}

// TestLookupByNameGoesByWindows: a lookup by EventName, which the store answers by reading the chunks it
// skips, asks for an hour's chunks at a time; it pages through a long trail in calls of bounded work, jumps
// over days without a chunk, and finds the one record that has the name, once.
func TestLookupByNameGoesByWindows(t *testing.T) {
	meta := openStore(t)
	trail := NewTrail(meta, "us-east-1", nil)
	start := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	old := pullCall()
	old.Action, old.Start, old.RequestID = "ecr:DescribeImages", start.Add(-72*time.Hour), pipeline.NewRequestID()
	trail.Record(old, nil, 0)
	trail.Flush()
	for i := range 240 { // 40 hours, a chunk every 10 minutes
		for j := range 3 {
			c := pullCall()
			c.RequestID = pipeline.NewRequestID()
			c.Start = start.Add(time.Duration(i)*10*time.Minute + time.Duration(j)*time.Second)
			trail.Record(c, nil, 0)
		}
		trail.Flush()
	}
	trail.Close()
	q := Query{Account: "123456789012", Limit: 50, Attribute: "EventName", Value: "DescribeImages", Budget: 3 * windowCost}
	var found []Event
	pages := 0
	for ; pages < 100; pages++ {
		p, err := LookupPage(t.Context(), windowCheck{meta, t}, q)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, p.Events...)
		if p.NextID == "" {
			break
		}
		q.BeforeTime, q.BeforeID = p.NextTime, p.NextID
	}
	if len(found) != 1 || found[0].Name() != "DescribeImages" || !found[0].Time.Equal(old.Start) {
		t.Fatalf("found %d records in %d pages", len(found), pages)
	}
	if pages < 5 || pages > 20 {
		t.Fatalf("%d pages for 40 hours of windows of an hour, 3 a page", pages)
	}
	// Without a budget (the command line, tests), one call finds it.
	if events, err := Lookup(t.Context(), meta, Query{Account: "123456789012", Limit: 50, Attribute: "EventName", Value: "DescribeImages"}); err != nil || len(events) != 1 {
		t.Fatalf("%d records, %v", len(events), err)
	}
}
