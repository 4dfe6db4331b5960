package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestArchiveWithAWSCLIAndCrane archives an image with the real aws CLI: crane's pull of it fails with
// MANIFEST_UNKNOWN (ECR's 404), describe-images shows it ARCHIVED (and list-images only with the filter),
// a restore is ACTIVATING for the server's --restore-time, then the pull works again. A lifecycle policy
// with a transition rule is accepted and previewed as ECR shows it, and the server's pass archives what a
// transition rule marks; both kinds of change reach the audit trail.
func TestArchiveWithAWSCLIAndCrane(t *testing.T) {
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir(), "--restore-time", "2s", "--lifecycle-interval", "1s")
	s.aws("ecr", "create-repository", "--repository-name", "cold")
	s.login()
	ref := s.addr + "/cold"
	if out, err := runEnv(t, nil, nil, crane, "append", "--insecure", "-f", writeTar(t, t.TempDir(), "layer", []byte("archived bytes")), "-t", ref+":v1"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	pull := func() (string, error) {
		return runEnv(t, nil, nil, crane, "pull", "--insecure", ref+":v1", t.TempDir()+"/image.tar")
	}
	if out, err := pull(); err != nil {
		t.Fatalf("pull before archiving: %v\n%s", err, out)
	}

	var updated struct {
		RegistryID, RepositoryName, ImageStatus string
		ImageID                                 map[string]string
	}
	jsonOf(t, s.aws("ecr", "update-image-storage-class", "--repository-name", "cold", "--image-id", "imageTag=v1", "--target-storage-class", "ARCHIVE"), &updated)
	if updated.ImageStatus != "ARCHIVED" || updated.RepositoryName != "cold" || updated.ImageID["imageTag"] != "v1" || !strings.HasPrefix(updated.ImageID["imageDigest"], "sha256:") {
		t.Fatalf("update-image-storage-class: %+v", updated)
	}
	if out, err := pull(); err == nil || !strings.Contains(out, "MANIFEST_UNKNOWN") {
		t.Fatalf("pull of an archived image: %v\n%s", err, out)
	}
	status := func() (string, map[string]any) {
		var d struct{ ImageDetails []map[string]any }
		jsonOf(t, s.aws("ecr", "describe-images", "--repository-name", "cold", "--image-ids", "imageTag=v1"), &d)
		return d.ImageDetails[0]["imageStatus"].(string), d.ImageDetails[0]
	}
	if st, d := status(); st != "ARCHIVED" || d["lastArchivedAt"] == nil {
		t.Fatalf("describe-images: %v", d)
	}
	if out := s.aws("ecr", "list-images", "--repository-name", "cold", "--output", "text", "--query", "length(imageIds)"); strings.TrimSpace(out) != "0" {
		t.Fatalf("list-images lists an archived image by default: %s", out)
	}
	if out := s.aws("ecr", "list-images", "--repository-name", "cold", "--filter", "imageStatus=ARCHIVED", "--output", "text", "--query", "imageIds[].imageTag"); strings.TrimSpace(out) != "v1" {
		t.Fatalf("list-images --filter imageStatus=ARCHIVED: %s", out)
	}
	out := s.awsFails("ImageStorageClassUpdateNotSupportedException", "ecr", "update-image-storage-class", "--repository-name", "cold",
		"--image-id", "imageTag=v1", "--target-storage-class", "ARCHIVE")
	if !strings.Contains(out, "is ARCHIVED") {
		t.Fatalf("archiving twice: %s", out)
	}

	jsonOf(t, s.aws("ecr", "update-image-storage-class", "--repository-name", "cold", "--image-id", "imageTag=v1", "--target-storage-class", "STANDARD"), &updated)
	if updated.ImageStatus != "ACTIVATING" {
		t.Fatalf("restore: %+v", updated)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		st, d := status()
		if st == "ACTIVE" {
			if d["lastActivatedAt"] == nil {
				t.Fatalf("restored: %v", d)
			}
			break
		}
		if st != "ACTIVATING" || time.Now().After(deadline) {
			t.Fatalf("restore: %v", d)
		}
	}
	if out, err := pull(); err != nil {
		t.Fatalf("pull after the restore: %v\n%s", err, out)
	}

	// Lifecycle: a transition rule, previewed.
	const policy = `{"rules":[{"rulePriority":1,"description":"archive what is not pulled","selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}},` +
		`{"rulePriority":2,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90},"action":{"type":"expire"}}]}`
	s.aws("ecr", "put-lifecycle-policy", "--repository-name", "cold", "--lifecycle-policy-text", policy)
	s.aws("ecr", "start-lifecycle-policy-preview", "--repository-name", "cold")
	var preview struct {
		Status  string
		Summary map[string]any
	}
	for deadline := time.Now().Add(30 * time.Second); preview.Status != "COMPLETE"; time.Sleep(100 * time.Millisecond) {
		jsonOf(t, s.aws("ecr", "get-lifecycle-policy-preview", "--repository-name", "cold"), &preview)
		if time.Now().After(deadline) {
			t.Fatalf("preview: %+v", preview)
		}
	}
	if preview.Summary["expiringImageTotalCount"].(float64) != 0 || preview.Summary["transitioningImageTotalCounts"] != nil {
		t.Fatalf("preview of a policy that archives nothing yet: %+v", preview)
	}
	// A pass archives what a transition rule marks, and the audit trail has both kinds of change.
	s.aws("ecr", "create-repository", "--repository-name", "counted")
	for _, tag := range []string{"old", "new"} {
		if out, err := runEnv(t, nil, nil, crane, "append", "--insecure", "-f", writeTar(t, t.TempDir(), tag, []byte(tag)), "-t", s.addr+"/counted:"+tag); err != nil {
			t.Fatalf("push: %v\n%s", err, out)
		}
		time.Sleep(1100 * time.Millisecond) // distinct push times, in whole seconds
	}
	s.aws("ecr", "put-lifecycle-policy", "--repository-name", "counted", "--lifecycle-policy-text",
		`{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"transition","targetStorageClass":"archive"}}]}`)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) { // the server's pass
		out := s.aws("ecr", "describe-images", "--repository-name", "counted", "--filter", "imageStatus=ARCHIVED", "--output", "text", "--query", "imageDetails[].imageTags[]")
		if strings.TrimSpace(out) == "old" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not archived by lifecycle: %q", out)
		}
	}
	for _, name := range []string{"UpdateImageStorageClass", "PolicyExecutionEvent"} {
		if evs := lookup(t, s.awsEnv(), "http://"+s.addr, "EventName", name); len(evs) == 0 {
			t.Errorf("no %s in the audit trail", name)
		}
	}

	bad := strings.Replace(policy, `"countNumber":90`, `"countNumber":30`, 1)
	if out := s.awsFails("InvalidParameterException", "ecr", "put-lifecycle-policy", "--repository-name", "cold", "--lifecycle-policy-text", bad); !strings.Contains(out, "minimum storage duration of 90 days") {
		t.Fatalf("expiring archived images before 90 days: %s", out)
	}
}
