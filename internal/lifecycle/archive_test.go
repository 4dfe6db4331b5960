package lifecycle_test

import (
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/lifecycle"
)

// TestArchiveRules: transition rules archive standard images (by time since the last pull, the push when
// never pulled, or a restore), archive rules expire archived images by time since their archiving, and
// each storage class has its own "any" rule.
func TestArchiveRules(t *testing.T) {
	p, err := lifecycle.Parse(`{"rules":[
		{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["keep*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"transition","targetStorageClass":"archive"}},
		{"rulePriority":2,"selection":{"tagStatus":"any","storageClass":"standard","countType":"sinceImagePulled","countUnit":"days","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}},
		{"rulePriority":3,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90},"action":{"type":"expire"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ago := func(days int) time.Time { return now.Add(-time.Duration(days) * 24 * time.Hour) }
	imgs := []lifecycle.Image{
		{Digest: "pulled", Tags: []string{"a"}, PushedAt: ago(100), LastPulledAt: ago(5)},
		{Digest: "idle", Tags: []string{"b"}, PushedAt: ago(100)},
		{Digest: "archived long", PushedAt: ago(300), Archived: true, ArchivedAt: ago(95)},
		{Digest: "archived lately", PushedAt: ago(300), Archived: true, ArchivedAt: ago(10)},
		{Digest: "restored", PushedAt: ago(300), ArchivedAt: ago(200), ActivatedAt: ago(2)},
		{Digest: "keep new", Tags: []string{"keep1"}, PushedAt: ago(1)},
		{Digest: "keep old", Tags: []string{"keep2"}, PushedAt: ago(3)},
		{Digest: "keep archived", Tags: []string{"keep3"}, PushedAt: ago(5), Archived: true, ArchivedAt: ago(1)},
	}
	got := map[string]string{}
	for _, v := range p.Evaluate(imgs, now) {
		action := "expire"
		if v.Transition {
			action = "transition"
		}
		got[imgs[v.Index].Digest] = action
	}
	want := map[string]string{"idle": "transition", "archived long": "expire", "keep old": "transition"}
	if len(got) != len(want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
	for d, a := range want {
		if got[d] != a {
			t.Fatalf("verdicts %v, want %v", got, want)
		}
	}
}
