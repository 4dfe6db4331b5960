package lifecycle_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/lifecycle"
	"github.com/wharf-dev/wharf/internal/lifecycle/lifecycletest"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestGuideExamples(t *testing.T) {
	for _, ex := range lifecycletest.Guide {
		t.Run(ex.Name, func(t *testing.T) {
			p, err := lifecycle.Parse(ex.Policy)
			if err != nil {
				t.Fatal(err)
			}
			imgs := toImages(ex.Images, now)
			var got []string
			for _, e := range p.Evaluate(imgs, now) {
				name := ex.Images[e.Index].Name
				got = append(got, name)
				if e.Rule != ex.Rules[name] {
					t.Errorf("image %s expired by rule %d, the guide says rule %d", name, e.Rule, ex.Rules[name])
				}
			}
			if !slices.Equal(got, ex.Expired) {
				t.Fatalf("expired %v, the guide says %v", got, ex.Expired)
			}
		})
	}
}

// rule renders one rule; sel is the inside of "selection".
func rule(priority int, sel string) string {
	return fmt.Sprintf(`{"rulePriority":%d,"description":"a rule of the test","selection":{%s},"action":{"type":"expire"}}`, priority, sel)
}

func policy(rules ...string) string { return `{"rules":[` + strings.Join(rules, ",") + `]}` }

const (
	untaggedCount = `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1`
	anyCount      = `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`
)

func prodCount(prefixes string) string {
	return `"tagStatus":"tagged","tagPrefixList":` + prefixes + `,"countType":"imageCountMoreThan","countNumber":3`
}

func TestValidation(t *testing.T) {
	many := make([]string, 51)
	for i := range many {
		many[i] = rule(i+1, prodCount(fmt.Sprintf(`["p%d"]`, i)))
	}
	for _, c := range []struct{ name, text, want string }{
		{"not JSON", `{"rules": [`, "not valid JSON"},
		{"not an object", `[1,2]`, "the policy must be a JSON object"},
		{"unknown top-level property", `{"rules":[` + rule(1, untaggedCount) + `],"version":1}`, `unknown property "version"`},
		{"no rules", `{"rules":[]}`, `"rules" must hold at least one rule`},
		{"rules missing", `{}`, `must have a "rules" list`},
		{"51 rules", policy(many...), "at most 50 rules; this one has 51"},
		{"priority missing", `{"rules":[{"selection":{` + untaggedCount + `},"action":{"type":"expire"}}]}`, `rule 1: "rulePriority" is required`},
		{"priority zero", policy(rule(0, untaggedCount)), `rule 1: "rulePriority" must be an integer of at least 1, not 0`},
		{"priority fractional", policy(rule(1, untaggedCount), `{"rulePriority":1.5,"selection":{}}`), `rule 2: "rulePriority" must be an integer`},
		{"priority repeated", policy(rule(1, prodCount(`["prod"]`)), rule(1, untaggedCount)), "rule 2 (rulePriority 1): rulePriority 1 is already used by rule 1"},
		{"selection missing", `{"rules":[{"rulePriority":1,"action":{"type":"expire"}}]}`, `rule 1 (rulePriority 1): "selection" is required`},
		{"unknown selection property", policy(rule(1, untaggedCount+`,"storage":"archive"`)), `rule 1 (rulePriority 1): selection has the unknown property "storage"`},
		{"tagStatus wrong", policy(rule(1, `"tagStatus":"TAGGED","tagPrefixList":["p"],"countType":"imageCountMoreThan","countNumber":1`)), `"tagStatus" must be "tagged", "untagged" or "any", not "TAGGED"`},
		{"tagStatus missing", policy(rule(1, `"countType":"imageCountMoreThan","countNumber":1`)), `"tagStatus" must be "tagged", "untagged" or "any" (it is missing)`},
		{"tagged without prefixes", policy(rule(1, `"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1`)), `rule 1 (rulePriority 1): "tagPrefixList" (or "tagPatternList") is required when "tagStatus" is "tagged"`},
		{"untagged with prefixes", policy(rule(1, `"tagStatus":"untagged","tagPrefixList":["p"],"countType":"imageCountMoreThan","countNumber":1`)), `"tagPrefixList" is not allowed when "tagStatus" is "untagged"`},
		{"any with patterns", policy(rule(1, `"tagStatus":"any","tagPatternList":["p*"],"countType":"imageCountMoreThan","countNumber":1`)), `"tagPatternList" is not allowed when "tagStatus" is "any"`},
		{"prefixes and patterns", policy(rule(1, `"tagStatus":"tagged","tagPrefixList":["p"],"tagPatternList":["p*"],"countType":"imageCountMoreThan","countNumber":1`)), `"tagPrefixList" and "tagPatternList" cannot be used together`},
		{"empty prefix list", policy(rule(1, prodCount(`[]`))), `"tagPrefixList" must hold at least one prefix`},
		{"empty prefix", policy(rule(1, prodCount(`["prod",""]`))), `"tagPrefixList" must hold at least one prefix, and no empty one`},
		{"prefixes not strings", policy(rule(1, prodCount(`[1]`))), `"tagPrefixList" must be a list of strings`},
		{"five wildcards", policy(rule(1, `"tagStatus":"tagged","tagPatternList":["*a*b*c*d*"],"countType":"imageCountMoreThan","countNumber":1`)), `the tag pattern "*a*b*c*d*" has 5 wildcards; at most 4 are allowed`},
		{"any not last", policy(rule(1, anyCount), rule(2, untaggedCount)), `rule 1 (rulePriority 1): a rule with "tagStatus" "any" must have the highest rulePriority, but rule 2 (rulePriority 2) is higher`},
		{"two any rules", policy(rule(1, anyCount), rule(2, anyCount)), `rule 1 (rulePriority 1): a rule with "tagStatus" "any" must have the highest rulePriority`},
		{"same prefixes twice", policy(rule(1, prodCount(`["prod","beta"]`)), rule(2, prodCount(`["beta","prod"]`))), `rule 2 (rulePriority 2): its tag selection tagPrefixList ["beta","prod"] is the same as that of rule 1 (rulePriority 1)`},
		{"same patterns twice", policy(rule(1, `"tagStatus":"tagged","tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1`), rule(2, `"tagStatus":"tagged","tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":2`)), `its tag selection tagPatternList ["v*"] is the same`},
		{"two untagged rules", policy(rule(1, untaggedCount), rule(2, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":3`)), `rule 2 (rulePriority 2): only one rule may select untagged images, and rule 1 (rulePriority 1) already does`},
		{"countType wrong", policy(rule(1, `"tagStatus":"untagged","countType":"sinceImagePopped","countNumber":1`)), `"countType" must be "imageCountMoreThan", "sinceImagePushed", "sinceImagePulled" or "sinceImageTransitioned", not "sinceImagePopped"`},
		{"countUnit with a count", policy(rule(1, untaggedCount+`,"countUnit":"days"`)), `"countUnit" is only allowed when "countType" is "sinceImagePushed", "sinceImagePulled" or "sinceImageTransitioned"`},
		{"countUnit missing since pulled", policy(rule(1, `"tagStatus":"untagged","countType":"sinceImagePulled","countNumber":1`)), `"countUnit" is required when "countType" is "sinceImagePulled"`},
		{"storageClass wrong", policy(rule(1, untaggedCount+`,"storageClass":"glacier"`)), `"storageClass" must be "standard" or "archive", not "glacier"`},
		{"archive with a count", policy(rule(1, untaggedCount+`,"storageClass":"archive"`)), `"storageClass" must be "standard" when "countType" is "imageCountMoreThan", not "archive"`},
		{"transitioned without archive", policy(rule(1, `"tagStatus":"any","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90`)), `"storageClass" must be "archive" when "countType" is "sinceImageTransitioned" (it is missing)`},
		{"archived expired too soon", policy(rule(1, `"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":89`)), `archived images have a minimum storage duration of 90 days; "countNumber" must be at least 90, not 89`},
		{"transition without target", `{"rules":[{"rulePriority":1,"selection":{` + untaggedCount + `},"action":{"type":"transition"}}]}`, `"action.targetStorageClass" must be "archive" when "action.type" is "transition" (it is missing)`},
		{"transition to standard", `{"rules":[{"rulePriority":1,"selection":{` + untaggedCount + `},"action":{"type":"transition","targetStorageClass":"standard"}}]}`, `"action.targetStorageClass" must be "archive" when "action.type" is "transition", not "standard"`},
		{"transition of archived images", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":100},"action":{"type":"transition","targetStorageClass":"archive"}}]}`, `a rule that selects archived images cannot transition them to the archive`},
		{"countUnit missing", policy(rule(1, `"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":1`)), `"countUnit" is required when "countType" is "sinceImagePushed"`},
		{"countUnit hours", policy(rule(1, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"hours","countNumber":1`)), `"countUnit" must be "days", not "hours"`},
		{"countNumber zero", policy(rule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":0`)), `"countNumber" must be an integer of at least 1, not 0`},
		{"countNumber negative", policy(rule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":-4`)), `"countNumber" must be an integer of at least 1, not -4`},
		{"countNumber string", policy(rule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":"1"`)), `"countNumber" must be an integer of at least 1`},
		{"countNumber missing", policy(rule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan"`)), `"countNumber" is required`},
		{"action missing", `{"rules":[{"rulePriority":1,"selection":{` + untaggedCount + `}}]}`, `"action" is required`},
		{"action type wrong", `{"rules":[{"rulePriority":1,"selection":{` + untaggedCount + `},"action":{"type":"delete"}}]}`, `"action.type" must be "expire" or "transition", not "delete"`},
		{"expire with a target", `{"rules":[{"rulePriority":1,"selection":{` + untaggedCount + `},"action":{"type":"expire","targetStorageClass":"archive"}}]}`, `"action.targetStorageClass" is only allowed when "action.type" is "transition"`},
		{"unknown action property", `{"rules":[{"rulePriority":1,"selection":{` + untaggedCount + `},"action":{"type":"expire","storageClass":"archive"}}]}`, `action has the unknown property "storageClass"`},
		{"description not a string", `{"rules":[{"rulePriority":1,"description":5,"selection":{` + untaggedCount + `},"action":{"type":"expire"}}]}`, `"description" must be a string`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := lifecycle.Parse(c.text)
			var ve *lifecycle.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse accepted or failed without a validation error: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "Lifecycle policy validation failure: ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func TestValidPolicies(t *testing.T) {
	for _, text := range []string{
		policy(rule(7, prodCount(`["prod"]`)), rule(3, untaggedCount), rule(99, anyCount)), // priorities need not be sequential
		policy(rule(1, `"tagStatus":"tagged","tagPatternList":["prod*","*-rc?"],"countType":"sinceImagePushed","countUnit":"days","countNumber":30`)),
		policy(rule(1, prodCount(`["prod"]`)), rule(2, prodCount(`["prod","beta"]`))), // different sets sharing a prefix
		policy(rule(1, prodCount(`["v"]`)), rule(2, `"tagStatus":"tagged","tagPatternList":["v"],"countType":"imageCountMoreThan","countNumber":1`)),
	} {
		if _, err := lifecycle.Parse(text); err != nil {
			t.Errorf("%s: %v", text, err)
		}
	}
	p, _ := lifecycle.Parse(policy(rule(7, prodCount(`["prod"]`)), rule(3, untaggedCount), rule(99, anyCount)))
	if got := []int{p.Rules[0].Priority, p.Rules[1].Priority, p.Rules[2].Priority}; !slices.Equal(got, []int{3, 7, 99}) {
		t.Fatalf("rules not in evaluation order: %v", got)
	}
}

func TestMatchPattern(t *testing.T) {
	for _, c := range []struct {
		tag, pattern string
		want         bool
	}{
		{"prod", "prod", true}, {"prod1", "prod", false}, {"prod1", "prod*", true}, {"prod", "prod*", true},
		{"v1.2-rc", "*-rc", true}, {"v1.2-rc1", "*-rc", false}, {"release-2024-final", "release-*-final", true},
		{"release--final", "release-*-final", true}, {"release-final", "release-*-final", false},
		{"abcabc", "*abc", true}, {"aXbXc", "a*b*c", true}, {"acb", "a*b*c", false}, {"anything", "*", true},
		{"", "*", true}, {"ab", "a**b", true}, {"aab", "*ab", true}, {"abab", "a*ab", true}, {"ab", "a*ab", false},
	} {
		if got := lifecycle.MatchPattern(c.tag, c.pattern); got != c.want {
			t.Errorf("MatchPattern(%q, %q) = %v", c.tag, c.pattern, got)
		}
	}
}

func TestPatternRules(t *testing.T) {
	p, err := lifecycle.Parse(policy(rule(1, `"tagStatus":"tagged","tagPatternList":["prod-*","*-stable"],"countType":"imageCountMoreThan","countNumber":1`)))
	if err != nil {
		t.Fatal(err)
	}
	imgs := []lifecycle.Image{
		{Digest: "a", Tags: []string{"prod-1", "1-stable"}, PushedAt: now.Add(-3 * time.Hour)},
		{Digest: "b", Tags: []string{"prod-2"}, PushedAt: now.Add(-2 * time.Hour)},              // misses *-stable
		{Digest: "c", Tags: []string{"prod-3-stable"}, PushedAt: now.Add(-time.Hour)},           // one tag matches both
		{Digest: "d", Tags: []string{"xprod-4", "4-stable"}, PushedAt: now.Add(-4 * time.Hour)}, // misses prod-*
	}
	got := p.Evaluate(imgs, now)
	if len(got) != 1 || imgs[got[0].Index].Digest != "a" {
		t.Fatalf("expired %v, want only image a", got)
	}
}

// TestEvaluationProperties checks, for random repositories and policies, the evaluation rules as
// properties that together define the outcome:
//   - every verdict names a rule that selects the image and would mark it (beyond its count or age);
//   - no image is expired by two rules, and none by a rule below another rule that selects it;
//   - every image a rule would mark, that no higher rule selects, is expired (by that rule or a higher one);
//   - verdicts come oldest first.
func TestEvaluationProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 3000; iter++ {
		text := lifecycletest.RandomPolicy(r)
		p, err := lifecycle.Parse(text)
		if err != nil {
			t.Fatalf("random policy invalid: %v\n%s", err, text)
		}
		imgs := toImages(lifecycletest.RandomImages(r, 40), now)
		verdicts := p.Evaluate(imgs, now)
		byImage := map[int]int{}
		for k, v := range verdicts {
			if _, dup := byImage[v.Index]; dup {
				t.Fatalf("image %d expired twice\n%s", v.Index, text)
			}
			byImage[v.Index] = v.Rule
			if k > 0 && imgs[verdicts[k-1].Index].PushedAt.After(imgs[v.Index].PushedAt) {
				t.Fatalf("verdicts not oldest first\n%s", text)
			}
		}
		for ri, rl := range p.Rules {
			marks := wouldMark(rl, imgs)
			for i := range imgs {
				higher := -1
				for hj := 0; hj < ri; hj++ {
					if p.Rules[hj].Selects(imgs[i].Tags) {
						higher = hj
						break
					}
				}
				got, expired := byImage[i]
				if expired && got == rl.Priority {
					if !marks[i] {
						t.Fatalf("image %d expired by rule %d, which does not mark it\n%s", i, rl.Priority, text)
					}
					if higher >= 0 {
						t.Fatalf("image %d expired by rule %d although higher rule %d selects it\n%s", i, rl.Priority, p.Rules[higher].Priority, text)
					}
				}
				if marks[i] && higher < 0 && (!expired || got > rl.Priority) {
					t.Fatalf("image %d marked by rule %d and selected by no higher rule, but verdict %v\n%s", i, rl.Priority, byImage[i], text)
				}
			}
		}
	}
}

func toImages(imgs []lifecycletest.Image, now time.Time) []lifecycle.Image {
	out := make([]lifecycle.Image, len(imgs))
	for i, img := range imgs {
		out[i] = lifecycle.Image{Digest: "sha256:" + img.Name, Tags: img.Tags, PushedAt: lifecycletest.PushedAt(now, imgs, i)}
	}
	return out
}

// wouldMark is the rule alone, written independently of Evaluate: the images it would expire if it were the
// only rule.
func wouldMark(rl lifecycle.Rule, imgs []lifecycle.Image) map[int]bool {
	var sel []int
	for i := range imgs {
		if rl.Selects(imgs[i].Tags) {
			sel = append(sel, i)
		}
	}
	out := map[int]bool{}
	for _, i := range sel {
		switch rl.CountType {
		case lifecycle.SinceImagePushed:
			out[i] = now.Sub(imgs[i].PushedAt) > time.Duration(rl.CountNumber)*24*time.Hour
		case lifecycle.ImageCountMoreThan:
			younger := 0
			for _, j := range sel {
				if imgs[j].PushedAt.After(imgs[i].PushedAt) || imgs[j].PushedAt.Equal(imgs[i].PushedAt) && imgs[j].Digest > imgs[i].Digest {
					younger++
				}
			}
			out[i] = younger >= rl.CountNumber
		}
	}
	return out
}

func FuzzParse(f *testing.F) {
	for _, ex := range lifecycletest.Guide {
		f.Add(ex.Policy)
	}
	f.Add(policy(rule(1, `"tagStatus":"tagged","tagPatternList":["a*b"],"countType":"imageCountMoreThan","countNumber":2`)))
	f.Fuzz(func(t *testing.T, text string) {
		p, err := lifecycle.Parse(text)
		if err != nil {
			var ve *lifecycle.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error of the wrong type: %v", err)
			}
			return
		}
		if len(p.Rules) == 0 || len(p.Rules) > lifecycle.MaxRules {
			t.Fatalf("accepted %d rules", len(p.Rules))
		}
		for i, r := range p.Rules {
			if r.CountNumber < 1 || r.Priority < 1 || i > 0 && p.Rules[i-1].Priority >= r.Priority {
				t.Fatalf("accepted a bad rule %+v", r)
			}
			if r.TagStatus == lifecycle.Any && i != len(p.Rules)-1 {
				t.Fatalf("accepted an 'any' rule before others")
			}
		}
		p.Evaluate([]lifecycle.Image{{Digest: "x", Tags: []string{"a", "b"}, PushedAt: now.Add(-100 * time.Hour)}, {Digest: "y", PushedAt: now}}, now)
	})
}

// BenchmarkEvaluate evaluates a 50-rule policy on a repository of 10,000 images with 3 tags each.
func BenchmarkEvaluate(b *testing.B) {
	p, imgs, at := lifecycle.BenchmarkSetup()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(p.Evaluate(imgs, at))
	}
	b.ReportMetric(float64(n), "expired")
}
