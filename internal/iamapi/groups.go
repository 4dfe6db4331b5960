package iamapi

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/store"
)

func groupARN(acct string, q url.Values) string {
	return "arn:aws:iam::" + acct + ":group/" + q.Get("GroupName")
}
func roleARN(acct string, q url.Values) string {
	return "arn:aws:iam::" + acct + ":role/" + q.Get("RoleName")
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
	MaxSessionDuration       int64  `xml:"MaxSessionDuration"`
}

func toRoleXML(r *store.Role) roleXML {
	return roleXML{"/", r.Name, r.RoleID, "arn:aws:iam::" + r.AccountID + ":role/" + r.Name, isoTime(r.CreatedAt),
		url.PathEscape(r.TrustPolicy), int64(r.MaxSession / time.Second)}
}

func init() {
	reg("iam", "CreateGroup", groupARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "GroupName"); err != nil {
			return nil, err
		}
		g, err := h.Identity.CreateGroup(ctx, c.Caller.AccountID, q.Get("GroupName"))
		if err != nil {
			return nil, err
		}
		return struct {
			Group groupXML `xml:"Group"`
		}{groupXML{"/", g.Name, g.GroupID, "arn:aws:iam::" + g.AccountID + ":group/" + g.Name, isoTime(g.CreatedAt)}}, nil
	})
	reg("iam", "AddUserToGroup", groupARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "GroupName", "UserName"); err != nil {
			return nil, err
		}
		return nil, h.Identity.AddUserToGroup(ctx, c.Caller.AccountID, q.Get("GroupName"), q.Get("UserName"))
	})
	reg("iam", "PutGroupPolicy", groupARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "GroupName", "PolicyName", "PolicyDocument"); err != nil {
			return nil, err
		}
		return nil, h.Identity.PutOwnerPolicy(ctx, c.Caller.AccountID, store.GroupPolicies, q.Get("GroupName"), q.Get("PolicyName"), q.Get("PolicyDocument"))
	})
	reg("iam", "AttachGroupPolicy", groupARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "GroupName", "PolicyArn"); err != nil {
			return nil, err
		}
		return nil, h.Identity.AttachOwnerPolicy(ctx, c.Caller.AccountID, store.GroupPolicies, q.Get("GroupName"), q.Get("PolicyArn"))
	})
	reg("iam", "CreateRole", roleARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "RoleName", "AssumeRolePolicyDocument"); err != nil {
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
		r, err := h.Identity.CreateRole(ctx, c.Caller.AccountID, q.Get("RoleName"), q.Get("AssumeRolePolicyDocument"), maxSession)
		if err != nil {
			return nil, err
		}
		return struct {
			Role roleXML `xml:"Role"`
		}{toRoleXML(r)}, nil
	})
	reg("iam", "PutRolePolicy", roleARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "RoleName", "PolicyName", "PolicyDocument"); err != nil {
			return nil, err
		}
		return nil, h.Identity.PutOwnerPolicy(ctx, c.Caller.AccountID, store.RolePolicies, q.Get("RoleName"), q.Get("PolicyName"), q.Get("PolicyDocument"))
	})
	reg("iam", "AttachRolePolicy", roleARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "RoleName", "PolicyArn"); err != nil {
			return nil, err
		}
		return nil, h.Identity.AttachOwnerPolicy(ctx, c.Caller.AccountID, store.RolePolicies, q.Get("RoleName"), q.Get("PolicyArn"))
	})
}

func init() {
	reg("sts", "AssumeRole", func(_ string, q url.Values) string { return q.Get("RoleArn") },
		func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
			if err := need(q, "RoleArn", "RoleSessionName"); err != nil {
				return nil, err
			}
			rest, ok := strings.CutPrefix(q.Get("RoleArn"), "arn:aws:iam::")
			acct, name, ok2 := strings.Cut(rest, ":role/")
			if !ok || !ok2 {
				return nil, validation("RoleArn " + q.Get("RoleArn") + " is not a role ARN")
			}
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
