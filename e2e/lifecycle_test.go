package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/registry"
)

const lifecyclePolicy = `{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Keep the two newest prod images",
      "selection": {
        "tagStatus": "tagged",
        "tagPrefixList": ["prod"],
        "countType": "imageCountMoreThan",
        "countNumber": 2
      },
      "action": {
        "type": "expire"
      }
    },
    {
      "rulePriority": 2,
      "description": "Keep only one untagged image, expire all others",
      "selection": {
        "tagStatus": "untagged",
        "countType": "imageCountMoreThan",
        "countNumber": 1
      },
      "action": {
        "type": "expire"
      }
    }
  ]
}`

type imageDetails struct {
	ImageDetails []struct {
		ImageDigest string
		ImageTags   []string
	}
}

// TestLifecycleEndToEnd: the guide's CLI flow for lifecycle policies (preview, wait, put, get, delete),
// boto3's waiter, `wharf lifecycle run --dry-run` beside the server, and real expiry by the server's
// background pass, seen by describe-images and crane.
func TestLifecycleEndToEnd(t *testing.T) {
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir(), "--lifecycle-interval", "2s")
	s.aws("ecr", "create-repository", "--repository-name", "lc/app")
	s.login()
	work := t.TempDir()
	ref := s.addr + "/lc/app"
	for i := 1; i <= 4; i++ {
		run(t, crane, "append", "--insecure", "-f", writeTar(t, work, fmt.Sprintf("p%d", i), []byte(fmt.Sprint("prod ", i))), "-t", fmt.Sprintf("%s:prod-%d", ref, i))
	}
	// Pushing "latest" three times leaves the two older images untagged, as on ECR.
	for i := 1; i <= 3; i++ {
		run(t, crane, "append", "--insecure", "-f", writeTar(t, work, fmt.Sprintf("l%d", i), []byte(fmt.Sprint("latest ", i))), "-t", ref+":latest")
	}
	var before imageDetails
	jsonOf(t, s.aws("ecr", "describe-images", "--repository-name", "lc/app"), &before)
	if len(before.ImageDetails) != 7 {
		t.Fatalf("%d images pushed, want 7", len(before.ImageDetails))
	}
	policyFile := filepath.Join(work, "policy.json")
	os.WriteFile(policyFile, []byte(lifecyclePolicy), 0o644)

	// Preview first, as the guide advises.
	s.awsFails("LifecyclePolicyPreviewNotFoundException", "ecr", "get-lifecycle-policy-preview", "--repository-name", "lc/app")
	s.awsFails("LifecyclePolicyNotFoundException", "ecr", "start-lifecycle-policy-preview", "--repository-name", "lc/app")
	var started struct{ Status, LifecyclePolicyText string }
	jsonOf(t, s.aws("ecr", "start-lifecycle-policy-preview", "--repository-name", "lc/app", "--lifecycle-policy-text", "file://"+policyFile), &started)
	if started.Status != "IN_PROGRESS" || started.LifecyclePolicyText != lifecyclePolicy {
		t.Fatalf("start-lifecycle-policy-preview: %+v", started)
	}
	s.aws("ecr", "wait", "lifecycle-policy-preview-complete", "--repository-name", "lc/app")
	var preview struct {
		Status         string
		PreviewResults []struct {
			ImageDigest         string
			ImageTags           []string
			AppliedRulePriority int
			Action              struct{ Type string }
		}
		Summary struct{ ExpiringImageTotalCount int }
	}
	jsonOf(t, s.aws("ecr", "get-lifecycle-policy-preview", "--repository-name", "lc/app"), &preview)
	var previewed []string
	for _, r := range preview.PreviewResults {
		previewed = append(previewed, fmt.Sprintf("%v/%d/%s", r.ImageTags, r.AppliedRulePriority, r.Action.Type))
	}
	if want := []string{"[prod-1]/1/EXPIRE", "[prod-2]/1/EXPIRE", "[]/2/EXPIRE"}; preview.Status != "COMPLETE" || !slices.Equal(previewed, want) || preview.Summary.ExpiringImageTotalCount != 3 {
		t.Fatalf("preview %s %v (%d), want %v", preview.Status, previewed, preview.Summary.ExpiringImageTotalCount, want)
	}
	untaggedExpiring := preview.PreviewResults[2].ImageDigest

	// boto3 and its waiter see the same preview.
	script := filepath.Join(work, "preview.py")
	os.WriteFile(script, []byte(`
import boto3
ecr = boto3.client("ecr")
ecr.get_waiter("lifecycle_policy_preview_complete").wait(repositoryName="lc/app")
out = ecr.get_lifecycle_policy_preview(repositoryName="lc/app", filter={"tagStatus": "TAGGED"})
print(sorted(t for r in out["previewResults"] for t in r["imageTags"]), out["summary"]["expiringImageTotalCount"], out["previewResults"][0]["imagePushedAt"].year >= 2024)
`), 0o644)
	out, err := runEnv(t, s.awsEnv(), nil, tool(t, "python3"), script)
	if err != nil || strings.TrimSpace(out) != "['prod-1', 'prod-2'] 3 True" {
		t.Fatalf("boto3: %v\n%s", err, out)
	}

	// The stored policy is validated first.
	bad := strings.Replace(lifecyclePolicy, `"untagged"`, `"untaged"`, 1)
	os.WriteFile(filepath.Join(work, "bad.json"), []byte(bad), 0o644)
	msg := s.awsFails("InvalidParameterException", "ecr", "put-lifecycle-policy", "--repository-name", "lc/app", "--lifecycle-policy-text", "file://"+filepath.Join(work, "bad.json"))
	if !strings.Contains(msg, `Lifecycle policy validation failure: rule 2 (rulePriority 2): "tagStatus" must be "tagged", "untagged" or "any", not "untaged"`) {
		t.Fatalf("validation message: %s", msg)
	}

	var put struct{ RepositoryName, LifecyclePolicyText string }
	jsonOf(t, s.aws("ecr", "put-lifecycle-policy", "--repository-name", "lc/app", "--lifecycle-policy-text", "file://"+policyFile), &put)
	if put.RepositoryName != "lc/app" || put.LifecyclePolicyText != registry.CompactLifecycleText(lifecyclePolicy) {
		t.Fatalf("put-lifecycle-policy: %+v", put)
	}
	// A dry run from the command line, while the server runs on the same data.
	dry := s.wharf("lifecycle", "run", "--dry-run", "--repository", "lc/app")
	if !strings.Contains(dry, "would expire\tlc/app\t") || !strings.Contains(dry, "3 images would expire") || !strings.Contains(dry, untaggedExpiring) {
		t.Fatalf("dry run:\n%s", dry)
	}

	// The server's background pass applies it about an interval (2 s) after it was set.
	var after imageDetails
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		after = imageDetails{}
		jsonOf(t, s.aws("ecr", "describe-images", "--repository-name", "lc/app"), &after)
		if len(after.ImageDetails) < 7 || time.Now().After(deadline) {
			break
		}
	}
	var tags []string
	for _, d := range after.ImageDetails {
		tags = append(tags, d.ImageTags...)
		if d.ImageDigest == untaggedExpiring {
			t.Fatalf("the older untagged image is still there")
		}
	}
	slices.Sort(tags)
	if len(after.ImageDetails) != 4 || !slices.Equal(tags, []string{"latest", "prod-3", "prod-4"}) {
		t.Fatalf("after expiry: %d images, tags %v", len(after.ImageDetails), tags)
	}
	if ls := strings.Fields(run(t, crane, "ls", "--insecure", ref)); !slices.Equal(ls, []string{"latest", "prod-3", "prod-4"}) {
		t.Fatalf("crane ls: %v", ls)
	}
	run(t, crane, "pull", "--insecure", ref+":prod-4", filepath.Join(work, "kept.tar"))

	var got struct {
		LifecyclePolicyText string
		LastEvaluatedAt     float64 // the aws CLI prints timestamps as epoch seconds here
	}
	jsonOf(t, s.aws("ecr", "get-lifecycle-policy", "--repository-name", "lc/app"), &got)
	if got.LifecyclePolicyText != registry.CompactLifecycleText(lifecyclePolicy) || time.Since(time.Unix(int64(got.LastEvaluatedAt), 0)) > time.Minute {
		t.Fatalf("get-lifecycle-policy: %+v", got)
	}
	history := strings.TrimSpace(s.wharf("lifecycle", "history", "--repository", "lc/app"))
	if strings.Count(history, "\n") != 2 || !strings.Contains(history, "\tprod-1\trule 1\t") || !strings.Contains(history, "\tprod-2\trule 1\t") ||
		!strings.Contains(history, untaggedExpiring+"\t\trule 2\t") {
		t.Fatalf("history:\n%s", history)
	}
	// Nothing more is due: a run on demand expires nothing.
	if out := s.wharf("lifecycle", "run"); !strings.Contains(out, "0 images expired") {
		t.Fatalf("second run:\n%s", out)
	}

	s.aws("ecr", "delete-lifecycle-policy", "--repository-name", "lc/app")
	s.awsFails("LifecyclePolicyNotFoundException", "ecr", "get-lifecycle-policy", "--repository-name", "lc/app")
	s.awsFails("LifecyclePolicyNotFoundException", "ecr", "delete-lifecycle-policy", "--repository-name", "lc/app")
}
