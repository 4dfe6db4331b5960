package lifecycle

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// BenchmarkSetup builds the evaluation benchmark's workload: a 50-rule policy (48 tagged rules with two
// prefixes each, an untagged rule and an "any" rule) and a repository of 10,000 images with 3 tags each,
// pushed over 90 days before the returned time.
func BenchmarkSetup() (*Policy, []Image, time.Time) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	rule := func(priority int, sel string) string {
		return fmt.Sprintf(`{"rulePriority":%d,"selection":{%s},"action":{"type":"expire"}}`, priority, sel)
	}
	var rules []string
	for i := 0; i < 48; i++ {
		rules = append(rules, rule(i+1, fmt.Sprintf(`"tagStatus":"tagged","tagPrefixList":["svc%d-","env%d"],"countType":"imageCountMoreThan","countNumber":%d`, i, i%5, 5+i)))
	}
	rules = append(rules, rule(49, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7`))
	rules = append(rules, rule(50, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5000`))
	p, err := Parse(`{"rules":[` + strings.Join(rules, ",") + `]}`)
	if err != nil {
		panic(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	imgs := make([]Image, 10000)
	for i := range imgs {
		imgs[i] = Image{
			Digest:   fmt.Sprintf("sha256:%064d", i),
			Tags:     []string{fmt.Sprintf("svc%d-%d", r.IntN(60), i), fmt.Sprintf("env%d-%d", r.IntN(6), i), fmt.Sprintf("build-%d", i)},
			PushedAt: now.Add(-time.Duration(r.IntN(90*24*60)) * time.Minute),
		}
	}
	return p, imgs, now
}
