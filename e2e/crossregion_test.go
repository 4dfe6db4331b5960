package e2e

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// regionEnv is the environment of the aws CLI talking to a deployment of region as an access key.
func regionEnv(keyID, secret, region, addr string) []string {
	return []string{"AWS_ACCESS_KEY_ID=" + keyID, "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_DEFAULT_REGION=" + region,
		"AWS_ENDPOINT_URL=http://" + addr, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
}

// logs are the logs of nodes.
func logs(nodes []*wharfProc) string {
	var b strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&b, "%s:\n%s\n", n.addr, n.log)
	}
	return b.String()
}

// metric sums the samples of a Prometheus series whose line starts with prefix (its name and labels).
func metric(t *testing.T, addr, prefix string) float64 {
	t.Helper()
	var sum float64
	if addr == "" {
		return 0
	}
	for _, line := range strings.Split(get(t, "http://"+addr+"/metrics"), "\n") {
		var name string
		var v float64
		if _, err := fmt.Sscan(line, &name, &v); err == nil && strings.HasPrefix(name, prefix) {
			sum += v
		}
	}
	return sum
}

// TestReplicationToAnotherRegion: two deployments, us-east-1 and us-west-2, the account 000000000000 on
// both. The source account keeps an access key of its IAM user at us-west-2 in the secret
// wharf/replication/us-west-2; its replication configuration names us-west-2 for itself and for the
// account 444455556666 there, whose registry policy allows it. A crane push replicates to both, only the
// blobs the destination lacks are uploaded, and a push while the destination is down catches up when it
// returns.
func TestReplicationToAnotherRegion(t *testing.T) {
	eastMetrics := freeAddr(t)
	replicationToAnotherRegion(t, eastMetrics, func(args ...string) []*wharfProc {
		return []*wharfProc{startServer(t, t.TempDir(), append(args, "--metrics-addr", eastMetrics)...)}
	})
}

// TestReplicationToAnotherRegionFromThreeNodes: the same, the source three nodes on PostgreSQL and S3.
func TestReplicationToAnotherRegionFromThreeNodes(t *testing.T) {
	replicationToAnotherRegion(t, "", func(args ...string) []*wharfProc {
		nodes, _, _ := startCluster(t, 3, args...)
		return nodes
	})
}

// replicationToAnotherRegion runs the scenario with the source's nodes that startSource starts with args;
// eastMetrics is where the source's metrics are served ("": not checked).
func replicationToAnotherRegion(t *testing.T, eastMetrics string, startSource func(args ...string) []*wharfProc) {
	crane := tool(t, "crane")
	westMetrics := freeAddr(t)
	west := startServer(t, t.TempDir(), "--region", "us-west-2", "--metrics-addr", westMetrics)
	westAdmin := regionEnv(adminKeyID, adminSecret, "us-west-2", west.addr)

	// At us-west-2: the replicating user of 000000000000, and the account 444455556666 whose registry
	// policy lets 000000000000 replicate into it.
	awsAs(t, westAdmin, "iam", "create-user", "--user-name", "replicator")
	awsAs(t, westAdmin, "iam", "put-user-policy", "--user-name", "replicator", "--policy-name", "replicate", "--policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:*"],"Resource":"*"}]}`)
	var created struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	jsonOf(t, awsAs(t, westAdmin, "iam", "create-access-key", "--user-name", "replicator"), &created)
	var other struct{ AccessKeyId, SecretAccessKey string }
	jsonOf(t, west.wharf("admin", "create-account", "--account-id", "444455556666"), &other)
	westOther := regionEnv(other.AccessKeyId, other.SecretAccessKey, "us-west-2", west.addr)
	awsAs(t, westOther, "ecr", "put-registry-policy", "--policy-text", `{"Version":"2012-10-17","Statement":[{"Sid":"Replication","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],
		"Resource":"arn:aws:ecr:us-west-2:444455556666:repository/*"}]}`)

	nodes := startSource("--replication-peer", "us-west-2=http://"+west.addr, "--replication-retry-base", "200ms", "--replication-retry-max", "1s")
	east := nodes[0]
	reader := nodes[len(nodes)-1] // statuses are read from another node when there are several
	eastAdmin := regionEnv(adminKeyID, adminSecret, "us-east-1", east.addr)
	awsAs(t, eastAdmin, "secretsmanager", "create-secret", "--name", "wharf/replication/us-west-2", "--secret-string",
		fmt.Sprintf(`{"accessKeyId":%q,"secretAccessKey":%q}`, created.AccessKey.AccessKeyId, created.AccessKey.SecretAccessKey))
	east.aws("ecr", "put-replication-configuration", "--replication-configuration",
		`{"rules":[{"destinations":[{"region":"us-west-2","registryId":"000000000000"},{"region":"us-west-2","registryId":"444455556666"}]}]}`)
	east.aws("ecr", "create-repository", "--repository-name", "prod/app")
	east.login()
	// crane logs in to the destination too, in the same configuration.
	westPassword := strings.TrimSpace(awsAs(t, westAdmin, "ecr", "get-login-password"))
	if out, err := runEnv(t, nil, strings.NewReader(westPassword), crane, "auth", "login", west.addr, "-u", "AWS", "--password-stdin"); err != nil {
		t.Fatalf("crane auth login: %v %s", err, out)
	}

	type status struct {
		ImageID             struct{ ImageDigest string }
		ReplicationStatuses []struct{ Region, RegistryID, Status, FailureCode string }
	}
	describeIn := func(repo, tag string) status {
		t.Helper()
		var st status
		jsonOf(t, reader.aws("ecr", "describe-image-replication-status", "--repository-name", repo, "--image-id", "imageTag="+tag), &st)
		if len(st.ReplicationStatuses) != 2 {
			t.Fatalf("describe-image-replication-status: %+v", st)
		}
		return st
	}
	describe := func(tag string) status { t.Helper(); return describeIn("prod/app", tag) }
	// ended waits for the replications of an image to end and returns them as "registry STATUS code".
	ended := func(repo, tag string) []string {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			var out []string
			for _, r := range describeIn(repo, tag).ReplicationStatuses {
				if r.Status == "IN_PROGRESS" && time.Now().Before(deadline) {
					out = nil
					break
				}
				out = append(out, strings.TrimSpace(r.RegistryID+" "+r.Status+" "+r.FailureCode))
			}
			if out != nil {
				return out
			}
		}
	}
	// complete waits for both replications of tag to be COMPLETE.
	complete := func(tag string) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			st := describe(tag)
			done := true
			for _, r := range st.ReplicationStatuses {
				if r.Region != "us-west-2" || r.Status == "FAILED" {
					t.Fatalf("replication of %s: %+v\nsource log:\n%s", tag, st, logs(nodes))
				}
				done = done && r.Status == "COMPLETE"
			}
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("replication of %s not complete: %+v\nsource log:\n%s", tag, st, logs(nodes))
			}
		}
	}
	// replicated checks the image of tag at both destinations: crane pulls it from the same account, the
	// other account lists it, with the source's digest.
	replicated := func(tag, want string) {
		t.Helper()
		if d := strings.TrimSpace(run(t, crane, "digest", "--insecure", west.addr+"/prod/app:"+tag)); d != want {
			t.Fatalf("digest of %s at us-west-2: %s, want %s", tag, d, want)
		}
		run(t, crane, "pull", "--insecure", west.addr+"/prod/app:"+tag, filepath.Join(t.TempDir(), "image.tar"))
		got := awsAs(t, westOther, "ecr", "describe-images", "--repository-name", "prod/app", "--image-ids", "imageTag="+tag,
			"--query", "imageDetails[0].imageDigest", "--output", "text")
		if got != want {
			t.Fatalf("digest of %s in 444455556666 at us-west-2: %s, want %s", tag, got, want)
		}
	}
	uploads := func() float64 {
		return metric(t, westMetrics, `wharf_calls_total{action="ecr:InitiateLayerUpload",outcome="success",protocol="oci"}`)
	}

	work := t.TempDir()
	big := make([]byte, 1<<20)
	rand.Read(big)
	src := east.addr + "/prod/app"
	run(t, crane, "append", "--insecure", "-f", writeLayer(t, work, "base", map[string][]byte{"base": big}), "-t", src+":v1")
	d1 := strings.TrimSpace(run(t, crane, "digest", "--insecure", src+":v1"))
	complete("v1")
	replicated("v1", d1)
	if n := uploads(); n != 4 { // a layer and a config, to each registry
		t.Fatalf("blob uploads at the destination after v1: %v", n)
	}

	// v2 adds a layer to v1: the base layer, which the destinations have, is not uploaded again.
	run(t, crane, "append", "--insecure", "-b", src+":v1", "-f", writeLayer(t, work, "top", map[string][]byte{"top": []byte("v2")}), "-t", src+":v2")
	d2 := strings.TrimSpace(run(t, crane, "digest", "--insecure", src+":v2"))
	complete("v2")
	replicated("v2", d2)
	if n := uploads(); n != 8 {
		t.Fatalf("blob uploads at the destination after v2: %v, want 8 (only the new layer and config)", n)
	}
	if b := metric(t, eastMetrics, `wharf_replication_remote_bytes_total{region="us-west-2"}`); eastMetrics != "" && (b < 2<<20 || b > 3<<20) {
		t.Fatalf("bytes replicated: %v", b)
	}

	// The destination down during a push: the replication stays in progress, and completes when it returns
	// (the source restarted meanwhile).
	west.stop()
	run(t, crane, "append", "--insecure", "-b", src+":v2", "-f", writeLayer(t, work, "v3", map[string][]byte{"top": []byte("v3")}), "-t", src+":v3")
	d3 := strings.TrimSpace(run(t, crane, "digest", "--insecure", src+":v3"))
	time.Sleep(2 * time.Second) // several attempts fail meanwhile
	for _, r := range describe("v3").ReplicationStatuses {
		if r.Status != "IN_PROGRESS" {
			t.Fatalf("replication to a destination down: %+v", r)
		}
	}
	if n := metric(t, eastMetrics, `wharf_replications_remote_total{region="us-west-2",result="retry"}`); eastMetrics != "" && n < 2 {
		t.Fatalf("retries while the destination was down: %v", n)
	}
	// The source restarts too, meanwhile: its durable job resumes.
	for _, n := range nodes {
		n.stop()
	}
	west.start()
	for _, n := range nodes {
		n.start()
	}
	complete("v3")
	replicated("v3", d3)

	// The other account's registry policy allows replicating, not creating repositories: the image of a new
	// repository is FAILED there, CreateRepositoryDenied. Without a registry policy, ReplicateImageDenied.
	awsAs(t, westOther, "ecr", "put-registry-policy", "--policy-text", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":["ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-west-2:444455556666:repository/*"}]}`)
	east.aws("ecr", "create-repository", "--repository-name", "prod/new")
	run(t, crane, "append", "--insecure", "-f", writeLayer(t, work, "new", map[string][]byte{"new": []byte("new")}), "-t", east.addr+"/prod/new:v1")
	if got := fmt.Sprint(ended("prod/new", "v1")); got != "[000000000000 COMPLETE 444455556666 FAILED CreateRepositoryDenied]" {
		t.Fatalf("replication to a new repository: %s", got)
	}
	awsAs(t, westOther, "ecr", "delete-registry-policy")
	run(t, crane, "append", "--insecure", "-b", src+":v3", "-f", writeLayer(t, work, "v4", map[string][]byte{"top": []byte("v4")}), "-t", src+":v4")
	if got := fmt.Sprint(ended("prod/app", "v4")); got != "[000000000000 COMPLETE 444455556666 FAILED ReplicateImageDenied]" {
		t.Fatalf("replication without the registry policy: %s", got)
	}
}
