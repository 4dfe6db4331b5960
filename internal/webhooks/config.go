package webhooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"time"
)

// Target is a receiver of notifications, configured by the operator (never by API callers).
type Target struct {
	// Name identifies the target in jobs, logs and metrics: letters, digits, '.', '_' and '-'.
	Name string `json:"name"`
	// URL receives each event in a POST: http or https, without credentials in it.
	URL string `json:"url"`
	// Secret signs each body (HMAC-SHA256, in the X-Wharf-Signature header).
	Secret string `json:"secret"`
	// DetailTypes are the detail-types the target receives; default the ECR ones (ECR Image Action and
	// ECR Lifecycle Policy Action). Wharf's own ones are delivered only to targets that name them.
	DetailTypes []string `json:"detailTypes,omitempty"`
	// ActionTypes, when set, are the only detail action-types the target receives (PUSH, DELETE, EXPIRE…).
	ActionTypes []string `json:"actionTypes,omitempty"`
	// Repositories, when set, are the only repositories the target hears of: names, or patterns in which
	// '*' matches any characters ("prod/*"), as ECR's filters have them.
	Repositories []string `json:"repositories,omitempty"`
	// Accounts, when set, are the only registries (account ids) the target hears of.
	Accounts []string `json:"accounts,omitempty"`
	// Timeout bounds one delivery attempt; default 10 seconds.
	Timeout Duration `json:"timeout,omitempty"`
	// Attempts is how many times a delivery is tried before it is dead; default 10.
	Attempts int `json:"attempts,omitempty"`
	// Backoff is the wait after the first failed attempt, doubling with each one after; default 10 seconds.
	Backoff Duration `json:"backoff,omitempty"`
}

// Duration is a time.Duration written as a string in JSON ("10s", "500ms").
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"10s\": %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("invalid duration %q", s)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Defaults of a target.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultAttempts = 10
	DefaultBackoff  = 10 * time.Second
)

var targetName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ParseTargets reads targets from their JSON, an array of Target objects ("" is none), checks them and
// fills in the defaults.
func ParseTargets(text string) ([]Target, error) {
	if text == "" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.DisallowUnknownFields()
	var targets []Target
	if err := dec.Decode(&targets); err != nil {
		return nil, fmt.Errorf("webhooks: want a JSON array of targets: %w", err)
	}
	seen := map[string]bool{}
	for i := range targets {
		t := &targets[i]
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("webhooks: target %d (%q): %w", i+1, t.Name, err)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("webhooks: two targets are named %q", t.Name)
		}
		seen[t.Name] = true
	}
	return targets, nil
}

func (t *Target) check() error {
	if !targetName.MatchString(t.Name) {
		return fmt.Errorf("name: 1 to 64 letters, digits, '.', '_' or '-'")
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url: want an absolute http or https URL")
	}
	if u.User != nil {
		return fmt.Errorf("url: no credentials in the URL; the secret signs each delivery")
	}
	if t.Secret == "" {
		return fmt.Errorf("secret: required (it signs each delivery)")
	}
	for _, dt := range t.DetailTypes {
		if !slices.Contains(detailTypes, dt) {
			return fmt.Errorf("detailTypes: %q is none of %q", dt, detailTypes)
		}
	}
	for _, p := range t.Repositories {
		if p == "" {
			return fmt.Errorf("repositories: an empty pattern")
		}
	}
	if t.Attempts < 0 {
		return fmt.Errorf("attempts: not negative")
	}
	if t.Timeout == 0 {
		t.Timeout = Duration(DefaultTimeout)
	}
	if t.Attempts == 0 {
		t.Attempts = DefaultAttempts
	}
	if t.Backoff == 0 {
		t.Backoff = Duration(DefaultBackoff)
	}
	return nil
}

// Matches tells whether the target receives an event.
func (t *Target) Matches(e *Envelope) bool {
	types := t.DetailTypes
	if len(types) == 0 {
		types = ecrDetailTypes
	}
	if !slices.Contains(types, e.DetailType) {
		return false
	}
	if len(t.ActionTypes) > 0 && !slices.Contains(t.ActionTypes, e.Detail.ActionType) {
		return false
	}
	if len(t.Accounts) > 0 && !slices.Contains(t.Accounts, e.Account) {
		return false
	}
	if len(t.Repositories) == 0 {
		return true
	}
	for _, p := range t.Repositories {
		if e.Detail.RepositoryName != "" && wildcard(p, e.Detail.RepositoryName) {
			return true
		}
	}
	return false
}

// wildcard matches s against a pattern in which '*' stands for any run of characters. On a mismatch the
// last star seen takes one more character: the work is at most the product of the lengths, however many
// stars the pattern has.
func wildcard(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0 // the last star's place in the pattern, and where in s its run ends
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
