package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// failing refuses every file after the first n.
type failing struct {
	Destination
	n int
}

func (f *failing) Put(ctx context.Context, key string, data []byte) error {
	if f.n == 0 {
		return errors.New("bucket unreachable")
	}
	f.n--
	return f.Destination.Put(ctx, key, data)
}

// readTrail reads every delivered log file: the event ids of its records, by file.
func readTrail(t *testing.T, dir string) map[string][]string {
	t.Helper()
	files := map[string][]string{}
	name := regexp.MustCompile(`^AWSLogs/(\d{12})/CloudTrail/us-east-1/\d{4}/\d{2}/\d{2}/(\d{12})_CloudTrail_us-east-1_\d{8}T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$`)
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		m := name.FindStringSubmatch(filepath.ToSlash(rel))
		if m == nil || m[1] != m[2] {
			t.Fatalf("log file %s is not in CloudTrail's layout", rel)
		}
		data, _ := os.ReadFile(path)
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := io.ReadAll(zr)
		var logFile struct{ Records []Record }
		if err := json.Unmarshal(doc, &logFile); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		for _, r := range logFile.Records {
			if r.RecipientAccountID != m[1] {
				t.Fatalf("%s holds a record of account %s", rel, r.RecipientAccountID)
			}
			files[rel] = append(files[rel], r.EventID)
		}
		return nil
	})
	return files
}

func TestDeliveryOnceEach(t *testing.T) {
	meta := openStore(t)
	trail := NewTrail(meta, "us-east-1", nil)
	defer trail.Close()
	trail.Deliver = true
	record := func(n int) {
		for range n {
			c := sampleCall()
			c.Caller = identity.Principal{AccountID: "111122223333", UserName: "carol"}
			c.Targets[0].RegistryID = "444455556666" // seen by both accounts
			trail.Record(c, nil, 0)
		}
	}
	dir := t.TempDir()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	d := &Delivery{Meta: meta, To: Dir(dir), Region: "us-east-1", Now: func() time.Time { return now }, Holder: "a", Batch: 3}
	record(4)
	// The bucket fails after the first file: what was assigned is written again, under the same name.
	d.To = &failing{Dir(dir), 1}
	if _, err := d.Deliver(context.Background()); err == nil {
		t.Fatal("a failed delivery reported no error")
	}
	d.To = Dir(dir)
	if n, err := d.Deliver(context.Background()); err != nil || n == 0 {
		t.Fatalf("delivered %d files: %v", n, err)
	}
	record(2)
	if _, err := d.Deliver(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, err := d.Deliver(context.Background()); err != nil || n != 0 {
		t.Fatalf("nothing new, yet %d files: %v", n, err)
	}
	var ids, delivered []string
	for _, acct := range []string{"111122223333", "444455556666"} {
		events, err := Lookup(context.Background(), meta, Query{Account: acct, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			ids = append(ids, acct+"/"+e.EventID)
		}
	}
	if len(ids) != 12 {
		t.Fatalf("%d records, want 12", len(ids))
	}
	for file, events := range readTrail(t, dir) {
		acct := strings.Split(file, "/")[1]
		for _, id := range events {
			delivered = append(delivered, acct+"/"+id)
		}
	}
	sort.Strings(ids)
	sort.Strings(delivered)
	if strings.Join(ids, " ") != strings.Join(delivered, " ") {
		t.Fatalf("delivered %d records, recorded %d:\n%v\n%v", len(delivered), len(ids), delivered, ids)
	}
	// Another process holding the lease delivers nothing meanwhile.
	record(1)
	other := &Delivery{Meta: meta, To: Dir(dir), Region: "us-east-1", Now: func() time.Time { return now }, Holder: "b"}
	meta.Update(context.Background(), func(tx store.Tx) error {
		_, err := tx.AcquireLease(deliveryLease, "a", now, time.Hour)
		return err
	})
	if n, _ := other.Deliver(context.Background()); n != 0 {
		t.Fatalf("two processes delivered at once")
	}
}

func TestPrune(t *testing.T) {
	meta := openStore(t)
	trail := NewTrail(meta, "us-east-1", nil)
	defer trail.Close()
	now := time.Now()
	for _, age := range []time.Duration{100 * 24 * time.Hour, 91 * 24 * time.Hour, 24 * time.Hour} {
		c := sampleCall()
		c.Start = now.Add(-age)
		trail.Record(c, nil, 0)
	}
	if n, err := Prune(context.Background(), meta, now, 90*24*time.Hour); err != nil || n != 2 {
		t.Fatalf("pruned %d: %v", n, err)
	}
}

// A change is recorded before Record returns; reads wait for the next flush, or for Close.
func TestTrailWritesChangesAtOnceAndReadsInBatches(t *testing.T) {
	meta := openStore(t)
	trail := NewTrail(meta, "us-east-1", nil)
	trail.FlushEvery = time.Hour
	trail.Start()
	trail.Record(sampleCall(), nil, 0)
	if n := count(t, meta); n != 1 {
		t.Fatalf("%d records after a change", n)
	}
	for range 10 {
		c := sampleCall()
		c.Action = "ecr:BatchGetImage"
		trail.Record(c, nil, 0)
	}
	trail.Close()
	if n := count(t, meta); n != 11 {
		t.Fatalf("%d records after closing", n)
	}
}

// TestDamagedChunk: a chunk row that does not decode holds up neither lookups nor delivery: the records of
// the other chunks are looked up and delivered, and nothing is left pending.
func TestDamagedChunk(t *testing.T) {
	meta := openStore(t)
	trail := NewTrail(meta, "us-east-1", nil)
	trail.Deliver = true
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for i := range 3 {
		c := pullCall()
		c.Start = now.Add(time.Duration(2*i) * time.Second)
		trail.Record(c, nil, 0)
		trail.Flush()
	}
	trail.Close()
	damaged := store.AuditChunk{Account: "123456789012", Node: "n", Start: now.Add(time.Second), End: now.Add(3 * time.Second),
		Records: 5, Names: ",BatchGetImage,", ReadOnly: true, Data: []byte(chunkMagic + "\x09us-east-1garbage")}
	if err := meta.Update(t.Context(), func(tx store.Tx) error { return tx.AddAuditChunks([]store.AuditChunk{damaged}) }); err != nil {
		t.Fatal(err)
	}
	events, err := Lookup(t.Context(), meta, Query{Account: "123456789012", Limit: 50})
	if err != nil || len(events) != 3 {
		t.Fatalf("lookup: %d records, %v", len(events), err)
	}
	dir := t.TempDir()
	d := &Delivery{Meta: meta, To: Dir(dir), Region: "us-east-1", Now: func() time.Time { return now }, Holder: "a"}
	if _, err := d.Deliver(t.Context()); err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for _, ids := range readTrail(t, dir) {
		delivered += len(ids)
	}
	var pending int64
	meta.View(t.Context(), func(tx store.Tx) (err error) { pending, err = tx.PendingAuditRecords(); return err })
	if delivered != 3 || pending != 0 {
		t.Fatalf("%d records delivered, %d pending", delivered, pending)
	}
}
