package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func auditEvent(account string, i int, name string, at time.Time) store.AuditEvent {
	return store.AuditEvent{Account: account, EventID: fmt.Sprintf("event-%d", i), Time: at, Name: name,
		Source: "ecr.amazonaws.com", Username: "carol", AccessKeyID: "AKIACAROL", ReadOnly: name == "BatchGetImage",
		Resources: []store.AuditResource{{Type: "AWS::ECR::Repository", Name: fmt.Sprintf("repo%d", i%2),
			ARN: fmt.Sprintf("arn:aws:ecr:us-east-1:%s:repository/repo%d", account, i%2)}},
		Record: []byte(fmt.Sprintf(`{"eventID":"event-%d"}`, i))}
}

func seqs(events []store.AuditEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.EventID)
	}
	return out
}

func testAuditEvents(t *testing.T, s store.Store) {
	var all []store.AuditEvent
	for i := range 10 {
		name := "BatchGetImage"
		if i%3 == 0 {
			name = "PutImage"
		}
		all = append(all, auditEvent("111111111111", i, name, t0.Add(time.Duration(i/2)*time.Second)))
	}
	other := auditEvent("222222222222", 0, "PutImage", t0) // the same call seen by the other account
	update(t, s, func(tx store.Tx) error { return tx.AddAuditEvents(append(all, other)) })
	lookup := func(q store.AuditQuery) []string {
		t.Helper()
		if q.Account == "" {
			q.Account = "111111111111"
		}
		if q.Limit == 0 {
			q.Limit = 100
		}
		var got []store.AuditEvent
		view(t, s, func(tx store.Tx) (err error) { got, err = tx.LookupAuditEvents(q); return err })
		return seqs(got)
	}
	eq := func(got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	// Newest first; events of one second by the order they were written, newest first.
	eq(lookup(store.AuditQuery{Limit: 3}), "event-9", "event-8", "event-7")
	eq(lookup(store.AuditQuery{Attribute: "EventName", Value: "PutImage"}), "event-9", "event-6", "event-3", "event-0")
	eq(lookup(store.AuditQuery{Attribute: "ReadOnly", Value: "false"}), "event-9", "event-6", "event-3", "event-0")
	eq(lookup(store.AuditQuery{Attribute: "ResourceName", Value: "repo0", Limit: 2}), "event-8", "event-6")
	eq(lookup(store.AuditQuery{Attribute: "ResourceName", Value: "repo1", Limit: 2}), "event-9", "event-7")
	eq(lookup(store.AuditQuery{Attribute: "ResourceType", Value: "AWS::ECR::Repository", Limit: 1}), "event-9")
	eq(lookup(store.AuditQuery{Attribute: "EventId", Value: "event-4"}), "event-4")
	eq(lookup(store.AuditQuery{Attribute: "Username", Value: "dave"}))
	eq(lookup(store.AuditQuery{Start: t0.Add(time.Second), End: t0.Add(2 * time.Second)}), "event-5", "event-4", "event-3", "event-2")
	eq(lookup(store.AuditQuery{Account: "222222222222"}), "event-0")
	// Paging: strictly after the last event of a page.
	var page []store.AuditEvent
	view(t, s, func(tx store.Tx) (err error) {
		page, err = tx.LookupAuditEvents(store.AuditQuery{Account: "111111111111", Limit: 4})
		return err
	})
	last := page[len(page)-1]
	eq(lookup(store.AuditQuery{BeforeTime: last.Time, BeforeSeq: last.Seq, Limit: 3}), "event-5", "event-4", "event-3")
	got := page[0]
	if string(got.Record) != `{"eventID":"event-9"}` || !got.Time.Equal(t0.Add(4*time.Second)) || got.AccessKeyID != "AKIACAROL" ||
		got.Source != "ecr.amazonaws.com" || len(got.Resources) != 1 || got.Resources[0].Name != "repo1" {
		t.Fatalf("event read back as %+v", got)
	}
	// Pruning removes old events, and their resources with them.
	var n int
	update(t, s, func(tx store.Tx) (err error) { n, err = tx.PruneAuditEvents(t0.Add(2*time.Second), 1000); return err })
	if n != 5 { // events 0-3 and the other account's
		t.Fatalf("pruned %d events, want 5", n)
	}
	eq(lookup(store.AuditQuery{Attribute: "ResourceName", Value: "repo0"}), "event-8", "event-6", "event-4")
}

func testAuditDelivery(t *testing.T, s store.Store) {
	var events []store.AuditEvent
	for i := range 5 {
		events = append(events, auditEvent("111111111111", i, "PutImage", t0))
	}
	update(t, s, func(tx store.Tx) error { return tx.AddAuditEvents(events) })
	var pending []store.AuditEvent
	view(t, s, func(tx store.Tx) (err error) { pending, err = tx.UnclaimedAuditEvents(3); return err })
	if fmt.Sprint(seqs(pending)) != "[event-0 event-1 event-2]" {
		t.Fatalf("unclaimed %v", seqs(pending))
	}
	update(t, s, func(tx store.Tx) error {
		return tx.ClaimAuditEvents([]int64{pending[0].Seq, pending[1].Seq, pending[2].Seq}, "a.json.gz")
	})
	// An event claimed already cannot be claimed again.
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.ClaimAuditEvents([]int64{pending[0].Seq}, "b.json.gz") }); err == nil {
		t.Fatal("an event was claimed twice")
	}
	view(t, s, func(tx store.Tx) (err error) { pending, err = tx.UnclaimedAuditEvents(10); return err })
	if fmt.Sprint(seqs(pending)) != "[event-3 event-4]" {
		t.Fatalf("unclaimed after a claim: %v", seqs(pending))
	}
	var files []string
	view(t, s, func(tx store.Tx) (err error) { files, err = tx.UndeliveredAuditFiles(10); return err })
	if fmt.Sprint(files) != "[a.json.gz]" {
		t.Fatalf("undelivered files %v", files)
	}
	var in []store.AuditEvent
	view(t, s, func(tx store.Tx) (err error) { in, err = tx.AuditFileEvents("a.json.gz"); return err })
	if fmt.Sprint(seqs(in)) != "[event-0 event-1 event-2]" || in[0].LogFile != "a.json.gz" {
		t.Fatalf("file holds %v", seqs(in))
	}
	update(t, s, func(tx store.Tx) error { return tx.MarkAuditFileDelivered("a.json.gz") })
	view(t, s, func(tx store.Tx) (err error) { files, err = tx.UndeliveredAuditFiles(10); return err })
	if len(files) != 0 {
		t.Fatalf("undelivered after delivery: %v", files)
	}
}
