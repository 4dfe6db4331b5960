// Package iam is Wharf's IAM policy engine: the policy language (statements, principals, actions,
// resources, conditions, variables) and AWS's evaluation logic for identity and resource policies, within
// one account and across accounts.
package iam

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Kind says where a policy is attached, which decides its grammar.
type Kind int

const (
	IdentityPolicy Kind = iota // attached to a user, group or role: no Principal, needs Resource
	ResourcePolicy             // attached to a repository: needs Principal; Resource optional
)

// Policy is a parsed policy document.
type Policy struct {
	Version    string
	Statements []Statement
}

// Statement is one statement of a policy.
type Statement struct {
	Sid          string
	Effect       string // "Allow" or "Deny"
	Principal    principals
	NotPrincipal principals
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	Conditions   []condition
	hasPrincipal bool
	notPrincipal bool
}

// principals maps a principal type (AWS, Service, Federated, CanonicalUser) to its values; "*" is {"AWS": ["*"]}.
type principals map[string][]string

// ErrInvalid wraps every reason a policy document is refused.
var ErrInvalid = errors.New("invalid policy")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// stringList decodes a JSON string or array of strings (numbers and booleans become their text).
func stringList(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	if raw[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			s, err := scalar(it)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := scalar(raw)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func scalar(raw json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case float64, bool:
		return strings.TrimSpace(string(raw)), nil
	}
	return "", fmt.Errorf("expected a string, number or boolean, got %s", raw)
}

type statementJSON struct {
	Sid          string                                `json:"Sid"`
	Effect       string                                `json:"Effect"`
	Principal    json.RawMessage                       `json:"Principal"`
	NotPrincipal json.RawMessage                       `json:"NotPrincipal"`
	Action       json.RawMessage                       `json:"Action"`
	NotAction    json.RawMessage                       `json:"NotAction"`
	Resource     json.RawMessage                       `json:"Resource"`
	NotResource  json.RawMessage                       `json:"NotResource"`
	Condition    map[string]map[string]json.RawMessage `json:"Condition"`
}

// Parse reads a policy document of the given kind and checks its grammar.
func Parse(text string, kind Kind) (*Policy, error) {
	var doc struct {
		Version   string          `json:"Version"`
		ID        string          `json:"Id"`
		Statement json.RawMessage `json:"Statement"`
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, invalid("malformed policy document: %v", err)
	}
	if dec.More() {
		return nil, invalid("trailing data after the policy document")
	}
	switch doc.Version {
	case "2012-10-17", "2008-10-17":
	case "":
		doc.Version = "2008-10-17"
	default:
		return nil, invalid("unknown Version %q", doc.Version)
	}
	if kind == IdentityPolicy && doc.ID != "" {
		return nil, invalid("Id is not allowed in an identity policy")
	}
	var raws []json.RawMessage
	st := bytes.TrimSpace(doc.Statement)
	switch {
	case len(st) == 0:
		return nil, invalid("Statement is missing")
	case st[0] == '[':
		if err := json.Unmarshal(st, &raws); err != nil {
			return nil, invalid("Statement: %v", err)
		}
	default:
		raws = []json.RawMessage{st}
	}
	p := &Policy{Version: doc.Version}
	for i, raw := range raws {
		s, err := parseStatement(raw, kind)
		if err != nil {
			return nil, fmt.Errorf("%w (statement %d)", err, i)
		}
		p.Statements = append(p.Statements, *s)
	}
	return p, nil
}

func parseStatement(raw json.RawMessage, kind Kind) (*Statement, error) {
	var sj statementJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sj); err != nil {
		return nil, invalid("malformed statement: %v", err)
	}
	s := &Statement{Sid: sj.Sid, Effect: sj.Effect}
	if s.Effect != "Allow" && s.Effect != "Deny" {
		return nil, invalid("Effect must be Allow or Deny, not %q", sj.Effect)
	}
	var err error
	if s.Action, err = stringList(sj.Action); err != nil {
		return nil, invalid("Action: %v", err)
	}
	if s.NotAction, err = stringList(sj.NotAction); err != nil {
		return nil, invalid("NotAction: %v", err)
	}
	if (len(s.Action) == 0) == (len(s.NotAction) == 0) {
		return nil, invalid("a statement has exactly one of Action and NotAction")
	}
	for _, a := range append(append([]string{}, s.Action...), s.NotAction...) {
		if a != "*" && !strings.Contains(a, ":") {
			return nil, invalid("action %q is not of the form service:Action", a)
		}
	}
	// Actions match case-insensitively: keep them lower-cased once.
	for i := range s.Action {
		s.Action[i] = strings.ToLower(s.Action[i])
	}
	for i := range s.NotAction {
		s.NotAction[i] = strings.ToLower(s.NotAction[i])
	}
	if s.Resource, err = stringList(sj.Resource); err != nil {
		return nil, invalid("Resource: %v", err)
	}
	if s.NotResource, err = stringList(sj.NotResource); err != nil {
		return nil, invalid("NotResource: %v", err)
	}
	if len(s.Resource) > 0 && len(s.NotResource) > 0 {
		return nil, invalid("a statement has at most one of Resource and NotResource")
	}
	if kind == IdentityPolicy && len(s.Resource) == 0 && len(s.NotResource) == 0 {
		return nil, invalid("an identity policy statement needs Resource or NotResource")
	}
	if len(sj.Principal) > 0 && len(sj.NotPrincipal) > 0 {
		return nil, invalid("a statement has at most one of Principal and NotPrincipal")
	}
	if kind == IdentityPolicy && (len(sj.Principal) > 0 || len(sj.NotPrincipal) > 0) {
		return nil, invalid("Principal is not allowed in an identity policy")
	}
	if kind == ResourcePolicy {
		if len(sj.Principal) == 0 && len(sj.NotPrincipal) == 0 {
			return nil, invalid("a resource policy statement needs Principal or NotPrincipal")
		}
		if len(sj.Principal) > 0 {
			if s.Principal, err = parsePrincipals(sj.Principal); err != nil {
				return nil, err
			}
			s.hasPrincipal = true
		} else {
			if s.NotPrincipal, err = parsePrincipals(sj.NotPrincipal); err != nil {
				return nil, err
			}
			s.notPrincipal = true
		}
	}
	ops := make([]string, 0, len(sj.Condition))
	for op := range sj.Condition {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		for key, raw := range sj.Condition[op] {
			values, err := stringList(raw)
			if err != nil {
				return nil, invalid("Condition %s %s: %v", op, key, err)
			}
			c, err := newCondition(op, key, values)
			if err != nil {
				return nil, err
			}
			s.Conditions = append(s.Conditions, c)
		}
	}
	return s, nil
}

func parsePrincipals(raw json.RawMessage) (principals, error) {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return nil, invalid("Principal must be \"*\" or an object")
		}
		return principals{"AWS": {"*"}}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalid("Principal: %v", err)
	}
	out := principals{}
	for k, v := range m {
		switch k {
		case "AWS", "Service", "Federated", "CanonicalUser":
		default:
			return nil, invalid("unknown principal type %q", k)
		}
		vals, err := stringList(v)
		if err != nil {
			return nil, invalid("Principal %s: %v", k, err)
		}
		for _, p := range vals {
			if k == "AWS" && p != "*" && strings.Contains(p, "*") {
				return nil, invalid("principal %q: wildcards are not allowed inside principals", p)
			}
		}
		out[k] = vals
	}
	return out, nil
}

// AWSPrincipals lists the AWS principals a policy names in Principal and NotPrincipal ("*" included).
func (p *Policy) AWSPrincipals() []string {
	var out []string
	for _, s := range p.Statements {
		out = append(out, s.Principal["AWS"]...)
		out = append(out, s.NotPrincipal["AWS"]...)
	}
	return out
}
