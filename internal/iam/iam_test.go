package iam

import (
	"errors"
	"strings"
	"testing"
)

const (
	acctA = "111122223333"
	acctB = "444455556666"
	repoR = "arn:aws:ecr:us-east-1:111122223333:repository/team/app"
)

var (
	alice = Principal{ARN: "arn:aws:iam::111122223333:user/alice", Account: acctA, Type: "User", UserName: "alice", UserID: "AIDAALICE"}
	bob   = Principal{ARN: "arn:aws:iam::444455556666:user/bob", Account: acctB, Type: "User", UserName: "bob", UserID: "AIDABOB"}
	carol = Principal{ARN: "arn:aws:iam::777788889999:user/carol", Account: "777788889999", Type: "User", UserName: "carol"}
	ciS1  = Principal{ARN: "arn:aws:sts::111122223333:assumed-role/ci/s1", Account: acctA, Type: "AssumedRole", RoleARN: "arn:aws:iam::111122223333:role/ci", UserID: "AROACI:s1"}
)

func must(t *testing.T, text string, kind Kind) *Policy {
	t.Helper()
	p, err := Parse(text, kind)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return p
}

func idp(t *testing.T, statements ...string) []*Policy {
	return []*Policy{must(t, `{"Version":"2012-10-17","Statement":[`+strings.Join(statements, ",")+`]}`, IdentityPolicy)}
}

func rp(t *testing.T, statements ...string) []*Policy {
	return []*Policy{must(t, `{"Version":"2012-10-17","Statement":[`+strings.Join(statements, ",")+`]}`, ResourcePolicy)}
}

// TestHardCases is the table of reference/iam-evaluation.md §9, case by case.
func TestHardCases(t *testing.T) {
	req := func(p Principal, action, resource string, ctx map[string][]string) Request {
		acct := acctA
		if resource == "*" {
			acct = p.Account
		}
		return Request{Principal: p, Action: action, Resource: resource, ResourceAccount: acct, Context: ctx}
	}
	untagged := map[string][]string{}
	cases := []struct {
		n        int
		identity []*Policy
		resource []*Policy
		req      Request
		allow    bool
		reason   string
	}{
		{1, nil, nil, req(alice, "ecr:BatchGetImage", repoR, nil), false, "because no identity-based policy allows the ecr:BatchGetImage action"},
		{2, idp(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*"}`), rp(t, `{"Effect":"Deny","Principal":"*","Action":"ecr:BatchGetImage"}`),
			req(alice, "ecr:BatchGetImage", repoR, nil), false, "with an explicit deny in a resource-based policy"},
		{3, nil, rp(t, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"ecr:BatchGetImage"}`),
			req(alice, "ecr:BatchGetImage", repoR, nil), true, ""},
		{4, nil, rp(t, `{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"ecr:BatchGetImage"}`),
			req(alice, "ecr:BatchGetImage", repoR, nil), false, "because no identity-based policy allows the ecr:BatchGetImage action"},
		{5, idp(t, `{"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"`+repoR+`"}`), rp(t, `{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"ecr:BatchGetImage"}`),
			req(alice, "ecr:BatchGetImage", repoR, nil), true, ""},
		{6, nil, rp(t, `{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}`), req(alice, "ecr:BatchGetImage", repoR, nil), true, ""},
		{7, nil, rp(t, `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"ecr:BatchGetImage"}`),
			req(bob, "ecr:BatchGetImage", repoR, nil), false, "because no identity-based policy allows the ecr:BatchGetImage action"},
		{8, idp(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*"}`), nil,
			req(bob, "ecr:InitiateLayerUpload", repoR, nil), false, "because no resource-based policy allows the ecr:InitiateLayerUpload action"},
		{9, idp(t, `{"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"`+repoR+`"}`), rp(t, `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"ecr:BatchGetImage"}`),
			req(bob, "ecr:BatchGetImage", repoR, nil), true, ""},
		{10, nil, rp(t, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ci"},"Action":"ecr:BatchGetImage"}`),
			req(ciS1, "ecr:BatchGetImage", repoR, nil), true, ""},
		{11, idp(t, `{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"arn:aws:ecr:us-east-1:111122223333:repository/*"}`), nil,
			req(alice, "ecr:GetAuthorizationToken", "*", nil), false, "because no identity-based policy allows the ecr:GetAuthorizationToken action"},
		{12, idp(t, `{"Effect":"Allow","Action":"ECR:batchgetimage","Resource":"`+repoR+`"}`), nil, req(alice, "ecr:BatchGetImage", repoR, nil), true, ""},
		{13, idp(t, `{"Effect":"Allow","Action":"ecr:Get*","Resource":"*"}`), nil, req(alice, "ecr:BatchGetImage", repoR, nil), false, "because no identity-based policy allows the ecr:BatchGetImage action"},
		{14, idp(t, `{"Effect":"Allow","Action":"ecr:PutImage","Resource":"arn:aws:ecr:us-east-1:111122223333:repository/team/*"}`), nil,
			req(alice, "ecr:PutImage", repoR+"/sub", nil), true, ""},
		{15, idp(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:us-west-2:111122223333:repository/*"}`), nil,
			req(alice, "ecr:PutImage", repoR, nil), false, "because no identity-based policy allows the ecr:PutImage action"},
		{16, idp(t, `{"Effect":"Allow","NotAction":"ecr:Delete*","Resource":"*"}`), nil,
			req(alice, "ecr:DeleteRepository", repoR, nil), false, "because no identity-based policy allows the ecr:DeleteRepository action"},
		{17, idp(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*"}`, `{"Effect":"Deny","Action":"ecr:*","NotResource":"`+repoR+`"}`), nil,
			req(alice, "ecr:PutImage", repoR+"2", nil), false, "with an explicit deny in an identity-based policy"},
		{17, idp(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*"}`, `{"Effect":"Deny","Action":"ecr:*","NotResource":"`+repoR+`"}`), nil,
			req(alice, "ecr:PutImage", repoR, nil), true, ""},
		{18, idp(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/env":"dev"}}}`), nil,
			req(alice, "ecr:PutImage", repoR, untagged), false, "because no identity-based policy allows the ecr:PutImage action"},
		{19, idp(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*"}`, `{"Effect":"Deny","Action":"ecr:*","Resource":"*","Condition":{"StringNotEquals":{"aws:ResourceTag/env":"prod"}}}`), nil,
			req(alice, "ecr:PutImage", repoR, untagged), false, "with an explicit deny in an identity-based policy"},
		{20, idp(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:ResourceTag/env":"dev"}}}`), nil,
			req(alice, "ecr:PutImage", repoR, untagged), true, ""},
		{21, idp(t, `{"Effect":"Allow","Action":"ecr:CreateRepository","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team"]}}}`), nil,
			req(alice, "ecr:CreateRepository", repoR, nil), true, ""},
		{21, idp(t, `{"Effect":"Allow","Action":"ecr:CreateRepository","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team"]}}}`), nil,
			req(alice, "ecr:CreateRepository", repoR, map[string][]string{"aws:TagKeys": {"team", "cost"}}), false, "because no identity-based policy allows the ecr:CreateRepository action"},
		{22, idp(t, `{"Effect":"Allow","Action":"ecr:CreateRepository","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":["team"]}}}`), nil,
			req(alice, "ecr:CreateRepository", repoR, nil), false, "because no identity-based policy allows the ecr:CreateRepository action"},
		{23, idp(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/Env":"dev"}}}`), nil,
			req(alice, "ecr:PutImage", repoR, map[string][]string{"aws:ResourceTag/env": {"dev"}}), true, ""},
		{23, idp(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/Env":"dev"}}}`), nil,
			req(alice, "ecr:PutImage", repoR, map[string][]string{"aws:ResourceTag/env": {"Dev"}}), false, "because no identity-based policy allows the ecr:PutImage action"},
		{24, idp(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*"}`),
			rp(t, `{"Effect":"Allow","Principal":"*","Action":"ecr:*"}`, `{"Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":["111122223333","444455556666"]}}}`),
			req(bob, "ecr:BatchGetImage", repoR, nil), true, ""},
		{24, idp(t, `{"Effect":"Allow","Action":"ecr:*","Resource":"*"}`),
			rp(t, `{"Effect":"Allow","Principal":"*","Action":"ecr:*"}`, `{"Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":["111122223333","444455556666"]}}}`),
			req(carol, "ecr:BatchGetImage", repoR, nil), false, "with an explicit deny in a resource-based policy"},
		{25, []*Policy{must(t, `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"ecr:PutImage","Resource":"arn:aws:ecr:us-east-1:111122223333:repository/${aws:username}/*"}}`, IdentityPolicy)}, nil,
			req(alice, "ecr:PutImage", "arn:aws:ecr:us-east-1:111122223333:repository/alice/x", nil), false, "because no identity-based policy allows the ecr:PutImage action"},
		{25, idp(t, `{"Effect":"Allow","Action":"ecr:PutImage","Resource":"arn:aws:ecr:us-east-1:111122223333:repository/${aws:username}/*"}`), nil,
			req(alice, "ecr:PutImage", "arn:aws:ecr:us-east-1:111122223333:repository/alice/x", nil), true, ""},
	}
	for _, c := range cases {
		d := Evaluate(c.req, c.identity, c.resource)
		if d.Allowed != c.allow || d.Reason != c.reason {
			t.Errorf("case %d: got allowed=%v %q, want allowed=%v %q", c.n, d.Allowed, d.Reason, c.allow, c.reason)
		}
	}
}

func TestConditionOperators(t *testing.T) {
	ctx := map[string][]string{
		"aws:SourceIp": {"10.1.2.3"}, "aws:CurrentTime": {"2026-05-01T12:00:00Z"}, "aws:MultiFactorAuthPresent": {"false"},
		"ecr:ResourceTag/count": {"7"}, "aws:RequestTag/team": {"Devs"},
	}
	cases := map[string]bool{
		`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`:                                              true,
		`{"IpAddress":{"aws:SourceIp":["192.168.0.0/16","10.1.2.3"]}}`:                             true,
		`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`:                                           false,
		`{"DateLessThan":{"aws:CurrentTime":"2026-06-01T00:00:00Z"}}`:                              true,
		`{"DateGreaterThan":{"aws:CurrentTime":"2026-06-01T00:00:00Z"}}`:                           false,
		`{"Bool":{"aws:MultiFactorAuthPresent":"false"}}`:                                          true,
		`{"Bool":{"aws:MultiFactorAuthPresent":true}}`:                                             false,
		`{"NumericGreaterThanEquals":{"ecr:ResourceTag/count":5}}`:                                 true,
		`{"NumericLessThan":{"ecr:ResourceTag/count":"5"}}`:                                        false,
		`{"StringEqualsIgnoreCase":{"aws:RequestTag/team":"devs"}}`:                                true,
		`{"StringLike":{"aws:RequestTag/team":"D?v*"}}`:                                            true,
		`{"StringNotLike":{"aws:RequestTag/team":["x*","D*"]}}`:                                    false,
		`{"Null":{"aws:RequestTag/absent":"true"}}`:                                                true,
		`{"Null":{"aws:RequestTag/team":"true"}}`:                                                  false,
		`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}`:                      true,
		`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*"}}`:                                        false, // * does not cross ':' in ARN parts
		`{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*"}}`:                                     true,
		`{"StringEquals":{"aws:username":"${aws:username}"}}`:                                      true,
		`{"StringEquals":{"aws:RequestTag/team":"${aws:PrincipalTag/team}"}}`:                      false, // unresolved
		`{"StringNotEquals":{"aws:RequestTag/team":"${aws:PrincipalTag/team}"}}`:                   true,
		`{"StringEquals":{"aws:RequestTag/team":"${aws:PrincipalTag/team, 'Devs'}"}}`:              true,
		`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:MultiFactorAuthPresent":"true"}}`: false,
	}
	for cond, want := range cases {
		p := must(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":`+cond+`}}`, IdentityPolicy)
		d := Evaluate(Request{Principal: alice, Action: "ecr:ListImages", Resource: repoR, ResourceAccount: acctA, Context: ctx}, []*Policy{p}, nil)
		if d.Allowed != want {
			t.Errorf("%s: allowed=%v, want %v", cond, d.Allowed, want)
		}
	}
}

func TestGrammar(t *testing.T) {
	bad := map[string]Kind{
		`not json`:                 IdentityPolicy,
		`{"Version":"2012-10-17"}`: IdentityPolicy,
		`{"Version":"2019-01-01","Statement":[]}`:                                                                     IdentityPolicy,
		`{"Statement":{"Effect":"allow","Action":"ecr:*","Resource":"*"}}`:                                            IdentityPolicy,
		`{"Statement":{"Effect":"Allow","Resource":"*"}}`:                                                             IdentityPolicy,
		`{"Statement":{"Effect":"Allow","Action":"ecr:*","NotAction":"ecr:x","Resource":"*"}}`:                        IdentityPolicy,
		`{"Statement":{"Effect":"Allow","Action":"ecr:*"}}`:                                                           IdentityPolicy,
		`{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"*"}}`:                            IdentityPolicy,
		`{"Statement":{"Effect":"Allow","Action":"ecr:*"}}  `:                                                         ResourcePolicy,
		`{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1111*"},"Action":"ecr:*"}}`:                  ResourcePolicy,
		`{"Statement":{"Effect":"Allow","Principal":"someone","Action":"ecr:*"}}`:                                     ResourcePolicy,
		`{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"Nope":{"a":"b"}}}}`:            ResourcePolicy,
		`{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*","Unknown":1}}`:                               ResourcePolicy,
		`{"Statement":{"Effect":"Allow","Principal":"*","Action":"BatchGetImage"}}`:                                   ResourcePolicy,
		`{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"NullIfExists":{"a":"true"}}}}`: ResourcePolicy,
	}
	for text, kind := range bad {
		if _, err := Parse(text, kind); !errors.Is(err, ErrInvalid) {
			t.Errorf("accepted %s: %v", text, err)
		}
	}
	// The user guide's repository policy example: Sid with spaces, one-element lists as bare values.
	must(t, `{"Version":"2008-10-17","Statement":[{"Sid":"allow public pull","Effect":"Allow","Principal":"*","Action":["ecr:BatchCheckLayerAvailability","ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`, ResourcePolicy)
}

func FuzzParse(f *testing.F) {
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:TagKeys":["a*"]}}}}`, true)
	f.Add(`{"Statement":[{"Effect":"Deny","Principal":{"AWS":["111122223333"]},"NotAction":"ecr:Get*"}]}`, false)
	f.Fuzz(func(t *testing.T, text string, identity bool) {
		kind := ResourcePolicy
		if identity {
			kind = IdentityPolicy
		}
		p, err := Parse(text, kind)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error of unknown kind: %v", err)
			}
			return
		}
		Evaluate(Request{Principal: alice, Action: "ecr:BatchGetImage", Resource: repoR, ResourceAccount: acctA,
			Context: map[string][]string{"aws:TagKeys": {"a"}}}, []*Policy{p}, []*Policy{p})
	})
}

func TestManagedPolicies(t *testing.T) {
	cases := []struct {
		arn, action string
		allow       bool
	}{
		{ECRReadOnly, "ecr:BatchGetImage", true},
		{ECRReadOnly, "ecr:PutImage", false},
		{ECRPowerUser, "ecr:PutImage", true},
		{ECRPowerUser, "ecr:DeleteRepository", false},
		{ECRFullAccess, "ecr:DeleteRepository", true},
		{ECRPullOnly, "ecr:BatchGetImage", true},
		{ECRPullOnly, "ecr:ListImages", false},
		{AdministratorAccess, "iam:CreateUser", true},
	}
	for _, c := range cases {
		p, ok := Managed(c.arn)
		if !ok {
			t.Fatalf("%s unknown", c.arn)
		}
		d := Evaluate(Request{Principal: alice, Action: c.action, Resource: repoR, ResourceAccount: acctA}, []*Policy{p}, nil)
		if d.Allowed != c.allow {
			t.Errorf("%s %s: allowed=%v", c.arn, c.action, d.Allowed)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	req, identity, resource := BenchmarkSetup()
	if !Evaluate(req, identity, resource).Allowed {
		b.Fatal("the benchmark request should be allowed by the last repository statement")
	}
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(req, identity, resource)
	}
}
