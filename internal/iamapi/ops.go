package iamapi

import (
	"context"
	"net/url"
	"sort"
	"strings"

	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/store"
)

type userXML struct {
	Path       string `xml:"Path"`
	UserName   string `xml:"UserName"`
	UserID     string `xml:"UserId"`
	Arn        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate"`
}

func toUserXML(u *store.User) userXML {
	return userXML{"/", u.Name, u.UserID, "arn:aws:iam::" + u.AccountID + ":user/" + u.Name, isoTime(u.CreatedAt)}
}

type accessKeyXML struct {
	UserName        string `xml:"UserName"`
	AccessKeyID     string `xml:"AccessKeyId"`
	Status          string `xml:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey,omitempty"`
	CreateDate      string `xml:"CreateDate"`
}

type member struct {
	Value string `xml:",chardata"`
}

func need(q url.Values, names ...string) error {
	for _, n := range names {
		if q.Get(n) == "" {
			return validation("1 validation error detected: Value null at '" + lowerFirst(n) + "' failed to satisfy constraint: Member must not be null")
		}
	}
	return nil
}

// userName is the request's UserName, or the caller's own name when it names none (as AWS does).
func userName(c *pipeline.Call, q url.Values) string {
	if name := q.Get("UserName"); name != "" {
		return name
	}
	return c.Caller.UserName
}

func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }

// reg adds an IAM (or STS) operation.
func reg(service, name string, resource func(string, url.Values) string, run func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error)) {
	ops[name] = op{service: service, action: service + ":" + name, resource: resource, run: run}
}

func init() {
	reg("iam", "CreateUser", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "UserName"); err != nil {
			return nil, err
		}
		u, err := h.Identity.CreateUser(ctx, c.Caller.AccountID, q.Get("UserName"))
		if err != nil {
			return nil, err
		}
		return struct {
			User userXML `xml:"User"`
		}{toUserXML(u)}, nil
	})
	reg("iam", "GetUser", func(acct string, q url.Values) string {
		if q.Get("UserName") == "" {
			return "*"
		}
		return userARN(acct, q)
	}, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		name := userName(c, q)
		u, err := h.Identity.GetUser(ctx, c.Caller.AccountID, name)
		if err != nil {
			return nil, noSuchEntity("The user with name " + name + " cannot be found.")
		}
		return struct {
			User userXML `xml:"User"`
		}{toUserXML(u)}, nil
	})
	reg("iam", "ListUsers", nil, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		us, err := h.Identity.ListUsers(ctx, c.Caller.AccountID)
		if err != nil {
			return nil, err
		}
		out := struct {
			Users       []userXML `xml:"Users>member"`
			IsTruncated bool      `xml:"IsTruncated"`
		}{}
		for i := range us {
			out.Users = append(out.Users, toUserXML(&us[i]))
		}
		return out, nil
	})
	reg("iam", "DeleteUser", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "UserName"); err != nil {
			return nil, err
		}
		if err := h.Identity.DeleteUser(ctx, c.Caller.AccountID, q.Get("UserName")); err != nil {
			return nil, noSuchEntity("The user with name " + q.Get("UserName") + " cannot be found.")
		}
		return nil, nil
	})
	reg("iam", "CreateAccessKey", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		name := userName(c, q)
		creds, err := h.Identity.CreateAccessKey(ctx, c.Caller.AccountID, name)
		if err != nil {
			return nil, err
		}
		return struct {
			AccessKey accessKeyXML `xml:"AccessKey"`
		}{accessKeyXML{name, creds.AccessKeyID, "Active", creds.SecretAccessKey, isoTime(h.now())}}, nil
	})
	reg("iam", "ListAccessKeys", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		name := userName(c, q)
		keys, err := h.Identity.AccessKeys(ctx, c.Caller.AccountID, name)
		if err != nil {
			return nil, err
		}
		out := struct {
			Keys        []accessKeyXML `xml:"AccessKeyMetadata>member"`
			IsTruncated bool           `xml:"IsTruncated"`
		}{}
		for _, k := range keys {
			out.Keys = append(out.Keys, accessKeyXML{UserName: name, AccessKeyID: k.ID, Status: k.Status, CreateDate: isoTime(k.CreatedAt)})
		}
		return out, nil
	})
	reg("iam", "UpdateAccessKey", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "AccessKeyId", "Status"); err != nil {
			return nil, err
		}
		if err := h.ownKey(ctx, c, q); err != nil {
			return nil, err
		}
		return nil, h.Identity.SetAccessKeyStatus(ctx, q.Get("AccessKeyId"), q.Get("Status"))
	})
	reg("iam", "DeleteAccessKey", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "AccessKeyId"); err != nil {
			return nil, err
		}
		if err := h.ownKey(ctx, c, q); err != nil {
			return nil, err
		}
		return nil, h.Identity.DeleteAccessKey(ctx, q.Get("AccessKeyId"))
	})
	reg("iam", "PutUserPolicy", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "UserName", "PolicyName", "PolicyDocument"); err != nil {
			return nil, err
		}
		return nil, h.Identity.PutUserPolicy(ctx, c.Caller.AccountID, q.Get("UserName"), q.Get("PolicyName"), q.Get("PolicyDocument"))
	})
	reg("iam", "GetUserPolicy", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "UserName", "PolicyName"); err != nil {
			return nil, err
		}
		inline, _, err := h.Identity.UserPolicies(ctx, c.Caller.AccountID, q.Get("UserName"))
		if err != nil {
			return nil, err
		}
		doc, ok := inline[q.Get("PolicyName")]
		if !ok {
			return nil, noSuchEntity("The user policy with name " + q.Get("PolicyName") + " cannot be found.")
		}
		return struct {
			UserName       string `xml:"UserName"`
			PolicyName     string `xml:"PolicyName"`
			PolicyDocument string `xml:"PolicyDocument"`
		}{q.Get("UserName"), q.Get("PolicyName"), url.PathEscape(doc)}, nil // IAM returns documents URL-encoded (RFC 3986)
	})
	reg("iam", "ListUserPolicies", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		inline, _, err := h.Identity.UserPolicies(ctx, c.Caller.AccountID, q.Get("UserName"))
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(inline))
		for n := range inline {
			names = append(names, n)
		}
		sort.Strings(names)
		out := struct {
			Names       []member `xml:"PolicyNames>member"`
			IsTruncated bool     `xml:"IsTruncated"`
		}{}
		for _, n := range names {
			out.Names = append(out.Names, member{n})
		}
		return out, nil
	})
	reg("iam", "DeleteUserPolicy", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "UserName", "PolicyName"); err != nil {
			return nil, err
		}
		return nil, h.Identity.DeleteUserPolicy(ctx, c.Caller.AccountID, q.Get("UserName"), q.Get("PolicyName"))
	})
	reg("iam", "AttachUserPolicy", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "UserName", "PolicyArn"); err != nil {
			return nil, err
		}
		return nil, h.Identity.AttachUserPolicy(ctx, c.Caller.AccountID, q.Get("UserName"), q.Get("PolicyArn"))
	})
	reg("iam", "DetachUserPolicy", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "UserName", "PolicyArn"); err != nil {
			return nil, err
		}
		return nil, h.Identity.DetachUserPolicy(ctx, c.Caller.AccountID, q.Get("UserName"), q.Get("PolicyArn"))
	})
	reg("iam", "ListAttachedUserPolicies", userARN, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		_, attached, err := h.Identity.UserPolicies(ctx, c.Caller.AccountID, q.Get("UserName"))
		if err != nil {
			return nil, err
		}
		type policy struct {
			PolicyName string `xml:"PolicyName"`
			PolicyArn  string `xml:"PolicyArn"`
		}
		out := struct {
			Policies    []policy `xml:"AttachedPolicies>member"`
			IsTruncated bool     `xml:"IsTruncated"`
		}{}
		for _, arn := range attached {
			if _, ok := iam.Managed(arn); ok {
				out.Policies = append(out.Policies, policy{arn[strings.LastIndex(arn, "/")+1:], arn})
			}
		}
		return out, nil
	})
	// GetCallerIdentity needs no permission: any identified caller may ask who it is.
	reg("sts", "GetCallerIdentity", nil, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		return struct {
			Arn     string `xml:"Arn"`
			UserID  string `xml:"UserId"`
			Account string `xml:"Account"`
		}{c.Caller.ARN(), c.Caller.UserID, c.Caller.AccountID}, nil
	})
	o := ops["GetCallerIdentity"]
	o.action = ""
	ops["GetCallerIdentity"] = o
}

// ownKey checks that the access key named in q belongs to the user named (or the caller) in its account.
func (h *Handler) ownKey(ctx context.Context, c *pipeline.Call, q url.Values) error {
	user := q.Get("UserName")
	if user == "" {
		user = c.Caller.UserName
	}
	acct, owner, err := h.Identity.KeyOwner(ctx, q.Get("AccessKeyId"))
	if err != nil || acct != c.Caller.AccountID || owner != user {
		return noSuchEntity("The Access Key with id " + q.Get("AccessKeyId") + " cannot be found.")
	}
	return nil
}
