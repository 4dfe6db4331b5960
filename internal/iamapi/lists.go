package iamapi

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
)

// pageXML are the pagination members of a listing's answer.
type pageXML struct {
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

// page returns one page of a listing ordered by key: the items after the request's Marker (the key of
// the last item of the page before), at most MaxItems of them (IAM's default: 100).
func page[T, X any](q url.Values, items []T, key func(T) string, conv func(*T) X) ([]X, pageXML, error) {
	limit := 100
	if v := q.Get("MaxItems"); v != "" {
		n, err := intParam(q, "MaxItems")
		if err != nil {
			return nil, pageXML{}, err
		}
		if n < 1 || n > 1000 {
			bound := "greater than or equal to 1"
			if n > 1000 {
				bound = "less than or equal to 1000"
			}
			return nil, pageXML{}, validation(fmt.Sprintf("1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value %s", n, bound))
		}
		limit = n
	}
	if marker := q.Get("Marker"); marker != "" {
		i := sort.Search(len(items), func(i int) bool { return key(items[i]) > marker })
		items = items[i:]
	}
	var pg pageXML
	if len(items) > limit {
		items, pg = items[:limit], pageXML{IsTruncated: true, Marker: key(items[limit-1])}
	}
	out := make([]X, 0, len(items)) // never nil: the list's element is required, even empty
	for i := range items {
		out = append(out, conv(&items[i]))
	}
	return out, pg, nil
}

// Keys and conversions of listings.
func itself(s string) string            { return s }
func asMember(s *string) member         { return member{*s} }
func groupName(g identity.Group) string { return g.Name }

// onPath tells whether entities on the path "/" (every one Wharf keeps) match the request's PathPrefix.
func onPath(q url.Values) bool { return strings.HasPrefix("/", q.Get("PathPrefix")) }

func toGroupXML(g *identity.Group) groupXML {
	return groupXML{"/", g.Name, g.GroupID, "arn:aws:iam::" + g.AccountID + ":group/" + g.Name, isoTime(g.CreatedAt)}
}

type attachedPolicyXML struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}

// policyName is the name of a managed policy: the last part of its ARN.
func policyName(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// policyID is the stable id of an AWS managed policy as Wharf shows it (ANPA…), derived from its ARN.
func policyID(arn string) string {
	sum := sha256.Sum256([]byte(arn))
	return "ANPA" + base32.StdEncoding.EncodeToString(sum[:])[:17]
}

// listOwnerPolicies registers the listings of a group's or role's inline and attached policies.
func listOwnerPolicies(kind, title string, resource func(*pipeline.Call, url.Values) (string, error)) {
	reg("iam", "List"+title+"Policies", resource, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		inline, _, err := h.Identity.OwnerPolicies(ctx, c.Caller.AccountID, kind, targetName(c))
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(inline))
		for n := range inline {
			names = append(names, n)
		}
		sort.Strings(names)
		items, pg, err := page(q, names, itself, asMember)
		if err != nil {
			return nil, err
		}
		return struct {
			Names []member `xml:"PolicyNames>member"`
			pageXML
		}{Names: items, pageXML: pg}, nil
	})
	reg("iam", "ListAttached"+title+"Policies", resource, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		_, attached, err := h.Identity.OwnerPolicies(ctx, c.Caller.AccountID, kind, targetName(c))
		if err != nil {
			return nil, err
		}
		if !onPath(q) {
			attached = nil
		}
		items, pg, err := page(q, attached, itself,
			func(arn *string) attachedPolicyXML { return attachedPolicyXML{policyName(*arn), *arn} })
		if err != nil {
			return nil, err
		}
		return struct {
			Policies []attachedPolicyXML `xml:"AttachedPolicies>member"`
			pageXML
		}{Policies: items, pageXML: pg}, nil
	})
}

func init() {
	reg("iam", "ListGroups", nil, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		gs, err := h.Identity.ListGroups(ctx, c.Caller.AccountID)
		if err != nil {
			return nil, err
		}
		if !onPath(q) {
			gs = nil
		}
		items, pg, err := page(q, gs, groupName, toGroupXML)
		if err != nil {
			return nil, err
		}
		return struct {
			Groups []groupXML `xml:"Groups>member"`
			pageXML
		}{Groups: items, pageXML: pg}, nil
	})
	reg("iam", "GetGroup", group, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		g, us, err := h.Identity.GetGroup(ctx, c.Caller.AccountID, targetName(c))
		if err != nil {
			return nil, err
		}
		items, pg, err := page(q, us, func(u identity.User) string { return u.Name }, toUserXML)
		if err != nil {
			return nil, err
		}
		return struct {
			Group groupXML  `xml:"Group"`
			Users []userXML `xml:"Users>member"`
			pageXML
		}{Group: toGroupXML(g), Users: items, pageXML: pg}, nil
	})
	reg("iam", "ListGroupsForUser", user, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		gs, err := h.Identity.GroupsForUser(ctx, c.Caller.AccountID, targetName(c))
		if err != nil {
			return nil, err
		}
		items, pg, err := page(q, gs, groupName, toGroupXML)
		if err != nil {
			return nil, err
		}
		return struct {
			Groups []groupXML `xml:"Groups>member"`
			pageXML
		}{Groups: items, pageXML: pg}, nil
	})
	reg("iam", "ListRoles", nil, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		rs, err := h.Identity.ListRoles(ctx, c.Caller.AccountID)
		if err != nil {
			return nil, err
		}
		if !onPath(q) {
			rs = nil
		}
		items, pg, err := page(q, rs, func(r identity.Role) string { return r.Name }, toRoleXML)
		if err != nil {
			return nil, err
		}
		return struct {
			Roles []roleXML `xml:"Roles>member"`
			pageXML
		}{Roles: items, pageXML: pg}, nil
	})
	reg("iam", "GetRole", role, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		r, err := h.Identity.GetRole(ctx, c.Caller.AccountID, targetName(c))
		if err != nil {
			return nil, err
		}
		return struct {
			Role roleXML `xml:"Role"`
		}{toRoleXML(r)}, nil
	})
	listOwnerPolicies(identity.GroupPolicies, "Group", group)
	listOwnerPolicies(identity.RolePolicies, "Role", role)
	reg("iam", "ListPolicies", nil, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		scope := q.Get("Scope")
		switch scope {
		case "", "All", "AWS", "Local":
		default:
			return nil, validation("1 validation error detected: Value '" + scope + "' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]")
		}
		onlyAttached, err := boolParam(q, "OnlyAttached")
		if err != nil {
			return nil, err
		}
		counts, err := h.Identity.PolicyAttachments(ctx, c.Caller.AccountID)
		if err != nil {
			return nil, err
		}
		var arns []string // Wharf keeps no customer managed policies: Local lists none
		if scope != "Local" && onPath(q) {
			for _, arn := range iam.ManagedARNs() {
				if onlyAttached == nil || !*onlyAttached || counts[arn] > 0 {
					arns = append(arns, arn)
				}
			}
		}
		type policyXML struct {
			PolicyName                    string `xml:"PolicyName"`
			PolicyID                      string `xml:"PolicyId"`
			Arn                           string `xml:"Arn"`
			Path                          string `xml:"Path"`
			DefaultVersionID              string `xml:"DefaultVersionId"`
			AttachmentCount               int    `xml:"AttachmentCount"`
			PermissionsBoundaryUsageCount int    `xml:"PermissionsBoundaryUsageCount"`
			IsAttachable                  bool   `xml:"IsAttachable"`
		}
		items, pg, err := page(q, arns, itself, func(arn *string) policyXML {
			return policyXML{policyName(*arn), policyID(*arn), *arn, "/", "v1", counts[*arn], 0, true}
		})
		if err != nil {
			return nil, err
		}
		return struct {
			Policies []policyXML `xml:"Policies>member"`
			pageXML
		}{Policies: items, pageXML: pg}, nil
	})
}
