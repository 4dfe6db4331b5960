package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func auditChunk(account string, i int, names string, start, end time.Time) store.AuditChunk {
	return store.AuditChunk{Account: account, Node: "node-a", Start: start, End: end, Records: i + 1, Names: names,
		ReadOnly: names == ",BatchGetImage,", Data: []byte(fmt.Sprintf("chunk-%d\x00\xff", i))}
}

func chunkIDs(chunks []store.AuditChunk) []string {
	var out []string
	for _, c := range chunks {
		out = append(out, string(c.Data[:len(c.Data)-2]))
	}
	return out
}

func testAuditChunks(t *testing.T, s store.Store) {
	var all []store.AuditChunk
	for i := range 6 {
		names := ",BatchGetImage,"
		if i%3 == 0 {
			names = ",BatchGetImage,PutImage,"
		}
		start := t0.Add(time.Duration(i) * time.Second)
		all = append(all, auditChunk("111111111111", i, names, start, start.Add(time.Second)))
	}
	all = append(all, auditChunk("222222222222", 6, ",PutImage,", t0, t0))
	update(t, s, func(tx store.Tx) error { return tx.AddAuditChunks(all) })
	lookup := func(q store.AuditChunkQuery) []store.AuditChunk {
		t.Helper()
		if q.Account == "" {
			q.Account = "111111111111"
		}
		if q.Limit == 0 {
			q.Limit = 100
		}
		var got []store.AuditChunk
		view(t, s, func(tx store.Tx) (err error) { got, err = tx.AuditChunks(q); return err })
		return got
	}
	eq := func(got []store.AuditChunk, want ...string) {
		t.Helper()
		if fmt.Sprint(chunkIDs(got)) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v", chunkIDs(got), want)
		}
	}
	// Newest end first; a time range takes the chunks that overlap it.
	eq(lookup(store.AuditChunkQuery{Limit: 3}), "chunk-5", "chunk-4", "chunk-3")
	eq(lookup(store.AuditChunkQuery{Start: t0.Add(2500 * time.Millisecond), End: t0.Add(3500 * time.Millisecond)}), "chunk-3", "chunk-2")
	eq(lookup(store.AuditChunkQuery{Name: "PutImage"}), "chunk-3", "chunk-0")
	eq(lookup(store.AuditChunkQuery{Mutating: true}), "chunk-3", "chunk-0")
	eq(lookup(store.AuditChunkQuery{Name: "Put%"}))
	eq(lookup(store.AuditChunkQuery{Account: "222222222222"}), "chunk-6")
	page := lookup(store.AuditChunkQuery{Limit: 2})
	last := page[len(page)-1]
	eq(lookup(store.AuditChunkQuery{BeforeEnd: last.End, BeforeID: last.ID, Limit: 2}), "chunk-3", "chunk-2")
	got := page[0]
	if got.Node != "node-a" || got.Records != 6 || !got.Start.Equal(t0.Add(5*time.Second)) || !got.End.Equal(t0.Add(6*time.Second)) ||
		!got.ReadOnly || got.Delivered || got.LogFile != "" || string(got.Data) != "chunk-5\x00\xff" {
		t.Fatalf("chunk read back as %+v", got)
	}
	// Pruning removes the chunks whose last record is older than the cutoff.
	var n int
	update(t, s, func(tx store.Tx) (err error) { n, err = tx.PruneAuditChunks(t0.Add(3*time.Second), 1000); return err })
	if n != 3 { // chunks 0 and 1, and the other account's
		t.Fatalf("pruned %d chunks, want 3", n)
	}
	eq(lookup(store.AuditChunkQuery{}), "chunk-5", "chunk-4", "chunk-3", "chunk-2")
}

func testAuditDelivery(t *testing.T, s store.Store) {
	var chunks []store.AuditChunk
	for i := range 5 {
		chunks = append(chunks, auditChunk("111111111111", i, ",PutImage,", t0, t0))
	}
	delivered := auditChunk("111111111111", 9, ",PutImage,", t0, t0)
	delivered.Delivered = true // written where no delivery is configured
	update(t, s, func(tx store.Tx) error { return tx.AddAuditChunks(append(chunks, delivered)) })
	pending := func() int64 {
		t.Helper()
		var n int64
		view(t, s, func(tx store.Tx) (err error) { n, err = tx.PendingAuditRecords(); return err })
		return n
	}
	if n := pending(); n != 1+2+3+4+5 {
		t.Fatalf("%d records pending", n)
	}
	var unclaimed []store.AuditChunk
	view(t, s, func(tx store.Tx) (err error) { unclaimed, err = tx.UnclaimedAuditChunks(3); return err })
	if fmt.Sprint(chunkIDs(unclaimed)) != "[chunk-0 chunk-1 chunk-2]" {
		t.Fatalf("unclaimed %v", chunkIDs(unclaimed))
	}
	update(t, s, func(tx store.Tx) error {
		return tx.ClaimAuditChunks([]int64{unclaimed[0].ID, unclaimed[1].ID, unclaimed[2].ID}, "a.json.gz")
	})
	// A chunk claimed already cannot be claimed again.
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.ClaimAuditChunks([]int64{unclaimed[0].ID}, "b.json.gz") }); err == nil {
		t.Fatal("a chunk was claimed twice")
	}
	view(t, s, func(tx store.Tx) (err error) { unclaimed, err = tx.UnclaimedAuditChunks(10); return err })
	if fmt.Sprint(chunkIDs(unclaimed)) != "[chunk-3 chunk-4]" {
		t.Fatalf("unclaimed after a claim: %v", chunkIDs(unclaimed))
	}
	var files []string
	view(t, s, func(tx store.Tx) (err error) { files, err = tx.UndeliveredAuditFiles(10); return err })
	if fmt.Sprint(files) != "[a.json.gz]" {
		t.Fatalf("undelivered files %v", files)
	}
	var in []store.AuditChunk
	view(t, s, func(tx store.Tx) (err error) { in, err = tx.AuditFileChunks("a.json.gz"); return err })
	if fmt.Sprint(chunkIDs(in)) != "[chunk-0 chunk-1 chunk-2]" || in[0].LogFile != "a.json.gz" {
		t.Fatalf("file holds %v", chunkIDs(in))
	}
	var n int
	update(t, s, func(tx store.Tx) (err error) { n, err = tx.MarkAuditFileDelivered("a.json.gz"); return err })
	if n != 1+2+3 {
		t.Fatalf("delivered %d records", n)
	}
	view(t, s, func(tx store.Tx) (err error) { files, err = tx.UndeliveredAuditFiles(10); return err })
	if len(files) != 0 {
		t.Fatalf("undelivered after delivery: %v", files)
	}
	if n := pending(); n != 4+5 {
		t.Fatalf("%d records pending after a delivery", n)
	}
}
