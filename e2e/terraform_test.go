package e2e

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// TestTerraformResourceCalls makes, with the AWS SDK for Go v2 (which Terraform's AWS provider is built
// on), the calls that provider makes to create, read, update, import and destroy
// aws_ecr_replication_configuration, aws_ecr_pull_through_cache_rule and
// aws_ecr_repository_creation_template, and checks the members and errors it reads back.
func TestTerraformResourceCalls(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ecr.New(ecr.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + s.addr),
		Credentials:  credentials.NewStaticCredentialsProvider(adminKeyID, adminSecret, ""),
	})
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// aws_ecr_replication_configuration: put, then read through DescribeRegistry; destroy puts no rules.
	must(c.PutReplicationConfiguration(ctx, &ecr.PutReplicationConfigurationInput{ReplicationConfiguration: &types.ReplicationConfiguration{
		Rules: []types.ReplicationRule{{
			Destinations:      []types.ReplicationDestination{{Region: aws.String("eu-west-1"), RegistryId: aws.String("000000000000")}},
			RepositoryFilters: []types.RepositoryFilter{{Filter: aws.String("prod"), FilterType: types.RepositoryFilterTypePrefixMatch}},
		}},
	}}))
	reg, err := c.DescribeRegistry(ctx, &ecr.DescribeRegistryInput{})
	if err != nil {
		t.Fatal(err)
	}
	rules := reg.ReplicationConfiguration.Rules
	if aws.ToString(reg.RegistryId) != "000000000000" || len(rules) != 1 || aws.ToString(rules[0].Destinations[0].Region) != "eu-west-1" ||
		aws.ToString(rules[0].RepositoryFilters[0].Filter) != "prod" || rules[0].RepositoryFilters[0].FilterType != types.RepositoryFilterTypePrefixMatch {
		t.Fatalf("DescribeRegistry: %+v", reg.ReplicationConfiguration)
	}
	must(c.PutReplicationConfiguration(ctx, &ecr.PutReplicationConfigurationInput{ReplicationConfiguration: &types.ReplicationConfiguration{Rules: []types.ReplicationRule{}}}))
	if reg, err = c.DescribeRegistry(ctx, &ecr.DescribeRegistryInput{}); err != nil || len(reg.ReplicationConfiguration.Rules) != 0 {
		t.Fatalf("DescribeRegistry after destroy: %v %+v", err, reg)
	}

	// aws_ecr_pull_through_cache_rule: create, read by prefix (and registry id, on import), update, delete;
	// a read after delete is PullThroughCacheRuleNotFoundException, which the provider takes as gone.
	created, err := c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("ecr-public"), UpstreamRegistryUrl: aws.String("public.ecr.aws")})
	if err != nil {
		t.Fatal(err)
	}
	if created.UpstreamRegistry != types.UpstreamRegistryEcrPublic || created.CreatedAt == nil || aws.ToString(created.RegistryId) != "000000000000" {
		t.Fatalf("CreatePullThroughCacheRule: %+v", created)
	}
	rs, err := c.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{
		EcrRepositoryPrefixes: []string{"ecr-public"}, RegistryId: aws.String("000000000000")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.PullThroughCacheRules) != 1 || aws.ToString(rs.PullThroughCacheRules[0].UpstreamRegistryUrl) != "public.ecr.aws" ||
		rs.PullThroughCacheRules[0].UpstreamRegistry != types.UpstreamRegistryEcrPublic {
		t.Fatalf("DescribePullThroughCacheRules: %+v", rs.PullThroughCacheRules)
	}
	// Docker Hub needs a credential; the provider passes the secret's ARN it created.
	_, err = c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: aws.String("registry-1.docker.io")})
	var unsupported *types.UnsupportedUpstreamRegistryException
	if !errors.As(err, &unsupported) {
		t.Fatalf("Docker Hub without a credential: %v", err)
	}
	must(c.DeletePullThroughCacheRule(ctx, &ecr.DeletePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("ecr-public")}))
	_, err = c.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{EcrRepositoryPrefixes: []string{"ecr-public"}})
	var ruleGone *types.PullThroughCacheRuleNotFoundException
	if !errors.As(err, &ruleGone) {
		t.Fatalf("a deleted rule: %v", err)
	}
	_, err = c.UpdatePullThroughCacheRule(ctx, &ecr.UpdatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("ecr-public"),
		CredentialArn: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/x-AbCdEf")})
	if !errors.As(err, &ruleGone) {
		t.Fatalf("updating a deleted rule: %v", err)
	}

	// aws_ecr_repository_creation_template: create with every argument the resource has, read by prefix,
	// update in place, delete.
	lifecycle := `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"ecr:BatchGetImage"}]}`
	tc, err := c.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("tf"), AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForReplication, types.RCTAppliedForPullThroughCache},
		Description: aws.String("managed by terraform"), ImageTagMutability: types.ImageTagMutabilityImmutable,
		EncryptionConfiguration: &types.EncryptionConfigurationForRepositoryCreationTemplate{EncryptionType: types.EncryptionTypeAes256},
		LifecyclePolicy:         aws.String(lifecycle), RepositoryPolicy: aws.String(policy),
		ResourceTags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := tc.RepositoryCreationTemplate; aws.ToString(got.Prefix) != "tf" || len(got.AppliedFor) != 2 || got.CreatedAt == nil ||
		aws.ToString(got.LifecyclePolicy) != lifecycle || got.EncryptionConfiguration.EncryptionType != types.EncryptionTypeAes256 {
		t.Fatalf("CreateRepositoryCreationTemplate: %+v", got)
	}
	ts, err := c.DescribeRepositoryCreationTemplates(ctx, &ecr.DescribeRepositoryCreationTemplatesInput{Prefixes: []string{"tf"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.RepositoryCreationTemplates) != 1 || aws.ToString(ts.RepositoryCreationTemplates[0].RepositoryPolicy) == "" ||
		len(ts.RepositoryCreationTemplates[0].ResourceTags) != 1 || aws.ToString(ts.RegistryId) != "000000000000" {
		t.Fatalf("DescribeRepositoryCreationTemplates: %+v", ts)
	}
	up, err := c.UpdateRepositoryCreationTemplate(ctx, &ecr.UpdateRepositoryCreationTemplateInput{Prefix: aws.String("tf"),
		ImageTagMutability: types.ImageTagMutabilityMutable, AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForCreateOnPush}})
	if err != nil {
		t.Fatal(err)
	}
	if got := up.RepositoryCreationTemplate; got.ImageTagMutability != types.ImageTagMutabilityMutable ||
		len(got.AppliedFor) != 1 || got.AppliedFor[0] != types.RCTAppliedForCreateOnPush || aws.ToString(got.Description) != "managed by terraform" {
		t.Fatalf("UpdateRepositoryCreationTemplate: %+v", got)
	}
	must(c.DeleteRepositoryCreationTemplate(ctx, &ecr.DeleteRepositoryCreationTemplateInput{Prefix: aws.String("tf")}))
	// The operation has no not-found error: the list is empty, which the provider takes as gone.
	if ts, err = c.DescribeRepositoryCreationTemplates(ctx, &ecr.DescribeRepositoryCreationTemplatesInput{Prefixes: []string{"tf"}}); err != nil || len(ts.RepositoryCreationTemplates) != 0 {
		t.Fatalf("a deleted template: %v %+v", err, ts)
	}
	_, err = c.DeleteRepositoryCreationTemplate(ctx, &ecr.DeleteRepositoryCreationTemplateInput{Prefix: aws.String("tf")})
	var templateGone *types.TemplateNotFoundException
	if !errors.As(err, &templateGone) {
		t.Fatalf("deleting a deleted template: %v", err)
	}
}
