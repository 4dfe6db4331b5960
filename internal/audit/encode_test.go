package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
)

// TestRecordEncodingIsEncodingJSONs: records encoded by hand are byte for byte encoding/json's.
func TestRecordEncodingIsEncodingJSONs(t *testing.T) {
	odd := "quote \" backslash \\ <tag> & \n\t\x01 é \u2028 \xff end"
	records := []Record{
		{EventVersion: EventVersion, UserIdentity: userIdentity(sampleCall().Caller), EventName: odd, UserAgent: odd,
			RequestParameters: map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": odd}},
				"n": json.Number("12"), "f": 1.531347464e9, "g": 0.5, "ok": true, "list": []any{"a", 2, nil}},
			ResponseElements: map[string]any{"deep": map[string]any{"x": []string{"y"}}}, ReadOnly: true,
			Resources: []Resource{{ARN: "arn:aws:ecr:us-east-1:123456789012:repository/app", AccountID: "123456789012", Type: "AWS::ECR::Repository"}}},
		{UserIdentity: UserIdentity{Type: "AWSService", InvokedBy: "wharf.amazonaws.com"}, ErrorCode: "E", ErrorMessage: odd,
			RequestParameters: struct{ A int }{7}},
		{UserIdentity: userIdentity(pullCall().Caller), RequestParameters: pullSummary{}.AuditSummary()},
	}
	for i, r := range records {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.appendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("record %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestChunksRenderTheRecord: a record kept in a chunk renders as the Record of the call would encode, for
// every kind of caller, with or without an error, seen by one account or two.
func TestChunksRenderTheRecord(t *testing.T) {
	assumed := pullCall()
	assumed.Caller = sampleCall().Caller
	cross := pullCall()
	cross.Targets[0].RegistryID = "444455556666"
	cross.SourceIP, cross.UserAgent = "198.51.100.7", "crane/0.20 \"odd\" \xff"
	service := pullCall()
	service.Caller = identity.Principal{Service: "wharf.amazonaws.com", AccountID: "123456789012"}
	odd := sampleCall()
	odd.RequestID = "not a uuid"
	for i, c := range []*pipeline.Call{pullCall(), assumed, cross, service, sampleCall(), odd} {
		for _, err := range []error{nil, errors.New("failed")} {
			events := Events(c, err, "us-east-1")
			if len(events) == 0 {
				t.Fatalf("call %d: no records", i)
			}
			for _, e := range events {
				want, _ := json.Marshal(reference(c, err, "us-east-1", e.Account, e.EventID))
				// The same record (an invalid byte comes back as U+FFFD itself, not its escape).
				if !reflect.DeepEqual(record(t, e.Record), record(t, want)) {
					t.Errorf("call %d, account %s:\n got %s\nwant %s", i, e.Account, e.Record, want)
				}
			}
		}
	}
}
