package iam

import "fmt"

// BenchmarkSetup builds the benchmark's workload: 10 identity policies of 3 statements and a 20-statement
// repository policy, with conditions, and a request none of their early statements match.
func BenchmarkSetup() (Request, []*Policy, []*Policy) {
	var identity []*Policy
	for i := 0; i < 10; i++ {
		doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":["ecr:Describe*","ecr:List*"],"Resource":"arn:aws:ecr:us-east-1:111122223333:repository/team%d/*"},
			{"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"t%d"}}},
			{"Effect":"Deny","Action":"ecr:Delete*","Resource":"*","Condition":{"StringNotEquals":{"aws:ResourceTag/env":"dev"}}}]}`, i, i)
		p, err := Parse(doc, IdentityPolicy)
		if err != nil {
			panic(err)
		}
		identity = append(identity, p)
	}
	stmts := ""
	for i := 0; i < 20; i++ {
		if i > 0 {
			stmts += ","
		}
		stmts += fmt.Sprintf(`{"Sid":"s%d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/u%d"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Condition":{"IpAddress":{"aws:SourceIp":"10.%d.0.0/16"}}}`, i, i, i)
	}
	resource, err := Parse(`{"Version":"2012-10-17","Statement":[`+stmts+`]}`, ResourcePolicy)
	if err != nil {
		panic(err)
	}
	req := Request{
		Principal: Principal{ARN: "arn:aws:iam::111122223333:user/u19", Account: "111122223333", Type: "User", UserName: "u19", UserID: "AIDAU19"},
		Action:    "ecr:BatchGetImage", Resource: "arn:aws:ecr:us-east-1:111122223333:repository/team/app", ResourceAccount: "111122223333",
		Context: map[string][]string{"aws:sourceip": {"10.19.3.4"}, "aws:resourcetag/team": {"other"}, "aws:resourcetag/env": {"dev"},
			"aws:currenttime": {"2026-05-01T00:00:00Z"}},
	}
	return req, identity, []*Policy{resource}
}
