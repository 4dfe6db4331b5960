package iamapi

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
)

// ownerPolicyXML is the answer of GetGroupPolicy (GroupName set) and GetRolePolicy (RoleName set).
type ownerPolicyXML struct {
	GroupName      string `xml:"GroupName,omitempty"`
	RoleName       string `xml:"RoleName,omitempty"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

// ownerPolicyChanges registers the reading, deleting and detaching of a group's or role's policies.
func ownerPolicyChanges(kind, title string, resource func(*pipeline.Call, url.Values) (string, error)) {
	reg("iam", "Get"+title+"Policy", resource, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyName"); err != nil {
			return nil, err
		}
		doc, err := h.Identity.GetOwnerPolicy(ctx, c.Caller.AccountID, kind, targetName(c), q.Get("PolicyName"))
		if err != nil {
			return nil, err
		}
		out := ownerPolicyXML{PolicyName: q.Get("PolicyName"), PolicyDocument: url.PathEscape(doc)} // IAM returns documents URL-encoded
		if kind == identity.GroupPolicies {
			out.GroupName = targetName(c)
		} else {
			out.RoleName = targetName(c)
		}
		return out, nil
	})
	reg("iam", "Delete"+title+"Policy", resource, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyName"); err != nil {
			return nil, err
		}
		return nil, h.Identity.DeleteOwnerPolicy(ctx, c.Caller.AccountID, kind, targetName(c), q.Get("PolicyName"))
	})
	reg("iam", "Detach"+title+"Policy", resource, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyArn"); err != nil {
			return nil, err
		}
		return nil, h.Identity.DetachOwnerPolicy(ctx, c.Caller.AccountID, kind, targetName(c), q.Get("PolicyArn"))
	})
}

func init() {
	ownerPolicyChanges(identity.GroupPolicies, "Group", group)
	ownerPolicyChanges(identity.RolePolicies, "Role", role)
	reg("iam", "DeleteGroup", group, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		return nil, h.Identity.DeleteGroup(ctx, c.Caller.AccountID, targetName(c))
	})
	reg("iam", "DeleteRole", role, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		return nil, h.Identity.DeleteRole(ctx, c.Caller.AccountID, targetName(c))
	})
	reg("iam", "UpdateAssumeRolePolicy", role, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "PolicyDocument"); err != nil {
			return nil, err
		}
		return nil, h.Identity.UpdateAssumeRolePolicy(ctx, c.Caller.AccountID, targetName(c), q.Get("PolicyDocument"))
	})
	reg("iam", "UpdateRole", role, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		var change identity.RoleChange
		if q.Has("Description") {
			d := q.Get("Description")
			change.Description = &d
		}
		if v := q.Get("MaxSessionDuration"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, validation("1 validation error detected: Value '" + v + "' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600")
			}
			change.MaxSession = time.Duration(n) * time.Second
		}
		_, err := h.Identity.UpdateRole(ctx, c.Caller.AccountID, targetName(c), change)
		return struct{}{}, err // an empty UpdateRoleResult, as IAM answers
	})
	reg("iam", "UpdateRoleDescription", role, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if !q.Has("Description") {
			return nil, need(q, "Description")
		}
		d := q.Get("Description")
		r, err := h.Identity.UpdateRole(ctx, c.Caller.AccountID, targetName(c), identity.RoleChange{Description: &d})
		if err != nil {
			return nil, err
		}
		return struct {
			Role roleXML `xml:"Role"`
		}{toRoleXML(r)}, nil
	})
}
