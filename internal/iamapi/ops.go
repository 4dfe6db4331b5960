package iamapi

import (
	"context"
	"errors"
	"net/url"
	"sort"
	"strings"

	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
)

type userXML struct {
	Path       string `xml:"Path"`
	UserName   string `xml:"UserName"`
	UserID     string `xml:"UserId"`
	Arn        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate"`
}

func toUserXML(u *identity.User) userXML {
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

// targetName is the name of the IAM entity the call acts on: the last part of its authorized target.
func targetName(c *pipeline.Call) string {
	arn := c.Target().Resource
	return arn[strings.LastIndex(arn, "/")+1:]
}

// entity resolves the entity a parameter names (required) in the caller's account: kind "user",
// "group" or "role". The name is checked first: the ARN authorized and the entity acted on are one name,
// with no '/' or other character that could make them two.
func entity(kind, param string) func(c *pipeline.Call, q url.Values) (string, error) {
	return func(c *pipeline.Call, q url.Values) (string, error) {
		if err := need(q, param); err != nil {
			return "", err
		}
		if err := identity.ValidateName(kind, q.Get(param)); err != nil {
			return "", err
		}
		return "arn:aws:iam::" + c.Caller.AccountID + ":" + kind + "/" + q.Get(param), nil
	}
}

var user = entity("user", "UserName")

// userOrCaller resolves the user the call names, or, when it names none, the calling user itself, as
// AWS does: the caller's own ARN is then what is authorized (a self-service policy on
// user/${aws:username} allows it, a Deny on the caller's ARN refuses it).
func userOrCaller(c *pipeline.Call, q url.Values) (string, error) {
	if q.Get("UserName") != "" {
		return user(c, q)
	}
	if c.Caller.UserName == "" {
		return "", validation("Must specify userName when calling with non-User credentials")
	}
	return "arn:aws:iam::" + c.Caller.AccountID + ":user/" + c.Caller.UserName, nil
}

func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }

// reg adds an IAM (or STS) operation.
func reg(service, name string, resource func(*pipeline.Call, url.Values) (string, error), run func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error)) {
	ops[name] = op{service: service, action: service + ":" + name, resource: resource, run: run}
}

func init() {
	reg("iam", "CreateUser", user, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		u, err := h.Identity.CreateUser(ctx, c.Caller.AccountID, targetName(c))
		if err != nil {
			return nil, err
		}
		return struct {
			User userXML `xml:"User"`
		}{toUserXML(u)}, nil
	})
	reg("iam", "GetUser", userOrCaller, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		name := targetName(c)
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
	reg("iam", "DeleteUser", user, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		err := h.Identity.DeleteUser(ctx, c.Caller.AccountID, targetName(c))
		if errors.Is(err, identity.ErrNotFound) {
			return nil, noSuchEntity("The user with name " + targetName(c) + " cannot be found.")
		}
		return nil, err
	})
	reg("iam", "CreateAccessKey", userOrCaller, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		name := targetName(c)
		creds, err := h.Identity.CreateAccessKey(ctx, c.Caller.AccountID, name)
		if err != nil {
			return nil, err
		}
		return struct {
			AccessKey accessKeyXML `xml:"AccessKey"`
		}{accessKeyXML{name, creds.AccessKeyID, "Active", creds.SecretAccessKey, isoTime(h.now())}}, nil
	})
	reg("iam", "ListAccessKeys", userOrCaller, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		name := targetName(c)
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
	reg("iam", "UpdateAccessKey", userOrCaller, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "AccessKeyId", "Status"); err != nil {
			return nil, err
		}
		if err := h.ownKey(ctx, c, q); err != nil {
			return nil, err
		}
		return nil, h.Identity.SetAccessKeyStatus(ctx, q.Get("AccessKeyId"), q.Get("Status"))
	})
	reg("iam", "DeleteAccessKey", userOrCaller, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "AccessKeyId"); err != nil {
			return nil, err
		}
		if err := h.ownKey(ctx, c, q); err != nil {
			return nil, err
		}
		return nil, h.Identity.DeleteAccessKey(ctx, q.Get("AccessKeyId"))
	})
	reg("iam", "PutUserPolicy", user, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyName", "PolicyDocument"); err != nil {
			return nil, err
		}
		return nil, h.Identity.PutUserPolicy(ctx, c.Caller.AccountID, targetName(c), q.Get("PolicyName"), q.Get("PolicyDocument"))
	})
	reg("iam", "GetUserPolicy", user, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyName"); err != nil {
			return nil, err
		}
		inline, _, err := h.Identity.UserPolicies(ctx, c.Caller.AccountID, targetName(c))
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
		}{targetName(c), q.Get("PolicyName"), url.PathEscape(doc)}, nil // IAM returns documents URL-encoded (RFC 3986)
	})
	reg("iam", "ListUserPolicies", user, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		inline, _, err := h.Identity.UserPolicies(ctx, c.Caller.AccountID, targetName(c))
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
	reg("iam", "DeleteUserPolicy", user, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyName"); err != nil {
			return nil, err
		}
		return nil, h.Identity.DeleteUserPolicy(ctx, c.Caller.AccountID, targetName(c), q.Get("PolicyName"))
	})
	reg("iam", "AttachUserPolicy", user, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyArn"); err != nil {
			return nil, err
		}
		return nil, h.Identity.AttachUserPolicy(ctx, c.Caller.AccountID, targetName(c), q.Get("PolicyArn"))
	})
	reg("iam", "DetachUserPolicy", user, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyArn"); err != nil {
			return nil, err
		}
		return nil, h.Identity.DetachUserPolicy(ctx, c.Caller.AccountID, targetName(c), q.Get("PolicyArn"))
	})
	reg("iam", "ListAttachedUserPolicies", user, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		_, attached, err := h.Identity.UserPolicies(ctx, c.Caller.AccountID, targetName(c))
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

// ownKey checks that the access key named in q belongs to the user the call is authorized on.
func (h *Handler) ownKey(ctx context.Context, c *pipeline.Call, q url.Values) error {
	user := targetName(c)
	acct, owner, err := h.Identity.KeyOwner(ctx, q.Get("AccessKeyId"))
	if err != nil || acct != c.Caller.AccountID || owner != user {
		return noSuchEntity("The Access Key with id " + q.Get("AccessKeyId") + " cannot be found.")
	}
	return nil
}
