package registry_test

import (
	"testing"

	"github.com/wharf-dev/wharf/internal/registry"
)

// The layout of the AWS CLI reference's set-repository-policy example: the file it sets, and the policyText
// ECR answers.
func TestFormatPolicyText(t *testing.T) {
	in := `{
    "Version" : "2008-10-17",
    "Statement" : [ 
        {
            "Sid" : "allow public pull",
            "Effect" : "Allow",
            "Principal" : "*",
            "Action" : [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer" 
            ]
        }
    ]
}
`
	want := "{\n  \"Version\" : \"2008-10-17\",\n  \"Statement\" : [ {\n    \"Sid\" : \"allow public pull\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : \"*\",\n    \"Action\" : [ \"ecr:BatchCheckLayerAvailability\", \"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\" ]\n  } ]\n}"
	if got := registry.FormatPolicyText(in); got != want {
		t.Fatalf("FormatPolicyText:\n%s\nwant\n%s", got, want)
	}
	if got := registry.FormatPolicyText(want); got != want {
		t.Fatalf("FormatPolicyText of its own output:\n%s", got)
	}
	for in, want := range map[string]string{
		`{"a":{},"b":[],"c":[1,2.50,true,null],"d":"<é/\"x\">"}`: "{\n  \"a\" : { },\n  \"b\" : [ ],\n  \"c\" : [ 1, 2.50, true, null ],\n  \"d\" : \"<é/\\\"x\\\">\"\n}",
		`{"a":1} trailing`: `{"a":1} trailing`,
		`not json`:         `not json`,
	} {
		if got := registry.FormatPolicyText(in); got != want {
			t.Errorf("FormatPolicyText(%q) = %q, want %q", in, got, want)
		}
	}
}
