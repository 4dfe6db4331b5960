package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestReplicationToAnotherAccount configures replication with the aws CLI from one account to another of
// the same Wharf, whose registry policy allows it; an image crane pushes then appears in the other account
// with its tag, and describe-image-replication-status says COMPLETE. Without the destination's policy, the
// replication of the next push is FAILED; a destination in another region is FAILED at once.
func TestReplicationToAnotherAccount(t *testing.T) {
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir())
	work := t.TempDir()
	var key struct{ AccessKeyId, SecretAccessKey string }
	jsonOf(t, s.wharf("admin", "create-account", "--account-id", "444455556666"), &key)
	dest := accountEnv(key.AccessKeyId, key.SecretAccessKey, "http://"+s.addr)

	awsAs(t, dest, "ecr", "put-registry-policy", "--policy-text", `{"Version":"2012-10-17","Statement":[{"Sid":"Replication","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],
		"Resource":"arn:aws:ecr:us-east-1:444455556666:repository/*"}]}`)
	s.aws("ecr", "put-replication-configuration", "--replication-configuration",
		`{"rules":[{"destinations":[{"region":"us-east-1","registryId":"444455556666"},{"region":"eu-west-1","registryId":"444455556666"}],
		"repositoryFilters":[{"filter":"prod","filterType":"PREFIX_MATCH"}]}]}`)
	var reg struct {
		RegistryID               string
		ReplicationConfiguration struct {
			Rules []struct {
				Destinations      []struct{ Region, RegistryID string }
				RepositoryFilters []struct{ Filter, FilterType string }
			}
		}
	}
	jsonOf(t, s.aws("ecr", "describe-registry"), &reg)
	if rules := reg.ReplicationConfiguration.Rules; reg.RegistryID != "000000000000" || len(rules) != 1 || len(rules[0].Destinations) != 2 ||
		rules[0].RepositoryFilters[0].Filter != "prod" {
		t.Fatalf("describe-registry: %+v", reg)
	}
	if out := s.awsFails("ValidationException", "ecr", "put-replication-configuration", "--replication-configuration",
		`{"rules":[{"destinations":[{"region":"us-east-1","registryId":"444455556666"}],"repositoryFilters":[{"filter":"prod","filterType":"WILDCARD_MATCH"}]}]}`); !strings.Contains(out, "PREFIX_MATCH") {
		t.Errorf("a wildcard filter: %s", out)
	}

	s.aws("ecr", "create-repository", "--repository-name", "prod/app")
	s.login()
	src := s.addr + "/prod/app"
	run(t, crane, "append", "--insecure", "-f", writeLayer(t, work, "v1", map[string][]byte{"app": []byte("version 1")}), "-t", src+":v1")
	d1 := strings.TrimSpace(run(t, crane, "digest", "--insecure", src+":v1"))

	type status struct {
		ImageID             struct{ ImageDigest string }
		ReplicationStatuses []struct{ Region, RegistryID, Status, FailureCode string }
	}
	// replicated waits for the replication to this region to end, and returns the statuses.
	replicated := func(tag string) status {
		t.Helper()
		var st status
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			jsonOf(t, s.aws("ecr", "describe-image-replication-status", "--repository-name", "prod/app", "--image-id", "imageTag="+tag), &st)
			if len(st.ReplicationStatuses) != 2 {
				t.Fatalf("describe-image-replication-status: %+v", st)
			}
			if st.ReplicationStatuses[1].Status != "IN_PROGRESS" || time.Now().After(deadline) {
				return st
			}
		}
	}
	st := replicated("v1")
	far, here := st.ReplicationStatuses[0], st.ReplicationStatuses[1]
	if far.Region != "eu-west-1" || far.Status != "FAILED" || far.FailureCode != "CrossRegionReplicationNotConfigured" ||
		here.Region != "us-east-1" || here.RegistryID != "444455556666" || here.Status != "COMPLETE" || here.FailureCode != "" || st.ImageID.ImageDigest != d1 {
		t.Fatalf("replication of v1: %+v", st)
	}
	var images struct {
		ImageDetails []struct {
			ImageDigest string
			ImageTags   []string
		}
	}
	jsonOf(t, awsAs(t, dest, "ecr", "describe-images", "--repository-name", "prod/app"), &images)
	if len(images.ImageDetails) != 1 || images.ImageDetails[0].ImageDigest != d1 || len(images.ImageDetails[0].ImageTags) != 1 || images.ImageDetails[0].ImageTags[0] != "v1" {
		t.Fatalf("the destination's images: %+v", images)
	}
	// The replica's manifest is the pushed one.
	var got struct {
		Images []struct{ ImageManifest string }
	}
	jsonOf(t, awsAs(t, dest, "ecr", "batch-get-image", "--repository-name", "prod/app", "--image-ids", "imageTag=v1"), &got)
	if len(got.Images) != 1 || strings.TrimSpace(got.Images[0].ImageManifest) != strings.TrimSpace(run(t, crane, "manifest", "--insecure", src+":v1")) {
		t.Fatalf("the replica's manifest: %+v", got)
	}

	// Without the destination's registry policy, the next push fails to replicate.
	awsAs(t, dest, "ecr", "delete-registry-policy")
	run(t, crane, "append", "--insecure", "-f", writeLayer(t, work, "v2", map[string][]byte{"app": []byte("version 2")}), "-t", src+":v2")
	if st := replicated("v2"); st.ReplicationStatuses[1].Status != "FAILED" || st.ReplicationStatuses[1].FailureCode != "ReplicateImageDenied" {
		t.Fatalf("replication without the destination's policy: %+v", st)
	}
	jsonOf(t, awsAs(t, dest, "ecr", "describe-images", "--repository-name", "prod/app"), &images)
	if len(images.ImageDetails) != 1 {
		t.Fatalf("the destination's images after a denied replication: %+v", images)
	}
}
