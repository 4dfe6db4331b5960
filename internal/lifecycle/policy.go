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
	// SinceImagePulled counts from an image's last recorded pull (its push when never pulled).
	SinceImagePulled CountType = "sinceImagePulled"
	// SinceImageTransitioned counts from an archived image's archiving; it selects archived images only.
	SinceImageTransitioned CountType = "sinceImageTransitioned"
)

// Storage classes a rule selects, and the target of a transition.
const (
	Standard = "standard"
	Archive  = "archive"
)

// Actions a rule takes on the images it marks.
const (
	Expire     = "expire"
	Transition = "transition" // to the archive storage class
)

// MinArchiveDays is the archive's minimum storage duration: no rule may expire an archived image sooner.
const MinArchiveDays = 90

// Rule is one rule of a policy.
type Rule struct {
	Priority    int
	Description string
	TagStatus   TagStatus
	TagPrefixes []string // tagged rules: every prefix must match one of the image's tags
	TagPatterns []string // tagged rules, instead of prefixes: wildcard patterns, every one must match a tag
	CountType   CountType
	CountUnit   string // "days" for the sinceImage… count types
	CountNumber int
	// StorageClass is the class of the images the rule selects: Standard, or Archive (for
	// sinceImageTransitioned only).
	StorageClass string
	// Action is Expire, or Transition (to the archive) for a rule that selects standard images.
	Action string
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
		"tagStatus", "tagPrefixList", "tagPatternList", "storageClass", "countType", "countUnit", "countNumber")
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
	switch r.CountType {
	case ImageCountMoreThan, SinceImagePushed, SinceImagePulled, SinceImageTransitioned:
	default:
		return invalid(`%s: "countType" must be "imageCountMoreThan", "sinceImagePushed", "sinceImagePulled" or "sinceImageTransitioned"%s`, where, got(countType, ok))
	}
	unit, hasUnit, err := sel.str("countUnit", where)
	if err != nil {
		return err
	}
	switch {
	case r.CountType == ImageCountMoreThan && hasUnit:
		return invalid(`%s: "countUnit" is only allowed when "countType" is "sinceImagePushed", "sinceImagePulled" or "sinceImageTransitioned"`, where)
	case r.CountType != ImageCountMoreThan && !hasUnit:
		return invalid(`%s: "countUnit" is required when "countType" is %q`, where, r.CountType)
	case r.CountType != ImageCountMoreThan && unit != "days" && unit != "day": // the guide's last example writes "day"
		return invalid(`%s: "countUnit" must be "days"%s`, where, got(unit, true))
	}
	class, hasClass, err := sel.str("storageClass", where)
	if err != nil {
		return err
	}
	r.StorageClass = Standard
	switch {
	case hasClass && class != Standard && class != Archive:
		return invalid(`%s: "storageClass" must be "standard" or "archive"%s`, where, got(class, true))
	case r.CountType == SinceImageTransitioned && class != Archive:
		return invalid(`%s: "storageClass" must be "archive" when "countType" is "sinceImageTransitioned"%s`, where, got(class, hasClass))
	case r.CountType != SinceImageTransitioned && hasClass && class != Standard:
		return invalid(`%s: "storageClass" must be "standard" when "countType" is %q, not %q`, where, r.CountType, class)
	case hasClass:
		r.StorageClass = class
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
	act, err := decodeObject(o["action"], where+": action", "type", "targetStorageClass")
	if err != nil {
		return err
	}
	typ, ok, err := act.str("type", where)
	if err != nil {
		return err
	}
	if typ != Expire && typ != Transition {
		return invalid(`%s: "action.type" must be "expire" or "transition"%s`, where, got(typ, ok))
	}
	r.Action = typ
	target, hasTarget, err := act.str("targetStorageClass", where)
	if err != nil {
		return err
	}
	switch {
	case typ == Expire && hasTarget:
		return invalid(`%s: "action.targetStorageClass" is only allowed when "action.type" is "transition"`, where)
	case typ == Transition && target != Archive:
		return invalid(`%s: "action.targetStorageClass" must be "archive" when "action.type" is "transition"%s`, where, got(target, hasTarget))
	case typ == Transition && r.StorageClass == Archive:
		return invalid(`%s: a rule that selects archived images cannot transition them to the archive`, where)
	case typ == Expire && r.CountType == SinceImageTransitioned && r.CountNumber < MinArchiveDays:
		return invalid(`%s: archived images have a minimum storage duration of %d days; "countNumber" must be at least %d, not %d`,
			where, MinArchiveDays, MinArchiveDays, r.CountNumber)
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
	// The rules that select standard images and those that select archived ones see different images:
	// the rules relating rules hold within each storage class.
	highest := map[string]int{}
	for i, r := range p.Rules {
		if h, ok := highest[r.StorageClass]; !ok || r.Priority > p.Rules[h].Priority {
			highest[r.StorageClass] = i
		}
	}
	untagged := map[string]int{}
	selections := map[string]int{}
	for i, r := range p.Rules {
		for j := range i {
			if p.Rules[j].Priority == r.Priority {
				return invalid("%s: rulePriority %d is already used by rule %d; every rule needs its own rulePriority", name(i), r.Priority, j+1)
			}
		}
		switch r.TagStatus {
		case Any:
			if h := highest[r.StorageClass]; i != h {
				return invalid(`%s: a rule with "tagStatus" "any" must have the highest rulePriority, but %s is higher`, name(i), name(h))
			}
		case Untagged:
			if j, ok := untagged[r.StorageClass]; ok {
				return invalid("%s: only one rule may select untagged images, and %s already does", name(i), name(j))
			}
			untagged[r.StorageClass] = i
		case Tagged:
			key := r.StorageClass + " " + selectionKey(r)
			if j, dup := selections[key]; dup {
				return invalid("%s: its tag selection %s is the same as that of %s; the rules must have a unique set of tag prefixes", name(i), selectionKey(r), name(j))
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
