package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// loginNodes logs crane in to every node with one registry password (a token from one node works on all).
func loginNodes(t *testing.T, nodes ...*wharfProc) {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	pw := nodes[0].password()
	for _, n := range nodes {
		if out, err := runEnv(t, nil, strings.NewReader(pw), tool(t, "crane"), "auth", "login", n.addr, "-u", "AWS", "--password-stdin"); err != nil {
			t.Fatalf("crane auth login %s: %v\n%s", n.addr, err, out)
		}
	}
}

// repoSettings are a repository's settings as the aws CLI reads them through a node: mutability, resource
// tags, lifecycle policy and repository policy.
type repoSettings struct {
	mutability, lifecycle, policy string
	tags                          []map[string]string
}

func settingsOf(t *testing.T, env []string, account, name string) repoSettings {
	t.Helper()
	var s repoSettings
	var repos struct{ Repositories []map[string]any }
	jsonOf(t, awsAs(t, env, "ecr", "describe-repositories", "--repository-names", name), &repos)
	s.mutability, _ = repos.Repositories[0]["imageTagMutability"].(string)
	var listed struct{ Tags []map[string]string }
	jsonOf(t, awsAs(t, env, "ecr", "list-tags-for-resource", "--resource-arn", "arn:aws:ecr:us-east-1:"+account+":repository/"+name), &listed)
	s.tags = listed.Tags
	if out, err := runEnv(t, env, nil, tool(t, "aws"), "ecr", "get-lifecycle-policy", "--repository-name", name,
		"--query", "lifecyclePolicyText", "--output", "text"); err == nil {
		s.lifecycle = strings.TrimSpace(out)
	} else if !strings.Contains(out, "LifecyclePolicyNotFoundException") {
		t.Fatalf("get-lifecycle-policy %s: %v\n%s", name, err, out)
	}
	if out, err := runEnv(t, env, nil, tool(t, "aws"), "ecr", "get-repository-policy", "--repository-name", name,
		"--query", "policyText", "--output", "text"); err == nil {
		s.policy = strings.TrimSpace(out)
	} else if !strings.Contains(out, "RepositoryPolicyNotFoundException") {
		t.Fatalf("get-repository-policy %s: %v\n%s", name, err, out)
	}
	return s
}

// sameJSON tells whether two JSON documents are equal, whatever their spacing and order of members.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

const (
	clusterLifecycle  = `{"rules":[{"rulePriority":1,"description":"keep five","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}`
	clusterRepoPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
)

// TestCreationTemplateOnThreeNodes: a CREATE_ON_PUSH template created through node 1 applies to a crane
// push to a new repository through node 2; node 3 shows the repository with the template's mutability,
// resource tags, lifecycle policy and repository policy.
func TestCreationTemplateOnThreeNodes(t *testing.T) {
	crane := tool(t, "crane")
	nodes, _, _ := startCluster(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	work := t.TempDir()
	lifecycleFile := filepath.Join(work, "lifecycle.json")
	os.WriteFile(lifecycleFile, []byte(clusterLifecycle), 0o644)
	n1.aws("ecr", "create-repository-creation-template", "--prefix", "team-a", "--applied-for", "CREATE_ON_PUSH",
		"--image-tag-mutability", "IMMUTABLE", "--lifecycle-policy", "file://"+lifecycleFile, "--repository-policy", clusterRepoPolicy,
		"--resource-tags", "Key=team,Value=a")

	loginNodes(t, n1, n2, n3)
	run(t, crane, "append", "--insecure", "-f", writeTar(t, work, "one", []byte("one")), "-t", n2.addr+"/team-a/app:v1")

	got := settingsOf(t, n3.awsEnv(), "000000000000", "team-a/app")
	if got.mutability != "IMMUTABLE" || !reflect.DeepEqual(got.tags, []map[string]string{{"Key": "team", "Value": "a"}}) ||
		!sameJSON(t, got.lifecycle, clusterLifecycle) || !sameJSON(t, got.policy, clusterRepoPolicy) {
		t.Fatalf("the repository created through node 2, read through node 3: %+v", got)
	}
	// The template's IMMUTABLE holds on every node.
	if out, err := runEnv(t, nil, nil, crane, "append", "--insecure", "-f", writeTar(t, work, "two", []byte("two")),
		"-t", n1.addr+"/team-a/app:v1"); err == nil || !strings.Contains(out, "immutable") {
		t.Fatalf("overwriting v1 through node 1: %v\n%s", err, out)
	}
	// Deleted through node 3, the template creates nothing more through node 1.
	n3.aws("ecr", "delete-repository-creation-template", "--prefix", "team-a")
	if out, err := runEnv(t, nil, nil, crane, "append", "--insecure", "-f", writeTar(t, work, "three", []byte("three")),
		"-t", n1.addr+"/team-a/web:v1"); err == nil || !strings.Contains(out, "NAME_UNKNOWN") {
		t.Fatalf("a push after the template's delete: %v\n%s", err, out)
	}
}

// TestReplicationOnThreeNodes: replication to another account of the deployment, configured through node
// 1, of images crane pushes through node 2, its status read through node 3; the destination repository is
// created from the destination's REPLICATION template. Without the destination's registry policy the
// next image's replication is FAILED with ReplicateImageDenied.
func TestReplicationOnThreeNodes(t *testing.T) {
	crane := tool(t, "crane")
	nodes, _, _ := startCluster(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	work := t.TempDir()
	var key struct{ AccessKeyId, SecretAccessKey string }
	jsonOf(t, n1.wharf("admin", "create-account", "--account-id", "444455556666"), &key)
	destOn := func(n *wharfProc) []string { return accountEnv(key.AccessKeyId, key.SecretAccessKey, "http://"+n.addr) }

	awsAs(t, destOn(n3), "ecr", "put-registry-policy", "--policy-text", `{"Version":"2012-10-17","Statement":[{"Sid":"Replication","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],
		"Resource":"arn:aws:ecr:us-east-1:444455556666:repository/*"}]}`)
	lifecycleFile := filepath.Join(work, "lifecycle.json")
	os.WriteFile(lifecycleFile, []byte(clusterLifecycle), 0o644)
	awsAs(t, destOn(n2), "ecr", "create-repository-creation-template", "--prefix", "prod", "--applied-for", "REPLICATION",
		"--image-tag-mutability", "IMMUTABLE", "--lifecycle-policy", "file://"+lifecycleFile, "--repository-policy", clusterRepoPolicy,
		"--resource-tags", "Key=replica,Value=yes")

	n1.aws("ecr", "create-repository", "--repository-name", "prod/app")
	loginNodes(t, n1, n2, n3)
	src := n2.addr + "/prod/app"
	push := func(tag string) string {
		run(t, crane, "append", "--insecure", "-f", writeLayer(t, work, tag, map[string][]byte{"app": []byte("version " + tag)}), "-t", src+":"+tag)
		return strings.TrimSpace(run(t, crane, "digest", "--insecure", src+":"+tag))
	}
	// Node 2 reads the (empty) replication configuration on this push, and caches it.
	push("v0")
	n1.aws("ecr", "put-replication-configuration", "--replication-configuration",
		`{"rules":[{"destinations":[{"region":"us-east-1","registryId":"444455556666"}],"repositoryFilters":[{"filter":"prod","filterType":"PREFIX_MATCH"}]}]}`)
	// A configuration changed through another node applies within --manifest-cache-ttl (1s by default).
	time.Sleep(1500 * time.Millisecond)
	d1 := push("v1")

	type status struct {
		ImageID             struct{ ImageDigest string }
		ReplicationStatuses []struct{ Region, RegistryID, Status, FailureCode string }
	}
	replicated := func(tag string) status {
		t.Helper()
		var st status
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			jsonOf(t, n3.aws("ecr", "describe-image-replication-status", "--repository-name", "prod/app", "--image-id", "imageTag="+tag), &st)
			if len(st.ReplicationStatuses) != 1 {
				t.Fatalf("describe-image-replication-status of %s through node 3: %+v", tag, st)
			}
			if st.ReplicationStatuses[0].Status != "IN_PROGRESS" || time.Now().After(deadline) {
				return st
			}
		}
	}
	if st := replicated("v1"); st.ImageID.ImageDigest != d1 || st.ReplicationStatuses[0].Status != "COMPLETE" ||
		st.ReplicationStatuses[0].RegistryID != "444455556666" || st.ReplicationStatuses[0].Region != "us-east-1" {
		t.Fatalf("replication of v1: %+v", st)
	}
	for _, n := range nodes {
		var images struct {
			ImageDetails []struct {
				ImageDigest string
				ImageTags   []string
			}
		}
		jsonOf(t, awsAs(t, destOn(n), "ecr", "describe-images", "--repository-name", "prod/app"), &images)
		if len(images.ImageDetails) != 1 || images.ImageDetails[0].ImageDigest != d1 || !reflect.DeepEqual(images.ImageDetails[0].ImageTags, []string{"v1"}) {
			t.Fatalf("the destination's images through %s: %+v", n.addr, images)
		}
	}
	var got struct {
		Images []struct{ ImageManifest string }
	}
	jsonOf(t, awsAs(t, destOn(n1), "ecr", "batch-get-image", "--repository-name", "prod/app", "--image-ids", "imageTag=v1"), &got)
	if len(got.Images) != 1 || strings.TrimSpace(got.Images[0].ImageManifest) != strings.TrimSpace(run(t, crane, "manifest", "--insecure", src+":v1")) {
		t.Fatalf("the replica's manifest: %+v", got)
	}
	// The destination repository, created from the destination's REPLICATION template.
	settings := settingsOf(t, destOn(n1), "444455556666", "prod/app")
	if settings.mutability != "IMMUTABLE" || !reflect.DeepEqual(settings.tags, []map[string]string{{"Key": "replica", "Value": "yes"}}) ||
		!sameJSON(t, settings.lifecycle, clusterLifecycle) || !sameJSON(t, settings.policy, clusterRepoPolicy) {
		t.Fatalf("the destination repository: %+v", settings)
	}

	// Two images pushed at once through two nodes to a repository the destination lacks: both replicated,
	// into one destination repository, whichever nodes ran the jobs.
	n1.aws("ecr", "create-repository", "--repository-name", "prod/web")
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i, n := range []*wharfProc{n1, n3} {
		tar := writeLayer(t, work, fmt.Sprint("w", i), map[string][]byte{"web": []byte(fmt.Sprint("web ", i))})
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = runEnv(t, nil, nil, crane, "append", "--insecure", "-f", tar, "-t", fmt.Sprintf("%s/prod/web:w%d", n.addr, i))
		}()
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("concurrent push %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	for _, tag := range []string{"w0", "w1"} {
		var st status
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			jsonOf(t, n2.aws("ecr", "describe-image-replication-status", "--repository-name", "prod/web", "--image-id", "imageTag="+tag), &st)
			if len(st.ReplicationStatuses) == 1 && st.ReplicationStatuses[0].Status != "IN_PROGRESS" || time.Now().After(deadline) {
				break
			}
		}
		if len(st.ReplicationStatuses) != 1 || st.ReplicationStatuses[0].Status != "COMPLETE" {
			t.Fatalf("replication of prod/web:%s: %+v", tag, st)
		}
	}
	var web struct {
		ImageDetails []struct{ ImageTags []string }
	}
	jsonOf(t, awsAs(t, destOn(n2), "ecr", "describe-images", "--repository-name", "prod/web"), &web)
	if len(web.ImageDetails) != 2 {
		t.Fatalf("the destination's prod/web: %+v", web)
	}

	// Without the destination's registry policy (its change applies on every node within
	// --policy-cache-ttl, 1s by default), the next push is not replicated.
	awsAs(t, destOn(n2), "ecr", "delete-registry-policy")
	time.Sleep(1500 * time.Millisecond)
	push("v2")
	if st := replicated("v2"); st.ReplicationStatuses[0].Status != "FAILED" || st.ReplicationStatuses[0].FailureCode != "ReplicateImageDenied" {
		t.Fatalf("replication without the destination's policy: %+v", st)
	}
	var images struct{ ImageDetails []any }
	jsonOf(t, awsAs(t, destOn(n3), "ecr", "describe-images", "--repository-name", "prod/app"), &images)
	if len(images.ImageDetails) != 1 {
		t.Fatalf("the destination's images after a denied replication: %+v", images)
	}

	// The audit trail: each replication is a ReplicateImage record, whichever node ran it, that names the
	// image, its repository and the destination, in the source account's trail and in the destination's.
	for _, env := range [][]string{n2.awsEnv(), destOn(n1)} {
		var events []trailEvent
		for deadline := time.Now().Add(10 * time.Second); len(events) < 4 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			events = lookup(t, env, "http://"+n3.addr, "EventName", "ReplicateImage") // v2's may follow its status
		}
		byTag := map[string]trailEvent{}
		for _, e := range events {
			tag, _ := member(e.record, "requestParameters.imageId.imageTag").(string)
			byTag[tag] = e
		}
		if len(events) != 4 || len(byTag) != 4 {
			t.Fatalf("ReplicateImage records: %+v", events)
		}
		ok, failed := byTag["v1"], byTag["v2"]
		for _, e := range []trailEvent{ok, failed} {
			checkRecord(t, e, map[string]any{"eventSource": "ecr.amazonaws.com", "userIdentity.type": "AWSService",
				"requestParameters.registryId": "000000000000", "requestParameters.repositoryName": "prod/app",
				"requestParameters.destination.region": "us-east-1", "requestParameters.destination.registryId": "444455556666"})
			var arns []string
			for _, r := range member(e.record, "resources").([]any) {
				arns = append(arns, r.(map[string]any)["ARN"].(string))
			}
			if !reflect.DeepEqual(arns, []string{"arn:aws:ecr:us-east-1:000000000000:repository/prod/app", "arn:aws:ecr:us-east-1:444455556666:repository/prod/app"}) {
				t.Errorf("ReplicateImage resources: %s", e.CloudTrailEvent)
			}
		}
		checkRecord(t, ok, map[string]any{"requestParameters.imageId.imageDigest": d1})
		if member(ok.record, "errorCode") != nil || member(failed.record, "errorCode") != "ReplicateImageDenied" {
			t.Errorf("ReplicateImage outcomes: %s\n%s", ok.CloudTrailEvent, failed.CloudTrailEvent)
		}
		if st, _ := member(ok.record, "responseElements.replicationStatuses").([]any); len(st) != 1 || st[0].(map[string]any)["status"] != "COMPLETE" {
			t.Errorf("ReplicateImage response: %s", ok.CloudTrailEvent)
		}
	}
}

// TestPullThroughCacheOnThreeNodes: a pull through cache rule for a second Wharf (one node on SQLite) as
// the upstream, with its password in a secret made through node 1, the rule made through node 2; crane's
// first pull through node 1 creates the repository from the PULL_THROUGH_CACHE template and caches the
// image; nodes 2 and 3 serve it from the cache, also once the upstream is stopped.
func TestPullThroughCacheOnThreeNodes(t *testing.T) {
	crane := tool(t, "crane")
	upstream := startServer(t, t.TempDir())
	nodes, _, _ := startCluster(t, 3, "--pull-through-allow-http")
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	work := t.TempDir()

	loginNodes(t, n1, n2, n3)
	// The upstream's login is its own (added to the same configuration).
	if out, err := runEnv(t, nil, strings.NewReader(upstream.password()), crane, "auth", "login", upstream.addr, "-u", "AWS", "--password-stdin"); err != nil {
		t.Fatalf("crane auth login upstream: %v\n%s", err, out)
	}
	upstream.aws("ecr", "create-repository", "--repository-name", "team/app")
	up := upstream.addr + "/team/app"
	run(t, crane, "append", "--insecure", "-f", writeTar(t, work, "v1", []byte("layer of v1")), "-t", up+":v1")
	want := strings.TrimSpace(run(t, crane, "digest", "--insecure", up+":v1"))

	var secret struct{ ARN string }
	jsonOf(t, n1.aws("secretsmanager", "create-secret", "--name", "ecr-pullthroughcache/up", "--endpoint-url", "http://"+n1.addr,
		"--secret-string", `{"username":"AWS","accessToken":"`+upstream.password()+`"}`), &secret)
	n2.aws("ecr", "create-pull-through-cache-rule", "--cli-input-json",
		`{"ecrRepositoryPrefix":"up","upstreamRegistryUrl":"http://`+upstream.addr+`","credentialArn":"`+secret.ARN+`"}`)
	var valid struct{ IsValid bool }
	if jsonOf(t, n3.aws("ecr", "validate-pull-through-cache-rule", "--ecr-repository-prefix", "up"), &valid); !valid.IsValid {
		t.Fatal("validate-pull-through-cache-rule through node 3: not valid")
	}
	lifecycleFile := filepath.Join(work, "lifecycle.json")
	os.WriteFile(lifecycleFile, []byte(clusterLifecycle), 0o644)
	n3.aws("ecr", "create-repository-creation-template", "--prefix", "up", "--applied-for", "PULL_THROUGH_CACHE",
		"--lifecycle-policy", "file://"+lifecycleFile, "--resource-tags", "Key=cache,Value=up")

	// The first pull, through node 1.
	if got := strings.TrimSpace(run(t, crane, "digest", "--insecure", n1.addr+"/up/team/app:v1")); got != want {
		t.Fatalf("first pull through node 1: %s, want %s", got, want)
	}
	run(t, crane, "pull", "--insecure", n1.addr+"/up/team/app:v1", filepath.Join(work, "n1.tar"))
	// The image is cached once its blobs are stored: describe-images through node 2 shows it.
	var images struct {
		ImageDetails []struct {
			ImageDigest string   `json:"imageDigest"`
			ImageTags   []string `json:"imageTags"`
		} `json:"imageDetails"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		images.ImageDetails = nil
		jsonOf(t, n2.aws("ecr", "describe-images", "--repository-name", "up/team/app"), &images)
		if len(images.ImageDetails) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("describe-images through node 2: %+v", images)
		}
	}
	if d := images.ImageDetails[0]; d.ImageDigest != want || !reflect.DeepEqual(d.ImageTags, []string{"v1"}) {
		t.Fatalf("the cached image: %+v", d)
	}
	settings := settingsOf(t, n3.awsEnv(), "000000000000", "up/team/app")
	if settings.mutability != "MUTABLE" || !reflect.DeepEqual(settings.tags, []map[string]string{{"Key": "cache", "Value": "up"}}) ||
		!sameJSON(t, settings.lifecycle, clusterLifecycle) || settings.policy != "" {
		t.Fatalf("the cache's repository, from the PULL_THROUGH_CACHE template: %+v", settings)
	}

	// Later pulls through nodes 2 and 3 are served from the cache: the upstream is stopped.
	upstream.stop()
	for i, n := range []*wharfProc{n2, n3} {
		run(t, crane, "pull", "--insecure", n.addr+"/up/team/app:v1", filepath.Join(work, []string{"n2.tar", "n3.tar"}[i])) // crane checks every digest
		if got := strings.TrimSpace(run(t, crane, "digest", "--insecure", n.addr+"/up/team/app:v1")); got != want {
			t.Fatalf("pull through %s with the upstream stopped: %s", n.addr, got)
		}
	}
	// A tag never cached cannot be fetched with the upstream stopped, whichever node is asked.
	if out, err := runEnv(t, nil, nil, crane, "digest", "--insecure", n3.addr+"/up/team/app:v2"); err == nil || !strings.Contains(out, "could not be reached") {
		t.Fatalf("a new tag with the upstream stopped: %v\n%s", err, out)
	}
}
