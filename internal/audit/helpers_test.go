package audit

import (
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/store"
)

// testEvent is a call's record as one account sees it.
type testEvent struct {
	Account, EventID, Name, Username, AccessKeyID string
	ReadOnly                                      bool
	Resources                                     []EventResource
	Record                                        []byte
}

// Events is the call's records as the trail keeps them, encoded in a chunk and decoded.
func Events(c *pipeline.Call, err error, region string) []testEvent {
	e := entryOf(c, err)
	fl, ok := newMemo(region).fieldsOf(&e, nil)
	if !ok {
		return nil
	}
	b := newBatch()
	b.add(&fl)
	var out []testEvent
	for _, ch := range b.chunks(region) {
		events, err := Decode(&ch)
		if err != nil {
			panic(err)
		}
		for _, ev := range events {
			out = append(out, testEvent{Account: ev.Account, EventID: ev.EventID, Name: ev.Name(), Username: ev.Username(),
				AccessKeyID: ev.AccessKeyID(), ReadOnly: ev.ReadOnly(), Resources: ev.Resources(), Record: ev.AppendJSON(nil)})
		}
	}
	return out
}

// reference is the call's record for an account built as a Record, as encoding/json encodes it.
func reference(c *pipeline.Call, err error, region, account, eventID string) Record {
	service, name, _ := strings.Cut(c.Action, ":")
	rec := Record{
		EventVersion: EventVersion, UserIdentity: userIdentity(c.Caller), EventTime: c.Start.UTC().Format(timeFormat),
		EventSource: eventSource(service), EventName: name, AWSRegion: region,
		SourceIPAddress: c.SourceIP, UserAgent: c.UserAgent, RequestID: c.RequestID,
		EventID: eventID, ReadOnly: ReadOnly(name), EventType: "AwsApiCall", ManagementEvent: true,
		EventCategory: "Management", RecipientAccountID: account,
	}
	if c.Caller.Service != "" {
		rec.SourceIPAddress, rec.UserAgent = c.Caller.Service, c.Caller.Service
	}
	rec.RequestParameters = Summarize(c.Input, c.Protocol)
	if err != nil {
		rec.ErrorCode, rec.ErrorMessage = errorOf(c, err)
	} else if !rec.ReadOnly {
		rec.ResponseElements = Summarize(c.Output, c.Protocol)
	}
	for _, t := range c.Targets {
		if r, _, ok := resourceOf(t, c.RegistryID, region); ok {
			rec.Resources = append(rec.Resources, r)
		}
	}
	return rec
}

// count is how many records of the account the trail holds.
func count(t *testing.T, meta store.Store) int {
	t.Helper()
	events, err := Lookup(t.Context(), meta, Query{Account: "123456789012", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}
