package iam

import (
	"maps"
	"slices"
	"strings"
)

// AWS managed policies Wharf knows, by ARN, with the action lists of the user guide.
const (
	AdministratorAccess = "arn:aws:iam::aws:policy/AdministratorAccess"
	ECRFullAccess       = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess"
	ECRPowerUser        = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser"
	ECRReadOnly         = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
	ECRPullOnly         = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly"
)

var readOnlyActions = []string{
	"ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
	"ecr:GetRepositoryPolicy", "ecr:DescribeRepositories", "ecr:ListImages", "ecr:DescribeImages",
	"ecr:BatchGetImage", "ecr:GetLifecyclePolicy", "ecr:GetLifecyclePolicyPreview", "ecr:ListTagsForResource",
	"ecr:DescribeImageScanFindings",
}

func allow(actions ...string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["` + strings.Join(actions, `","`) + `"],"Resource":"*"}]}`
}

var managedDocuments = map[string]string{
	AdministratorAccess: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
	ECRFullAccess: `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["ecr:*","cloudtrail:LookupEvents"],"Resource":"*"},
		{"Effect":"Allow","Action":["iam:CreateServiceLinkedRole"],"Resource":"*",
		 "Condition":{"StringEquals":{"iam:AWSServiceName":["replication.ecr.amazonaws.com"]}}}]}`,
	ECRReadOnly:  allow(readOnlyActions...),
	ECRPowerUser: allow(append(append([]string{}, readOnlyActions...), "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage")...),
	ECRPullOnly:  allow("ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchImportUpstreamImage"),
}

var managedPolicies = func() map[string]*Policy {
	out := make(map[string]*Policy, len(managedDocuments))
	for arn, doc := range managedDocuments {
		p, err := Parse(doc, IdentityPolicy)
		if err != nil {
			panic("managed policy " + arn + ": " + err.Error())
		}
		out[arn] = p
	}
	return out
}()

// Managed returns an AWS managed policy by ARN.
func Managed(arn string) (*Policy, bool) {
	p, ok := managedPolicies[arn]
	return p, ok
}

// ManagedARNs lists the ARNs of the AWS managed policies Wharf knows, in order.
func ManagedARNs() []string { return slices.Sorted(maps.Keys(managedDocuments)) }
