package iamapi

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
)

var (
	group = entity("group", "GroupName")
	role  = entity("role", "RoleName")
)

// roleToAssume resolves the role an AssumeRole names, in any account.
func roleToAssume(_ *pipeline.Call, q url.Values) (string, error) {
	if err := need(q, "RoleArn", "RoleSessionName"); err != nil {
		return "", err
	}
	arn := q.Get("RoleArn")
	rest, ok := strings.CutPrefix(arn, "arn:aws:iam::")
	acct, name, ok2 := strings.Cut(rest, ":role/")
	if !ok || !ok2 || !identity.ValidAccountID(acct) || name == "" || strings.Contains(name, "/") {
		return "", validation("RoleArn " + arn + " is not a role ARN")
	}
	return arn, nil
}

type groupXML struct {
	Path       string `xml:"Path"`
	GroupName  string `xml:"GroupName"`
	GroupID    string `xml:"GroupId"`
	Arn        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate"`
}

type roleXML struct {
	Path                     string `xml:"Path"`
	RoleName                 string `xml:"RoleName"`
	RoleID                   string `xml:"RoleId"`
	Arn                      string `xml:"Arn"`
	CreateDate               string `xml:"CreateDate"`
	AssumeRolePolicyDocument string `xml:"AssumeRolePolicyDocument"`
	Description              string `xml:"Description,omitempty"`
	MaxSessionDuration       int64  `xml:"MaxSessionDuration"`
}

func toRoleXML(r *identity.Role) roleXML {
	return roleXML{"/", r.Name, r.RoleID, "arn:aws:iam::" + r.AccountID + ":role/" + r.Name, isoTime(r.CreatedAt),
		url.PathEscape(r.TrustPolicy), r.Description, int64(r.MaxSession / time.Second)}
}

func init() {
	reg("iam", "CreateGroup", group, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		g, err := h.Identity.CreateGroup(ctx, c.Caller.AccountID, targetName(c))
		if err != nil {
			return nil, err
		}
		return struct {
			Group groupXML `xml:"Group"`
		}{groupXML{"/", g.Name, g.GroupID, "arn:aws:iam::" + g.AccountID + ":group/" + g.Name, isoTime(g.CreatedAt)}}, nil
	})
	reg("iam", "AddUserToGroup", group, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "UserName"); err != nil {
			return nil, err
		}
		return nil, h.Identity.AddUserToGroup(ctx, c.Caller.AccountID, targetName(c), q.Get("UserName"))
	})
	reg("iam", "RemoveUserFromGroup", group, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "UserName"); err != nil {
			return nil, err
		}
		return nil, h.Identity.RemoveUserFromGroup(ctx, c.Caller.AccountID, targetName(c), q.Get("UserName"))
	})
	reg("iam", "PutGroupPolicy", group, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyName", "PolicyDocument"); err != nil {
			return nil, err
		}
		return nil, h.Identity.PutOwnerPolicy(ctx, c.Caller.AccountID, identity.GroupPolicies, targetName(c), q.Get("PolicyName"), q.Get("PolicyDocument"))
	})
	reg("iam", "AttachGroupPolicy", group, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyArn"); err != nil {
			return nil, err
		}
		return nil, h.Identity.AttachOwnerPolicy(ctx, c.Caller.AccountID, identity.GroupPolicies, targetName(c), q.Get("PolicyArn"))
	})
	reg("iam", "CreateRole", role, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "AssumeRolePolicyDocument"); err != nil {
			return nil, err
		}
		var maxSession time.Duration
		if v := q.Get("MaxSessionDuration"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, validation("MaxSessionDuration must be a number of seconds")
			}
			maxSession = time.Duration(n) * time.Second
		}
		r, err := h.Identity.CreateDescribedRole(ctx, c.Caller.AccountID, targetName(c), q.Get("AssumeRolePolicyDocument"), q.Get("Description"), maxSession)
		if err != nil {
			return nil, err
		}
		return struct {
			Role roleXML `xml:"Role"`
		}{toRoleXML(r)}, nil
	})
	reg("iam", "PutRolePolicy", role, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyName", "PolicyDocument"); err != nil {
			return nil, err
		}
		return nil, h.Identity.PutOwnerPolicy(ctx, c.Caller.AccountID, identity.RolePolicies, targetName(c), q.Get("PolicyName"), q.Get("PolicyDocument"))
	})
	reg("iam", "AttachRolePolicy", role, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyArn"); err != nil {
			return nil, err
		}
		return nil, h.Identity.AttachOwnerPolicy(ctx, c.Caller.AccountID, identity.RolePolicies, targetName(c), q.Get("PolicyArn"))
	})
}

func init() {
	reg("sts", "AssumeRole", roleToAssume,
		func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
			rest, _ := strings.CutPrefix(c.Target().Resource, "arn:aws:iam::")
			acct, name, _ := strings.Cut(rest, ":role/")
			var d time.Duration
			if v := q.Get("DurationSeconds"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, validation("DurationSeconds must be a number of seconds")
				}
				d = time.Duration(n) * time.Second
			}
			sess, err := h.Identity.AssumeRole(ctx, acct, name, q.Get("RoleSessionName"), d)
			if err != nil {
				return nil, err
			}
			type creds struct {
				AccessKeyID     string `xml:"AccessKeyId"`
				SecretAccessKey string `xml:"SecretAccessKey"`
				SessionToken    string `xml:"SessionToken"`
				Expiration      string `xml:"Expiration"`
			}
			type user struct {
				AssumedRoleID string `xml:"AssumedRoleId"`
				Arn           string `xml:"Arn"`
			}
			return struct {
				Credentials     creds `xml:"Credentials"`
				AssumedRoleUser user  `xml:"AssumedRoleUser"`
			}{creds{sess.AccessKeyID, sess.SecretAccessKey, sess.SessionToken, isoTime(sess.Principal.SessionExpires)},
				user{sess.Principal.UserID, sess.Principal.ARN()}}, nil
		})
}
