package lifecycle

import (
	"slices"
	"strings"
	"time"
)

// Image is what the evaluator knows of an image.
type Image struct {
	Digest       string
	Tags         []string
	PushedAt     time.Time
	LastPulledAt time.Time // zero when never pulled
	// Archived images are in the archive storage class since ArchivedAt. ActivatedAt is when the image's
	// last restore from the archive completed (zero if never): a restored image counts as pushed then.
	Archived    bool
	ArchivedAt  time.Time
	ActivatedAt time.Time
}

// Expiry is one verdict: images[Index] is expired (or, Transition, archived) by the rule with priority Rule.
type Expiry struct {
	Index      int
	Rule       int
	Transition bool
}

// since is the time an age-based rule counts an image's age from.
func (r *Rule) since(img *Image) time.Time {
	switch r.CountType {
	case SinceImageTransitioned:
		return img.ArchivedAt
	case SinceImagePulled:
		return latest(img.PushedAt, img.ActivatedAt, img.LastPulledAt)
	}
	return latest(img.PushedAt, img.ActivatedAt)
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
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
// With ECR's archive storage class: a rule selects only the images of its storageClass (standard: not
// archived), so imageCountMoreThan counts the active images it selects; a transition rule archives what
// it marks instead of expiring it; sinceImagePulled counts from the last recorded pull (the push when
// never pulled), sinceImageTransitioned from the archiving; a restored image counts as pushed when its
// restore completed, as ECR's restored images "behave like newly pushed images".
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
	transition := make([]bool, len(images))
	claimed := make([]bool, len(images)) // matched the tagging requirements of an earlier rule
	var selected, marked []int
	for _, r := range p.Rules {
		selected = selected[:0]
		for _, i := range order {
			if images[i].Archived == (r.StorageClass == Archive) && r.Selects(images[i].Tags) {
				selected = append(selected, i)
			}
		}
		marked = marked[:0]
		switch r.CountType {
		case ImageCountMoreThan:
			if len(selected) > r.CountNumber {
				marked = append(marked, selected[r.CountNumber:]...)
			}
		default:
			cutoff := now.Add(-time.Duration(r.CountNumber) * day)
			for _, i := range selected {
				if r.since(&images[i]).Before(cutoff) {
					marked = append(marked, i)
				}
			}
		}
		for _, i := range marked {
			if expiredBy[i] == 0 && !claimed[i] {
				expiredBy[i], transition[i] = r.Priority, r.Action == Transition
			}
		}
		for _, i := range selected {
			claimed[i] = true
		}
	}
	var out []Expiry
	for k := len(order) - 1; k >= 0; k-- {
		if i := order[k]; expiredBy[i] != 0 {
			out = append(out, Expiry{Index: i, Rule: expiredBy[i], Transition: transition[i]})
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
