package iam

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// condition is one key under one operator: `"StringEquals": {"aws:ResourceTag/env": ["dev", "test"]}`.
type condition struct {
	op       string // operator without set prefix and IfExists, e.g. "StringNotEquals"
	base     string // the positive operator it tests, e.g. "StringEquals"
	neg      bool   // a negated operator: true when no value matches
	ifExists bool
	set      string // "", "ForAllValues" or "ForAnyValue"
	key      string // lower case
	values   []string
	prefixes []netip.Prefix // IpAddress values, parsed once
}

var operators = map[string]bool{
	"StringEquals": true, "StringNotEquals": true, "StringEqualsIgnoreCase": true, "StringNotEqualsIgnoreCase": true,
	"StringLike": true, "StringNotLike": true,
	"NumericEquals": true, "NumericNotEquals": true, "NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"DateEquals": true, "DateNotEquals": true, "DateLessThan": true, "DateLessThanEquals": true,
	"DateGreaterThan": true, "DateGreaterThanEquals": true,
	"Bool": true, "IpAddress": true, "NotIpAddress": true,
	"ArnEquals": true, "ArnLike": true, "ArnNotEquals": true, "ArnNotLike": true,
	"Null": true,
}

func newCondition(op, key string, values []string) (condition, error) {
	c := condition{key: strings.ToLower(key), values: values}
	name := op
	if set, rest, ok := strings.Cut(name, ":"); ok {
		if set != "ForAllValues" && set != "ForAnyValue" {
			return c, invalid("unknown condition set operator %q", set)
		}
		c.set, name = set, rest
	}
	if base, ok := strings.CutSuffix(name, "IfExists"); ok && base != "" {
		c.ifExists, name = true, base
	}
	if !operators[name] {
		return c, invalid("unknown condition operator %q", op)
	}
	if name == "Null" && c.ifExists {
		return c, invalid("Null has no IfExists form")
	}
	if len(values) == 0 {
		return c, invalid("condition %s %s has no values", op, key)
	}
	c.op, c.neg, c.base = name, negated(name), name
	if c.neg {
		c.base = positive(name)
	}
	if c.base == "IpAddress" {
		for _, v := range values {
			if !strings.Contains(v, "/") {
				if strings.Contains(v, ":") {
					v += "/128"
				} else {
					v += "/32"
				}
			}
			pfx, err := netip.ParsePrefix(v)
			if err != nil {
				return c, invalid("condition %s %s: %q is not an IP address or CIDR block", op, key, v)
			}
			c.prefixes = append(c.prefixes, pfx.Masked())
		}
	}
	return c, nil
}

// negated operators are true when no policy value matches (NOR over the values).
func negated(op string) bool {
	switch op {
	case "StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals", "DateNotEquals",
		"NotIpAddress", "ArnNotEquals", "ArnNotLike":
		return true
	}
	return false
}

// positive is the operator a negated one negates.
func positive(op string) string {
	switch op {
	case "NotIpAddress":
		return "IpAddress"
	case "ArnNotEquals":
		return "ArnEquals"
	case "ArnNotLike":
		return "ArnLike"
	}
	return strings.Replace(op, "Not", "", 1)
}

// eval tells whether the condition holds for the request context.
func (c condition) eval(ctx *context, vars func(string) (string, bool), version string) bool {
	reqValues, present := ctx.get(c.key)
	if c.op == "Null" {
		want := strings.EqualFold(c.values[0], "true")
		return want == (!present || len(reqValues) == 0)
	}
	switch c.set {
	case "ForAllValues":
		for _, v := range reqValues {
			if !c.matchOne(v, vars, version) {
				return false
			}
		}
		return true // vacuously true for a missing or empty key
	case "ForAnyValue":
		for _, v := range reqValues {
			if c.matchOne(v, vars, version) {
				return true
			}
		}
		return false
	}
	if !present || len(reqValues) == 0 {
		return c.ifExists || c.neg
	}
	return c.matchOne(reqValues[0], vars, version)
}

// matchOne applies the operator to one request value against all policy values.
func (c condition) matchOne(v string, vars func(string) (string, bool), version string) bool {
	base, neg := c.base, c.neg
	if base == "IpAddress" {
		ip, err := netip.ParseAddr(v)
		hit := false
		for _, p := range c.prefixes {
			hit = hit || err == nil && p.Contains(ip)
		}
		return hit != neg
	}
	any := false
	for _, pv := range c.values {
		if strings.HasPrefix(base, "String") || strings.HasPrefix(base, "Arn") || base == "Bool" {
			resolved, ok := substitute(pv, vars, version)
			if !ok {
				continue // an unresolved variable matches nothing
			}
			pv = resolved
			if base != "StringLike" && base != "ArnLike" && base != "ArnEquals" {
				pv = strings.ReplaceAll(pv, string(literal), "") // no wildcards to escape
			}
		}
		if match(base, pv, v) {
			any = true
			break
		}
	}
	return any != neg
}

func match(op, policy, request string) bool {
	switch op {
	case "StringEquals":
		return policy == request
	case "StringEqualsIgnoreCase":
		return strings.EqualFold(policy, request)
	case "StringLike":
		return wildcard(policy, request, false)
	case "Bool":
		return strings.EqualFold(policy, request)
	case "ArnEquals", "ArnLike":
		pp, rp := strings.SplitN(policy, ":", 6), strings.SplitN(request, ":", 6)
		if len(pp) != 6 || len(rp) != 6 {
			return false
		}
		for i := range pp {
			if !wildcard(pp[i], rp[i], false) {
				return false
			}
		}
		return true
	case "IpAddress":
		ip, err := netip.ParseAddr(request)
		if err != nil {
			return false
		}
		if !strings.Contains(policy, "/") {
			a, err := netip.ParseAddr(policy)
			return err == nil && a == ip
		}
		pfx, err := netip.ParsePrefix(policy)
		return err == nil && pfx.Contains(ip)
	}
	if n, ok := strings.CutPrefix(op, "Numeric"); ok {
		a, err1 := strconv.ParseFloat(request, 64)
		b, err2 := strconv.ParseFloat(policy, 64)
		return err1 == nil && err2 == nil && compare(n, a, b)
	}
	if n, ok := strings.CutPrefix(op, "Date"); ok {
		a, ok1 := parseDate(request)
		b, ok2 := parseDate(policy)
		return ok1 && ok2 && compare(n, float64(a.UnixNano()), float64(b.UnixNano()))
	}
	return false
}

func compare(rel string, a, b float64) bool {
	switch rel {
	case "Equals":
		return a == b
	case "LessThan":
		return a < b
	case "LessThanEquals":
		return a <= b
	case "GreaterThan":
		return a > b
	case "GreaterThanEquals":
		return a >= b
	}
	return false
}

func parseDate(s string) (time.Time, bool) {
	for _, f := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z", "2006-01-02T15:04Z", "2006-01-02"} {
		if t, err := time.Parse(f, s); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// literal marks, in a pattern made by substitute, that the next byte is itself (a ${*} or ${?} escape).
const literal = '\x00'

// wildcard matches s against a pattern of * (any run) and ? (one character).
// With fold, s is compared lower-cased (ASCII) against a pattern that is lower-case already.
func wildcard(pattern, s string, fold bool) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p+1 < len(pattern) && pattern[p] == literal:
			if pattern[p+1] != s[i] {
				if star < 0 {
					return false
				}
				p = star + 1
				mark++
				i = mark
				continue
			}
			p += 2
			i++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i] || fold && pattern[p] == lowerASCII(s[i])):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// substitute resolves ${…} policy variables (2012-10-17 only; under 2008-10-17 they are literal text).
// It reports false when a variable has no value and no default.
func substitute(s string, vars func(string) (string, bool), version string) (string, bool) {
	if version != "2012-10-17" || !strings.Contains(s, "${") {
		return s, true
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:i])
		expr := s[i+2 : i+j]
		s = s[i+j+1:]
		switch expr {
		case "*", "?":
			b.WriteByte(literal) // the character itself, not a wildcard
			b.WriteString(expr)
			continue
		case "$":
			b.WriteString(expr)
			continue
		}
		key, def, hasDef := strings.Cut(expr, ",")
		if v, ok := vars(strings.ToLower(strings.TrimSpace(key))); ok {
			b.WriteString(v)
		} else if hasDef {
			b.WriteString(strings.Trim(strings.TrimSpace(def), "'"))
		} else {
			return "", false
		}
	}
}
