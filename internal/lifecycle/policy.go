// Package lifecycle is the lifecycle policy engine: it parses and validates ECR lifecycle policy text and
// decides which images of a repository a policy expires, exactly as the ECR user guide's evaluation rules
// say. It knows nothing of storage; the registry core feeds it images and applies its verdicts.
package lifecycle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Limits of a lifecycle policy.
const (
	MaxRules            = 50
	MinTextLength       = 100 // botocore's LifecyclePolicyText bounds
	MaxTextLength       = 30720
	MaxPatternWildcards = 4
)

// TagStatus selects images by whether they carry tags.
type TagStatus string

const (
	Tagged   TagStatus = "tagged"
	Untagged TagStatus = "untagged"
	Any      TagStatus = "any"
)

// CountType is how a rule counts: images beyond a number, or images older than an age.
type CountType string

const (
	ImageCountMoreThan CountType = "imageCountMoreThan"
	SinceImagePushed   CountType = "sinceImagePushed"
)

// Rule is one rule of a policy.
type Rule struct {
	Priority    int
	Description string
	TagStatus   TagStatus
	TagPrefixes []string // tagged rules: every prefix must match one of the image's tags
	TagPatterns []string // tagged rules, instead of prefixes: wildcard patterns, every one must match a tag
	CountType   CountType
	CountUnit   string // "days" for sinceImagePushed
	CountNumber int
}

// Policy is a validated lifecycle policy; its rules are in evaluation order (lowest priority first).
type Policy struct {
	Rules []Rule
}

// ValidationError says why policy text is not a valid lifecycle policy, naming the rule and the problem.
type ValidationError struct{ Reason string }

func (e *ValidationError) Error() string { return "Lifecycle policy validation failure: " + e.Reason }

func invalid(format string, args ...any) error {
	return &ValidationError{Reason: fmt.Sprintf(format, args...)}
}

// object is a JSON object whose members are decoded one at a time, so every problem can be named.
type object map[string]json.RawMessage

func decodeObject(raw json.RawMessage, where string, allowed ...string) (object, error) {
	var o object
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return nil, invalid("%s must be a JSON object", where)
	}
	for k := range o {
		if !slices.Contains(allowed, k) {
			return nil, invalid("%s has the unknown property %q (allowed: %s)", where, k, strings.Join(allowed, ", "))
		}
	}
	return o, nil
}

func (o object) str(key, where string) (string, bool, error) {
	raw, ok := o[key]
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, invalid("%s: %q must be a string", where, key)
	}
	return s, true, nil
}

func (o object) integer(key, where string) (int, bool, error) {
	raw, ok := o[key]
	if !ok {
		return 0, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var n json.Number
	if err := dec.Decode(&n); err != nil || bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) {
		return 0, true, invalid("%s: %q must be an integer of at least 1", where, key)
	}
	v, err := n.Int64()
	if err != nil || v < 1 || v > 1<<31-1 {
		return 0, true, invalid("%s: %q must be an integer of at least 1, not %s", where, key, n)
	}
	return int(v), true, nil
}

func (o object) strings(key, where string) ([]string, bool, error) {
	raw, ok := o[key]
	if !ok {
		return nil, false, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil || l == nil {
		return nil, true, invalid("%s: %q must be a list of strings", where, key)
	}
	return l, true, nil
}

// Parse validates lifecycle policy text and returns the policy. Its errors are *ValidationError.
func Parse(text string) (*Policy, error) {
	top, err := decodeObject(json.RawMessage(text), "the policy", "rules")
	if err != nil {
		if !json.Valid([]byte(text)) {
			return nil, invalid("the policy text is not valid JSON")
		}
		return nil, err
	}
	raw, ok := top["rules"]
	if !ok {
		return nil, invalid(`the policy must have a "rules" list`)
	}
	var rules []json.RawMessage
	if err := json.Unmarshal(raw, &rules); err != nil {
		return nil, invalid(`"rules" must be a list of rules`)
	}
	if len(rules) == 0 {
		return nil, invalid(`"rules" must hold at least one rule`)
	}
	if len(rules) > MaxRules {
		return nil, invalid("a policy may have at most %d rules; this one has %d", MaxRules, len(rules))
	}
	p := &Policy{Rules: make([]Rule, len(rules))}
	for i, raw := range rules {
		if err := parseRule(raw, i+1, &p.Rules[i]); err != nil {
			return nil, err
		}
	}
	if err := p.checkAcrossRules(); err != nil {
		return nil, err
	}
	slices.SortFunc(p.Rules, func(a, b Rule) int { return a.Priority - b.Priority })
	return p, nil
}

func parseRule(raw json.RawMessage, n int, r *Rule) error {
	where := fmt.Sprintf("rule %d", n)
	o, err := decodeObject(raw, where, "rulePriority", "description", "selection", "action")
	if err != nil {
		return err
	}
	var ok bool
	if r.Priority, ok, err = o.integer("rulePriority", where); err != nil {
		return err
	} else if !ok {
		return invalid(`%s: "rulePriority" is required`, where)
	}
	where = fmt.Sprintf("rule %d (rulePriority %d)", n, r.Priority)
	if r.Description, _, err = o.str("description", where); err != nil {
		return err
	}

	if _, ok := o["selection"]; !ok {
		return invalid(`%s: "selection" is required`, where)
	}
	sel, err := decodeObject(o["selection"], where+": selection",
		"tagStatus", "tagPrefixList", "tagPatternList", "countType", "countUnit", "countNumber")
	if err != nil {
		return err
	}
	status, ok, err := sel.str("tagStatus", where)
	if err != nil {
		return err
	}
	r.TagStatus = TagStatus(status)
	if !ok || (r.TagStatus != Tagged && r.TagStatus != Untagged && r.TagStatus != Any) {
		return invalid(`%s: "tagStatus" must be "tagged", "untagged" or "any"%s`, where, got(status, ok))
	}
	prefixes, hasPrefixes, err := sel.strings("tagPrefixList", where)
	if err != nil {
		return err
	}
	patterns, hasPatterns, err := sel.strings("tagPatternList", where)
	if err != nil {
		return err
	}
	switch {
	case r.TagStatus != Tagged && hasPrefixes:
		return invalid(`%s: "tagPrefixList" is not allowed when "tagStatus" is %q`, where, status)
	case r.TagStatus != Tagged && hasPatterns:
		return invalid(`%s: "tagPatternList" is not allowed when "tagStatus" is %q`, where, status)
	case r.TagStatus == Tagged && hasPrefixes && hasPatterns:
		return invalid(`%s: "tagPrefixList" and "tagPatternList" cannot be used together`, where)
	case r.TagStatus == Tagged && !hasPrefixes && !hasPatterns:
		return invalid(`%s: "tagPrefixList" (or "tagPatternList") is required when "tagStatus" is "tagged"`, where)
	case hasPrefixes:
		if len(prefixes) == 0 || slices.Contains(prefixes, "") {
			return invalid(`%s: "tagPrefixList" must hold at least one prefix, and no empty one`, where)
		}
		r.TagPrefixes = prefixes
	case hasPatterns:
		if len(patterns) == 0 || slices.Contains(patterns, "") {
			return invalid(`%s: "tagPatternList" must hold at least one pattern, and no empty one`, where)
		}
		for _, pat := range patterns {
			if w := strings.Count(pat, "*"); w > MaxPatternWildcards {
				return invalid(`%s: the tag pattern %q has %d wildcards; at most %d are allowed`, where, pat, w, MaxPatternWildcards)
			}
		}
		r.TagPatterns = patterns
	}

	countType, ok, err := sel.str("countType", where)
	if err != nil {
		return err
	}
	r.CountType = CountType(countType)
	if !ok || (r.CountType != ImageCountMoreThan && r.CountType != SinceImagePushed) {
		return invalid(`%s: "countType" must be "imageCountMoreThan" or "sinceImagePushed"%s`, where, got(countType, ok))
	}
	unit, hasUnit, err := sel.str("countUnit", where)
	if err != nil {
		return err
	}
	switch {
	case r.CountType == ImageCountMoreThan && hasUnit:
		return invalid(`%s: "countUnit" is only allowed when "countType" is "sinceImagePushed"`, where)
	case r.CountType == SinceImagePushed && !hasUnit:
		return invalid(`%s: "countUnit" is required when "countType" is "sinceImagePushed"`, where)
	case r.CountType == SinceImagePushed && unit != "days" && unit != "day": // the guide's last example writes "day"
		return invalid(`%s: "countUnit" must be "days"%s`, where, got(unit, true))
	}
	r.CountUnit = unit
	if r.CountNumber, ok, err = sel.integer("countNumber", where); err != nil {
		return err
	} else if !ok {
		return invalid(`%s: "countNumber" is required`, where)
	}

	if _, ok := o["action"]; !ok {
		return invalid(`%s: "action" is required`, where)
	}
	act, err := decodeObject(o["action"], where+": action", "type")
	if err != nil {
		return err
	}
	if typ, ok, err := act.str("type", where); err != nil {
		return err
	} else if typ != "expire" {
		return invalid(`%s: "action.type" must be "expire"%s`, where, got(typ, ok))
	}
	return nil
}

// got describes a bad value for a message: `, not "x"`, or nothing when the member was absent.
func got(v string, present bool) string {
	if !present {
		return " (it is missing)"
	}
	return fmt.Sprintf(", not %q", v)
}

// checkAcrossRules applies the rules that relate rules to each other, naming both rules involved.
func (p *Policy) checkAcrossRules() error {
	name := func(i int) string { return fmt.Sprintf("rule %d (rulePriority %d)", i+1, p.Rules[i].Priority) }
	highest := 0
	for i, r := range p.Rules {
		if r.Priority > p.Rules[highest].Priority {
			highest = i
		}
	}
	untagged := -1
	selections := map[string]int{}
	for i, r := range p.Rules {
		for j := range i {
			if p.Rules[j].Priority == r.Priority {
				return invalid("%s: rulePriority %d is already used by rule %d; every rule needs its own rulePriority", name(i), r.Priority, j+1)
			}
		}
		switch r.TagStatus {
		case Any:
			if i != highest {
				return invalid(`%s: a rule with "tagStatus" "any" must have the highest rulePriority, but %s is higher`, name(i), name(highest))
			}
		case Untagged:
			if untagged >= 0 {
				return invalid("%s: only one rule may select untagged images, and %s already does", name(i), name(untagged))
			}
			untagged = i
		case Tagged:
			key := selectionKey(r)
			if j, dup := selections[key]; dup {
				return invalid("%s: its tag selection %s is the same as that of %s; the rules must have a unique set of tag prefixes", name(i), key, name(j))
			}
			selections[key] = i
		}
	}
	return nil
}

// selectionKey is a tagged rule's set of prefixes or patterns, in a canonical form.
func selectionKey(r Rule) string {
	kind, list := "tagPrefixList", r.TagPrefixes
	if r.TagPatterns != nil {
		kind, list = "tagPatternList", r.TagPatterns
	}
	set := slices.Clone(list)
	slices.Sort(set)
	set = slices.Compact(set)
	b, _ := json.Marshal(set)
	return kind + " " + string(b)
}
