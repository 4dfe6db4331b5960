package audit

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/store"
)

type codedError struct{ msg string }

func (e codedError) Error() string     { return e.msg }
func (e codedError) ErrorCode() string { return "NameInvalid" }

// TestCraftedCallsMakeBoundedRecords: a client's user agent, a repository name in a URL and an error
// message echoing it may each be about a megabyte (the largest header); the record of such a call stays
// small, valid JSON, and the trail of many such calls too.
func TestCraftedCallsMakeBoundedRecords(t *testing.T) {
	huge := strings.Repeat("é", 1<<19) // a megabyte, characters of two bytes
	crafted := func(i int) *pipeline.Call {
		c := pullCall()
		c.RequestID = pipeline.NewRequestID()
		c.UserAgent = huge + string(rune('a'+i%26))
		name := strings.Repeat("a", 1<<20) + string(rune('a'+i%26))
		c.Input = map[string]any{"repositoryName": name, "imageIds": []map[string]string{{"imageTag": huge}}}
		c.Targets = []pipeline.Target{pipeline.Repository("ecr:BatchGetImage", "123456789012", name)}
		return c
	}
	failure := codedError{"invalid repository name " + huge}
	for _, err := range []error{nil, failure} {
		events := Events(crafted(0), err, "us-east-1")
		if len(events) != 1 {
			t.Fatalf("%d records", len(events))
		}
		data := events[0].Record
		if len(data) > 4<<10 {
			t.Fatalf("a crafted call's record is %d bytes", len(data))
		}
		if !utf8.Valid(data) {
			t.Fatal("the record is no valid UTF-8")
		}
		rec := record(t, data)
		if ua, _ := rec["userAgent"].(string); len(ua) == 0 || len(ua) > maxUserAgent || !strings.HasPrefix(huge, ua) {
			t.Fatalf("userAgent of %d bytes", len(ua))
		}
		if rec["requestParameters"] != nil {
			t.Fatal("requestParameters over the bound recorded")
		}
		if err != nil {
			if msg, _ := rec["errorMessage"].(string); len(msg) == 0 || len(msg) > maxErrorMessage {
				t.Fatalf("errorMessage of %d bytes", len(msg))
			}
		}
	}

	// Many such calls, as the trail keeps them.
	meta := openStore(t)
	trail := NewTrail(meta, "us-east-1", nil)
	for i := range 40 {
		var err error
		if i%2 == 1 {
			err = failure
		}
		trail.Record(crafted(i), err, 0)
	}
	trail.Close()
	var size int
	if err := meta.View(t.Context(), func(tx store.Tx) error {
		chunks, err := tx.AuditChunks(store.AuditChunkQuery{Account: "123456789012", Limit: 1000})
		for _, c := range chunks {
			size += len(c.Data)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if size > 40*4<<10 {
		t.Fatalf("40 crafted calls take %d bytes of the trail", size)
	}
}

// TestResourcesOfNoAccount: a target naming an account that is no account (an adapter letting a request's
// registry id through) makes no record for it, nor a log file outside the delivery's directory.
func TestResourcesOfNoAccount(t *testing.T) {
	c := pullCall()
	c.Targets = []pipeline.Target{pipeline.Repository("ecr:BatchGetImage", "../../../../tmp/x", "app"),
		{Action: "iam:GetUser", Resource: "arn:aws:iam::../x:user/bob"}}
	for _, e := range Events(c, nil, "us-east-1") {
		if e.Account != "123456789012" || len(e.Resources) != 0 {
			t.Fatalf("a record for %q with %v", e.Account, e.Resources)
		}
	}
	dir := t.TempDir()
	if err := Dir(dir+"/trail").Put(t.Context(), "AWSLogs/../../escaped.json.gz", []byte("x")); err == nil {
		t.Fatal("a key out of the directory was written")
	}
}

type longKey struct{ name string }

func (k longKey) AuditKey() [4]string { return [4]string{"manifest", k.name} }
func (k longKey) AuditSummary() any   { return map[string]any{"repositoryName": k.name[:10]} }

// TestMemoKeepsNoOverlongKey: reads whose keys hold a request's overlong names are recorded but not kept
// in the memo, which would otherwise hold thousands of them (gigabytes) until it is cleared.
func TestMemoKeepsNoOverlongKey(t *testing.T) {
	m := newMemo("us-east-1")
	for i := range 20 {
		c := pullCall()
		c.Input = longKey{strings.Repeat("a", 1<<20) + string(rune('a'+i))}
		e := entryOf(c, nil)
		if _, ok := m.fieldsOf(&e, nil); !ok {
			t.Fatal("not recorded")
		}
	}
	c := pullCall()
	e := entryOf(c, nil)
	m.fieldsOf(&e, nil)
	if m.nops != 1 {
		t.Fatalf("the memo keeps %d operations, want the one of a valid name", m.nops)
	}
}
