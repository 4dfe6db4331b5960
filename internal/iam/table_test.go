package iam

import (
	"fmt"
	"testing"
)

// allowed evaluates one identity statement for alice in her own account.
func allowed(t *testing.T, statement, action, resource string, ctx map[string][]string) bool {
	t.Helper()
	p := must(t, `{"Version":"2012-10-17","Statement":[`+statement+`]}`, IdentityPolicy)
	return Evaluate(Request{Principal: alice, Action: action, Resource: resource, ResourceAccount: acctA, Context: ctx}, []*Policy{p}, nil).Allowed
}

// TestActionMatching: case-insensitive, * and ? anywhere, no partial service match.
func TestActionMatching(t *testing.T) {
	cases := []struct {
		pattern, action string
		match           bool
	}{
		{"ecr:BatchGetImage", "ecr:BatchGetImage", true}, {"ecr:batchgetimage", "ecr:BatchGetImage", true},
		{"ECR:BATCHGETIMAGE", "ecr:BatchGetImage", true}, {"ecr:*", "ecr:BatchGetImage", true},
		{"*", "ecr:BatchGetImage", true}, {"ecr:Batch*", "ecr:BatchGetImage", true},
		{"ecr:*Image", "ecr:BatchGetImage", true}, {"ecr:*Get*", "ecr:BatchGetImage", true},
		{"ecr:Get*", "ecr:BatchGetImage", false}, {"ecr:BatchGetImage?", "ecr:BatchGetImage", false},
		{"ecr:BatchGetImag?", "ecr:BatchGetImage", true}, {"ecr:?atchGetImage", "ecr:BatchGetImage", true},
		{"ecr:BatchGet", "ecr:BatchGetImage", false}, {"ec*:BatchGetImage", "ecr:BatchGetImage", true},
		{"iam:*", "ecr:BatchGetImage", false}, {"ecr:Describe*", "ecr:DescribeImages", true},
		{"ecr:Describe*", "ecr:DescribeRepositories", true}, {"ecr:Describe*", "ecr:ListImages", false},
		{"ecr:*Layer*", "ecr:InitiateLayerUpload", true}, {"ecr:*Layer*", "ecr:UploadLayerPart", true},
		{"ecr:*Layer*", "ecr:CompleteLayerUpload", true}, {"ecr:*Layer*", "ecr:GetDownloadUrlForLayer", true},
		{"ecr:*Layer*", "ecr:PutImage", false}, {"ecr:Put*", "ecr:PutImage", true},
		{"ecr:Put*", "ecr:PutImageTagMutability", true}, {"ecr:PutImage", "ecr:PutImageTagMutability", false},
		{"ecr:*Policy", "ecr:SetRepositoryPolicy", true}, {"ecr:*Policy", "ecr:GetRepositoryPolicy", true},
		{"ecr:*Policy", "ecr:GetLifecyclePolicyPreview", false}, {"ecr:Delete*", "ecr:DeleteRepository", true},
		{"ecr:Delete*", "ecr:BatchDeleteImage", false}, {"ecr:*Delete*", "ecr:BatchDeleteImage", true},
		{"sts:AssumeRole", "sts:assumerole", true}, {"iam:*User*", "iam:CreateUser", true},
		{"iam:*User*", "iam:AddUserToGroup", true}, {"iam:*User*", "iam:CreateRole", false},
		{"ecr:*", "ecr:GetAuthorizationToken", true}, {"ecr:Get*Token", "ecr:GetAuthorizationToken", true},
		{"ecr:G?t*", "ecr:GetDownloadUrlForLayer", true}, {"ecr:??t*", "ecr:PutImage", true},
	}
	for _, c := range cases {
		got := allowed(t, `{"Effect":"Allow","Action":"`+c.pattern+`","Resource":"*"}`, c.action, repoR, nil)
		if got != c.match {
			t.Errorf("Action %q vs %q: got %v", c.pattern, c.action, got)
		}
		// NotAction is the complement.
		got = allowed(t, `{"Effect":"Allow","NotAction":"`+c.pattern+`","Resource":"*"}`, c.action, repoR, nil)
		if got == c.match {
			t.Errorf("NotAction %q vs %q: got %v", c.pattern, c.action, got)
		}
	}
}

// TestResourceMatching: case-sensitive, * spans / and (at a segment's end) :, ? is one character.
func TestResourceMatching(t *testing.T) {
	const r = "arn:aws:ecr:us-east-1:111122223333:repository/"
	cases := []struct {
		pattern, resource string
		match             bool
	}{
		{"*", r + "team/app", true}, {r + "team/app", r + "team/app", true}, {r + "team/*", r + "team/app", true},
		{r + "team/*", r + "team/app/sub", true}, {r + "team/*", r + "team", false}, {r + "team*", r + "team", true},
		{r + "*", r + "x", true}, {r + "Team/app", r + "team/app", false}, {r + "team/APP", r + "team/app", false},
		{r + "team/ap?", r + "team/app", true}, {r + "team/ap?", r + "team/ap", false}, {r + "t?am/*", r + "team/x", true},
		{r + "*/app", r + "team/app", true}, {r + "*/app", r + "a/b/app", true}, {r + "*/app", r + "app", false},
		{r + "team/*/x", r + "team/a/b/x", true}, {"arn:aws:ecr:us-west-2:111122223333:repository/*", r + "x", false},
		{"arn:aws:ecr:*:111122223333:repository/*", r + "x", true}, {"arn:aws:ecr:us-east-1:*:repository/*", r + "x", true},
		{"arn:aws:ecr:us-east-1:444455556666:repository/*", r + "x", false}, {"arn:aws:ecr:*", r + "x", true},
		{"arn:aws:ecr:us-east-1:111122223333:*", r + "x", true}, {"arn:aws:s3:::*", r + "x", false},
		{"arn:aws:ecr:us-east-1:111122223333:repository", r + "x", false}, {r + "x", r + "xy", false},
		{r + "x*", r + "xy", true}, {r + "x", "*", false}, {"*", "*", true},
		{"arn:aws:iam::111122223333:user/*", "arn:aws:iam::111122223333:user/alice", true},
		{"arn:aws:iam::111122223333:user/Alice", "arn:aws:iam::111122223333:user/alice", false},
		{"arn:aws:iam::111122223333:role/ci", "arn:aws:iam::111122223333:role/ci", true},
		{"arn:aws:iam::111122223333:role/c?", "arn:aws:iam::111122223333:role/ci", true},
		{r + "${aws:username}/*", r + "alice/x", true}, {r + "${aws:username}/*", r + "bob/x", false},
		{r + "${aws:PrincipalAccount}", r + "111122223333", true}, {r + "${aws:nothing}", r + "x", false},
		{r + "${aws:nothing, 'x'}", r + "x", true}, {r + "a${*}b", r + "a*b", true}, {r + "a${*}b", r + "axb", false},
		{r + "${$}x", r + "$x", true},
	}
	for _, c := range cases {
		got := allowed(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"`+c.pattern+`"}`, "ecr:PutImage", c.resource, nil)
		if got != c.match {
			t.Errorf("Resource %q vs %q: got %v", c.pattern, c.resource, got)
		}
		got = allowed(t, `{"Effect":"Allow","Action":"ecr:*","NotResource":"`+c.pattern+`"}`, "ecr:PutImage", c.resource, nil)
		if got == c.match {
			t.Errorf("NotResource %q vs %q: got %v", c.pattern, c.resource, got)
		}
	}
}

// TestConditionTable covers each operator with present, absent and multi-valued keys.
func TestConditionTable(t *testing.T) {
	ctx := map[string][]string{
		"aws:resourcetag/env": {"dev"}, "aws:requesttag/team": {"Devs"}, "aws:tagkeys": {"team", "cost"},
		"aws:sourceip": {"10.1.2.3"}, "aws:currenttime": {"2026-05-01T12:00:00Z"}, "ecr:resourcetag/count": {"7"},
		"aws:securetransport": {"true"}, "aws:emptyset": {},
	}
	cases := []struct {
		cond string
		want bool
	}{
		// String operators, present key.
		{`"StringEquals":{"aws:ResourceTag/env":"dev"}`, true}, {`"StringEquals":{"aws:ResourceTag/env":"Dev"}`, false},
		{`"StringEquals":{"aws:ResourceTag/env":["prod","dev"]}`, true}, {`"StringNotEquals":{"aws:ResourceTag/env":"dev"}`, false},
		{`"StringNotEquals":{"aws:ResourceTag/env":["prod","test"]}`, true}, {`"StringNotEquals":{"aws:ResourceTag/env":["prod","dev"]}`, false},
		{`"StringEqualsIgnoreCase":{"aws:ResourceTag/env":"DEV"}`, true}, {`"StringNotEqualsIgnoreCase":{"aws:ResourceTag/env":"DEV"}`, false},
		{`"StringLike":{"aws:ResourceTag/env":"d*"}`, true}, {`"StringLike":{"aws:ResourceTag/env":"?ev"}`, true},
		{`"StringLike":{"aws:ResourceTag/env":"p*"}`, false}, {`"StringNotLike":{"aws:ResourceTag/env":"p*"}`, true},
		{`"StringNotLike":{"aws:ResourceTag/env":["p*","d*"]}`, false}, {`"StringLike":{"AWS:RESOURCETAG/ENV":"dev"}`, true},
		// Absent key: positive false, negated true, IfExists true.
		{`"StringEquals":{"aws:ResourceTag/absent":"x"}`, false}, {`"StringNotEquals":{"aws:ResourceTag/absent":"x"}`, true},
		{`"StringLike":{"aws:ResourceTag/absent":"*"}`, false}, {`"StringNotLike":{"aws:ResourceTag/absent":"*"}`, true},
		{`"StringEqualsIfExists":{"aws:ResourceTag/absent":"x"}`, true}, {`"StringEqualsIfExists":{"aws:ResourceTag/env":"x"}`, false},
		{`"StringNotEqualsIfExists":{"aws:ResourceTag/absent":"x"}`, true}, {`"NumericLessThanIfExists":{"aws:absent":"1"}`, true},
		{`"ArnLikeIfExists":{"aws:absent":"arn:*"}`, true}, {`"BoolIfExists":{"aws:absent":"true"}`, true},
		{`"IpAddressIfExists":{"aws:absent":"10.0.0.0/8"}`, true}, {`"DateLessThanIfExists":{"aws:absent":"2020-01-01"}`, true},
		{`"NotIpAddress":{"aws:absent":"10.0.0.0/8"}`, true}, {`"ArnNotLike":{"aws:absent":"arn:*"}`, true},
		{`"NumericNotEquals":{"aws:absent":"1"}`, true}, {`"DateNotEquals":{"aws:absent":"2020-01-01"}`, true},
		{`"NumericEquals":{"aws:absent":"1"}`, false}, {`"DateEquals":{"aws:absent":"2020-01-01"}`, false},
		{`"Bool":{"aws:absent":"false"}`, false}, {`"IpAddress":{"aws:absent":"0.0.0.0/0"}`, false},
		// Null.
		{`"Null":{"aws:absent":"true"}`, true}, {`"Null":{"aws:absent":"false"}`, false}, {`"Null":{"aws:ResourceTag/env":"false"}`, true},
		{`"Null":{"aws:ResourceTag/env":"true"}`, false}, {`"Null":{"aws:emptyset":"true"}`, true},
		// Set operators.
		{`"ForAllValues:StringEquals":{"aws:TagKeys":["team","cost","owner"]}`, true}, {`"ForAllValues:StringEquals":{"aws:TagKeys":["team"]}`, false},
		{`"ForAllValues:StringEquals":{"aws:absent":["team"]}`, true}, {`"ForAllValues:StringEquals":{"aws:emptyset":["team"]}`, true},
		{`"ForAnyValue:StringEquals":{"aws:TagKeys":["team"]}`, true}, {`"ForAnyValue:StringEquals":{"aws:TagKeys":["owner"]}`, false},
		{`"ForAnyValue:StringEquals":{"aws:absent":["team"]}`, false}, {`"ForAnyValue:StringEquals":{"aws:emptyset":["team"]}`, false},
		{`"ForAnyValue:StringLike":{"aws:TagKeys":["c*"]}`, true}, {`"ForAllValues:StringLike":{"aws:TagKeys":["*e*","c*"]}`, true},
		{`"ForAllValues:StringLike":{"aws:TagKeys":["t*"]}`, false}, {`"ForAnyValue:StringNotEquals":{"aws:TagKeys":["team"]}`, true},
		{`"ForAllValues:StringNotEquals":{"aws:TagKeys":["owner"]}`, true}, {`"ForAllValues:StringNotEquals":{"aws:TagKeys":["team"]}`, false},
		// Numeric.
		{`"NumericEquals":{"ecr:ResourceTag/count":"7"}`, true}, {`"NumericEquals":{"ecr:ResourceTag/count":"7.0"}`, true},
		{`"NumericNotEquals":{"ecr:ResourceTag/count":"7"}`, false}, {`"NumericLessThan":{"ecr:ResourceTag/count":"8"}`, true},
		{`"NumericLessThan":{"ecr:ResourceTag/count":"7"}`, false}, {`"NumericLessThanEquals":{"ecr:ResourceTag/count":"7"}`, true},
		{`"NumericGreaterThan":{"ecr:ResourceTag/count":"6"}`, true}, {`"NumericGreaterThan":{"ecr:ResourceTag/count":"7"}`, false},
		{`"NumericGreaterThanEquals":{"ecr:ResourceTag/count":"7"}`, true}, {`"NumericEquals":{"aws:ResourceTag/env":"1"}`, false},
		// Dates.
		{`"DateEquals":{"aws:CurrentTime":"2026-05-01T12:00:00Z"}`, true}, {`"DateNotEquals":{"aws:CurrentTime":"2026-05-01T12:00:00Z"}`, false},
		{`"DateLessThan":{"aws:CurrentTime":"2026-05-02"}`, true}, {`"DateLessThan":{"aws:CurrentTime":"2026-05-01"}`, false},
		{`"DateLessThanEquals":{"aws:CurrentTime":"2026-05-01T12:00:00Z"}`, true}, {`"DateGreaterThan":{"aws:CurrentTime":"2026-04-30T00:00:00Z"}`, true},
		{`"DateGreaterThanEquals":{"aws:CurrentTime":"2026-05-01T12:00:01Z"}`, false}, {`"DateGreaterThan":{"aws:CurrentTime":"1700000000"}`, true},
		// Bool.
		{`"Bool":{"aws:SecureTransport":"true"}`, true}, {`"Bool":{"aws:SecureTransport":"false"}`, false}, {`"Bool":{"aws:SecureTransport":true}`, true},
		// IP addresses.
		{`"IpAddress":{"aws:SourceIp":"10.1.2.3"}`, true}, {`"IpAddress":{"aws:SourceIp":"10.1.2.3/32"}`, true},
		{`"IpAddress":{"aws:SourceIp":"10.1.0.0/16"}`, true}, {`"IpAddress":{"aws:SourceIp":"10.2.0.0/16"}`, false},
		{`"IpAddress":{"aws:SourceIp":["192.168.0.0/16","10.0.0.0/8"]}`, true}, {`"NotIpAddress":{"aws:SourceIp":["192.168.0.0/16","10.0.0.0/8"]}`, false},
		{`"NotIpAddress":{"aws:SourceIp":"192.168.0.0/16"}`, true}, {`"IpAddress":{"aws:SourceIp":"::/0"}`, false},
		// ARNs.
		{`"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}`, true}, {`"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}`, true},
		{`"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/alice"}`, true}, {`"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*"}`, false},
		{`"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/b*"}`, true}, {`"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}`, false},
		{`"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/ALICE"}`, false}, {`"ArnLike":{"aws:PrincipalArn":"not-an-arn"}`, false},
		// Principal keys and variables.
		{`"StringEquals":{"aws:PrincipalAccount":"111122223333"}`, true}, {`"StringEquals":{"aws:PrincipalType":"User"}`, true},
		{`"StringEquals":{"aws:userid":"AIDAALICE"}`, true}, {`"StringEquals":{"aws:username":"alice"}`, true},
		{`"StringEquals":{"aws:ResourceTag/env":"${aws:ResourceTag/env}"}`, true},
		{`"StringLike":{"aws:RequestTag/team":"${*}"}`, false}, {`"StringEquals":{"aws:RequestTag/team":"${?}evs"}`, false}, {`"StringLike":{"aws:PrincipalArn":"*/${aws:username}"}`, true},
		// Several operators and keys: AND.
		{`"StringEquals":{"aws:ResourceTag/env":"dev","aws:username":"alice"}`, true}, {`"StringEquals":{"aws:ResourceTag/env":"dev","aws:username":"bob"}`, false},
		{`"StringEquals":{"aws:ResourceTag/env":"dev"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}`, true},
		{`"StringEquals":{"aws:ResourceTag/env":"dev"},"IpAddress":{"aws:SourceIp":"11.0.0.0/8"}`, false},
	}
	for _, c := range cases {
		got := allowed(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{`+c.cond+`}}`, "ecr:PutImage", repoR, ctx)
		if got != c.want {
			t.Errorf("%s: got %v, want %v", c.cond, got, c.want)
		}
		// The same condition on a Deny next to a plain Allow denies exactly when it holds.
		got = allowed(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*"},{"Effect":"Deny","Action":"ecr:*","Resource":"*","Condition":{`+c.cond+`}}`, "ecr:PutImage", repoR, ctx)
		if got == c.want {
			t.Errorf("Deny with %s: allowed=%v", c.cond, got)
		}
	}
}

// TestPrincipalGrid: how a repository policy's Principal grants, by caller and by whether the caller's
// identity policy allows, within one account and across accounts.
func TestPrincipalGrid(t *testing.T) {
	type caller struct {
		name string
		p    Principal
	}
	callers := []caller{{"alice", alice}, {"bob", bob}, {"session", ciS1}}
	// want[principal][caller] for identity allow = no / yes, as "nyn" strings per caller order.
	grid := []struct {
		principal                string
		noIdentity, withIdentity string // per caller: alice, bob (other account), session
	}{
		{`"*"`, "yny", "yyy"},
		{`{"AWS":"*"}`, "yny", "yyy"},
		{`{"AWS":"arn:aws:iam::111122223333:user/alice"}`, "ynn", "yny"},
		{`{"AWS":"111122223333"}`, "nnn", "yny"},
		{`{"AWS":"arn:aws:iam::111122223333:root"}`, "nnn", "yny"},
		{`{"AWS":"444455556666"}`, "nnn", "yyy"},
		{`{"AWS":"arn:aws:iam::444455556666:user/bob"}`, "nnn", "yyy"},
		{`{"AWS":"arn:aws:iam::111122223333:role/ci"}`, "nny", "yny"},
		{`{"AWS":"arn:aws:sts::111122223333:assumed-role/ci/s1"}`, "nny", "yny"},
		{`{"AWS":["arn:aws:iam::111122223333:user/alice","444455556666"]}`, "ynn", "yyy"},
		{`{"AWS":"arn:aws:iam::111122223333:user/carol"}`, "nnn", "yny"},
		{`{"Service":"ecr.amazonaws.com"}`, "nnn", "yny"},
	}
	idAllow := must(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*"}}`, IdentityPolicy)
	n := 0
	for _, g := range grid {
		rp := must(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":`+g.principal+`,"Action":"ecr:BatchGetImage"}}`, ResourcePolicy)
		for withID, want := range []string{g.noIdentity, g.withIdentity} {
			for i, c := range callers {
				var ids []*Policy
				if withID == 1 {
					ids = []*Policy{idAllow}
				}
				d := Evaluate(Request{Principal: c.p, Action: "ecr:BatchGetImage", Resource: repoR, ResourceAccount: acctA}, ids, []*Policy{rp})
				if d.Allowed != (want[i] == 'y') {
					t.Errorf("Principal %s, caller %s, identity allow %v: allowed=%v (%s)", g.principal, c.name, withID == 1, d.Allowed, d.Reason)
				}
				n++
			}
		}
	}
	// Deny with NotPrincipal: denies everyone but the listed.
	rp := must(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"},
		{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/alice","111122223333"]},"Action":"ecr:*"}]}`, ResourcePolicy)
	for _, c := range []struct {
		p    Principal
		want bool
	}{{alice, true}, {bob, false}, {ciS1, false}} {
		d := Evaluate(Request{Principal: c.p, Action: "ecr:PutImage", Resource: repoR, ResourceAccount: acctA}, []*Policy{idAllow}, []*Policy{rp})
		if d.Allowed != c.want {
			t.Errorf("NotPrincipal deny, caller %s: allowed=%v", c.p.ARN, d.Allowed)
		}
	}
	if n != len(grid)*6 {
		t.Fatal(fmt.Sprint("grid size ", n))
	}
}
