package audit

import (
	"bytes"
	"encoding/json"
	"testing"
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
