package lifecycle

import (
	"slices"
	"strings"
	"time"
)

// Image is what the evaluator knows of an image.
type Image struct {
	Digest   string
	Tags     []string
	PushedAt time.Time
}

// Expiry is one verdict: images[Index] is expired by the rule with priority Rule.
type Expiry struct {
	Index int
	Rule  int
}

// day is the length of countUnit "days".
const day = 24 * time.Hour

// Evaluate decides which images the policy expires at time now, by the user guide's evaluation rules:
//   - rules are evaluated from the lowest rulePriority to the highest;
//   - an image is expired by exactly one or zero rules;
//   - an image that matches the tagging requirements of a rule cannot be expired by a rule with a lower
//     priority, but lower rules still see it (it counts for imageCountMoreThan);
//   - imageCountMoreThan sorts the selected images youngest to oldest and expires those beyond the count;
//     sinceImagePushed expires the selected images pushed more than countNumber days before now.
//
// Push-time ties are broken by digest, so evaluation is deterministic. The verdicts come oldest image first.
func (p *Policy) Evaluate(images []Image, now time.Time) []Expiry {
	order := make([]int, len(images)) // youngest first
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := images[b].PushedAt.Compare(images[a].PushedAt); c != 0 {
			return c
		}
		return strings.Compare(images[b].Digest, images[a].Digest)
	})
	expiredBy := make([]int, len(images)) // rule priority, 0 when kept
	claimed := make([]bool, len(images))  // matched the tagging requirements of an earlier rule
	var selected []int
	for _, r := range p.Rules {
		selected = selected[:0]
		for _, i := range order {
			if r.Selects(images[i].Tags) {
				selected = append(selected, i)
			}
		}
		var marked []int
		switch r.CountType {
		case ImageCountMoreThan:
			if len(selected) > r.CountNumber {
				marked = selected[r.CountNumber:]
			}
		case SinceImagePushed:
			cutoff := now.Add(-time.Duration(r.CountNumber) * day)
			first := 0 // selected is youngest first, so the images older than cutoff are its tail
			for first < len(selected) && !images[selected[first]].PushedAt.Before(cutoff) {
				first++
			}
			marked = selected[first:]
		}
		for _, i := range marked {
			if expiredBy[i] == 0 && !claimed[i] {
				expiredBy[i] = r.Priority
			}
		}
		for _, i := range selected {
			claimed[i] = true
		}
	}
	var out []Expiry
	for k := len(order) - 1; k >= 0; k-- {
		if i := order[k]; expiredBy[i] != 0 {
			out = append(out, Expiry{Index: i, Rule: expiredBy[i]})
		}
	}
	return out
}

// Selects tells whether an image with these tags meets the rule's tagging requirements.
func (r *Rule) Selects(tags []string) bool {
	switch r.TagStatus {
	case Any:
		return true
	case Untagged:
		return len(tags) == 0
	}
	if len(tags) == 0 {
		return false
	}
	if r.TagPatterns != nil {
		for _, p := range r.TagPatterns {
			if !slices.ContainsFunc(tags, func(t string) bool { return MatchPattern(t, p) }) {
				return false
			}
		}
		return true
	}
	for _, p := range r.TagPrefixes { // every prefix must start one of the tags
		found := false
		for _, t := range tags {
			if len(t) >= len(p) && t[:len(p)] == p {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// MatchPattern tells whether tag matches a tagPatternList pattern, where '*' stands for any run of
// characters (also none) and everything else for itself.
func MatchPattern(tag, pattern string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return tag == pattern
	}
	if !strings.HasPrefix(tag, parts[0]) {
		return false
	}
	tag = tag[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(tag, mid)
		if i < 0 {
			return false
		}
		tag = tag[i+len(mid):]
	}
	return len(tag) >= len(last) && strings.HasSuffix(tag, last)
}
