package lifecycletest

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

func rule(priority int, sel string) string {
	return fmt.Sprintf(`{"rulePriority":%d,"description":"a random rule","selection":{%s},"action":{"type":"expire"}}`, priority, sel)
}

// RandomPolicy returns the text of a valid policy of up to seven rules over a small vocabulary of tag
// prefixes and patterns, so that rules overlap often.
func RandomPolicy(r *rand.Rand) string {
	vocab := []string{"a", "ab", "b", "prod", "pr", "v1", "v"}
	n := 1 + r.IntN(6)
	prios := r.Perm(20)[:n]
	var rules []string
	seen := map[string]bool{}
	untagged := false
	for i := 0; i < n; i++ {
		prio := prios[i] + 1
		count := fmt.Sprintf(`"countType":"imageCountMoreThan","countNumber":%d`, 1+r.IntN(4))
		if r.IntN(2) == 0 {
			count = fmt.Sprintf(`"countType":"sinceImagePushed","countUnit":"days","countNumber":%d`, 1+r.IntN(10))
		}
		if r.IntN(5) == 0 && !untagged {
			untagged = true
			rules = append(rules, rule(prio, `"tagStatus":"untagged",`+count))
			continue
		}
		list, suffix := "tagPrefixList", ""
		if r.IntN(3) == 0 {
			list, suffix = "tagPatternList", "*"
		}
		var set []string
		for _, w := range vocab {
			if r.IntN(4) == 0 {
				set = append(set, `"`+w+suffix+`"`)
			}
		}
		if len(set) == 0 {
			set = []string{`"` + vocab[r.IntN(len(vocab))] + suffix + `"`}
		}
		key := strings.Join(set, ",")
		if seen[list+key] {
			continue
		}
		seen[list+key] = true
		rules = append(rules, rule(prio, `"tagStatus":"tagged","`+list+`":[`+key+`],`+count))
	}
	if r.IntN(3) == 0 {
		rules = append(rules, rule(100, fmt.Sprintf(`"tagStatus":"any","countType":"imageCountMoreThan","countNumber":%d`, 1+r.IntN(5))))
	}
	return `{"rules":[` + strings.Join(rules, ",") + `]}`
}

// RandomImages returns up to max images pushed within the last 15 days, about one in three untagged. Tags
// are unique across images (a registry tag names one image) and start with the policy vocabulary.
func RandomImages(r *rand.Rand, max int) []Image {
	bases := []string{"a1", "ab2", "b3", "prod-4", "pr5", "v1.0", "v2", "latest"}
	imgs := make([]Image, r.IntN(max+1))
	for i := range imgs {
		imgs[i] = Image{Name: fmt.Sprintf("img%03d", i), DaysAgo: r.IntN(15)}
		for _, b := range bases {
			if r.IntN(5) == 0 {
				imgs[i].Tags = append(imgs[i].Tags, fmt.Sprintf("%s-%d", b, i))
			}
		}
	}
	return imgs
}
