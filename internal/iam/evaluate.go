package iam

import (
	"strings"
)

// Principal is who makes a request, as policies see it.
type Principal struct {
	ARN      string // arn:aws:iam::A:user/alice, arn:aws:sts::A:assumed-role/R/S, arn:aws:iam::A:root
	Account  string
	Type     string // "User", "AssumedRole", "Account"
	RoleARN  string // the role of an assumed-role session
	UserName string // IAM users only
	UserID   string
}

// Request is one authorization question: may Principal perform Action on Resource?
type Request struct {
	Principal       Principal
	Action          string              // "ecr:BatchGetImage"
	Resource        string              // the resource ARN, or "*" for actions without resource-level permissions
	ResourceAccount string              // the account that owns the resource
	Context         map[string][]string // further condition keys (aws:ResourceTag/…, aws:TagKeys, aws:SourceIp, …)
	// ResourceRequired makes the resource policy's allow necessary even within one account: a role's trust
	// policy must always let a principal assume the role.
	ResourceRequired bool
}

// Decision is the answer. Reason completes AWS's AccessDenied message after the resource.
type Decision struct {
	Allowed bool
	Reason  string
}

// principalMatch tells how a resource policy statement named the caller.
type principalMatch int

const (
	noMatch      principalMatch = iota
	directMatch                 // "*", the user, the role of a session, the session
	accountMatch                // the caller's account: delegates to the account's own policies
)

// Evaluate applies AWS's evaluation logic to the principal's identity policies and the resource's policies:
// an explicit deny anywhere wins; within one account either side may allow (an account-wide grant in a
// resource policy delegates to identity policies); across accounts both sides must allow.
func Evaluate(req Request, identity []*Policy, resource []*Policy) Decision {
	ctx := newContext(req)
	action := req.Action
	vars := ctx.single
	idAllow, resAllow, resDirect := false, false, false
	for _, p := range identity {
		for i := range p.Statements {
			s := &p.Statements[i]
			if !s.applies(req, ctx, vars, p.Version, false) {
				continue
			}
			if s.Effect == "Deny" {
				return denied("with an explicit deny in an identity-based policy")
			}
			idAllow = true
		}
	}
	for _, p := range resource {
		for i := range p.Statements {
			s := &p.Statements[i]
			m := s.principalMatch(req.Principal)
			if m == noMatch || !s.applies(req, ctx, vars, p.Version, true) {
				continue
			}
			if s.Effect == "Deny" {
				return denied("with an explicit deny in a resource-based policy")
			}
			resAllow = true
			resDirect = resDirect || m == directMatch
		}
	}
	if req.ResourceRequired && !resAllow {
		return denied("because no resource-based policy allows the " + action + " action")
	}
	if req.Principal.Account == req.ResourceAccount || req.ResourceAccount == "" {
		if idAllow || resDirect {
			return Decision{Allowed: true}
		}
		return denied("because no identity-based policy allows the " + action + " action")
	}
	switch {
	case !idAllow:
		return denied("because no identity-based policy allows the " + action + " action")
	case !resAllow:
		return denied("because no resource-based policy allows the " + action + " action")
	}
	return Decision{Allowed: true}
}

func denied(reason string) Decision { return Decision{Reason: reason} }

// context answers condition-key lookups: the principal's global keys, then the request's own keys
// (lower-cased, copied only when the caller did not give them lower-case).
type context struct {
	keys                                map[string][]string
	arn, account, typ, userID, userName []string
}

func newContext(req Request) *context {
	c := &context{keys: req.Context}
	for k := range req.Context {
		if k != strings.ToLower(k) {
			c.keys = make(map[string][]string, len(req.Context))
			for k, v := range req.Context {
				c.keys[strings.ToLower(k)] = v
			}
			break
		}
	}
	p := req.Principal
	arn := p.ARN
	if p.RoleARN != "" {
		arn = p.RoleARN
	}
	vals := [...]string{arn, p.Account, p.Type, p.UserID, p.UserName}
	c.arn, c.account, c.typ = vals[0:1:1], vals[1:2:2], vals[2:3:3]
	if p.UserID != "" {
		c.userID = vals[3:4:4]
	}
	if p.Type == "User" && p.UserName != "" {
		c.userName = vals[4:5:5]
	}
	return c
}

// get returns a key's values (the key lower-case).
func (c *context) get(key string) ([]string, bool) {
	switch key {
	case "aws:principalarn":
		return c.arn, true
	case "aws:principalaccount":
		return c.account, true
	case "aws:principaltype":
		return c.typ, true
	case "aws:userid":
		return c.userID, c.userID != nil
	case "aws:username":
		return c.userName, c.userName != nil
	}
	v, ok := c.keys[key]
	return v, ok
}

// single returns a single-valued key's value, for policy variables.
func (c *context) single(key string) (string, bool) {
	v, ok := c.get(key)
	if !ok || len(v) != 1 {
		return "", false
	}
	return v[0], true
}

// applies tells whether the statement covers the request's action, resource and conditions.
func (s *Statement) applies(req Request, ctx *context, vars func(string) (string, bool), version string, resourcePolicy bool) bool {
	if len(s.Action) > 0 && !anyAction(s.Action, req.Action) || len(s.NotAction) > 0 && anyAction(s.NotAction, req.Action) {
		return false
	}
	switch {
	case len(s.Resource) > 0:
		if !anyResource(s.Resource, req.Resource, vars, version) {
			return false
		}
	case len(s.NotResource) > 0:
		if anyResource(s.NotResource, req.Resource, vars, version) {
			return false
		}
	case !resourcePolicy:
		return false
	}
	for _, c := range s.Conditions {
		if !c.eval(ctx, vars, version) {
			return false
		}
	}
	return true
}

func anyAction(patterns []string, action string) bool {
	for _, p := range patterns {
		if wildcard(p, action, true) { // patterns are lower-cased already; the action is folded as it is read
			return true
		}
	}
	return false
}

func anyResource(patterns []string, resource string, vars func(string) (string, bool), version string) bool {
	for _, p := range patterns {
		if p == "*" {
			return true
		}
		resolved, ok := substitute(p, vars, version)
		if ok && wildcard(resolved, resource, false) {
			return true
		}
	}
	return false
}

// principalMatch tells whether (and how) the statement's Principal or NotPrincipal covers p.
func (s *Statement) principalMatch(p Principal) principalMatch {
	if s.notPrincipal {
		// Only principals listed themselves are spared: an account listed in NotPrincipal spares the
		// account, not its users and sessions (which is why AWS asks to list both).
		if matchPrincipals(s.NotPrincipal, p) == directMatch {
			return noMatch
		}
		return directMatch
	}
	return matchPrincipals(s.Principal, p)
}

func matchPrincipals(ps principals, p Principal) principalMatch {
	best := noMatch
	for _, v := range ps["AWS"] {
		switch {
		case v == "*" || v == p.ARN || p.RoleARN != "" && v == p.RoleARN:
			return directMatch
		case v == p.Account || v == "arn:aws:iam::"+p.Account+":root":
			if p.Type == "Account" {
				return directMatch
			}
			best = accountMatch
		}
	}
	return best
}
