package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// unscoped actions have no resource-level permissions: policies must allow them on "*".
var unscoped = map[string]bool{
	"ecr:GetAuthorizationToken": true, "ecr:DescribeRegistry": true,
	"ecr:GetRegistryPolicy": true, "ecr:PutRegistryPolicy": true, "ecr:DeleteRegistryPolicy": true,
	"ecr:GetRegistryScanningConfiguration": true, "ecr:PutRegistryScanningConfiguration": true,
	"ecr:GetAccountSetting": true, "ecr:PutAccountSetting": true,
	"ecr:RegisterPullTimeUpdateExclusion": true, "ecr:DeregisterPullTimeUpdateExclusion": true, "ecr:ListPullTimeUpdateExclusions": true,
	"ecr:GetSigningConfiguration": true, "ecr:PutSigningConfiguration": true, "ecr:DeleteSigningConfiguration": true,
	"ecr:CreateRepositoryCreationTemplate": true, "ecr:DescribeRepositoryCreationTemplates": true,
	"ecr:UpdateRepositoryCreationTemplate": true, "ecr:DeleteRepositoryCreationTemplate": true,
	"ecr:PutReplicationConfiguration": true,
	"ecr:CreatePullThroughCacheRule":  true, "ecr:DescribePullThroughCacheRules": true, "ecr:UpdatePullThroughCacheRule": true,
	"ecr:DeletePullThroughCacheRule": true, "ecr:ValidatePullThroughCacheRule": true,
}

// PolicyAuthorizer evaluates IAM policies: the caller's identity policies (inline and attached) and the
// repository's policy, with the request's condition keys. Loaded policies are cached for CacheFor;
// Invalidate drops them at once after a change made through this process.
type PolicyAuthorizer struct {
	Meta   store.Store
	Region string
	Clock  clock.Clock
	// CacheFor is how long loaded policies and tags are used: a change made by another process applies
	// within it (default a second).
	CacheFor time.Duration

	gen   atomic.Uint64
	now   atomic.Pointer[stamp] // aws:CurrentTime, formatted once a second
	mu    sync.Mutex
	users map[string]cached // account/user -> []*iam.Policy
	repos map[string]cached // registry/name -> repoFacts
}

type stamp struct {
	sec  int64
	text []string
}

// currentTime is the aws:CurrentTime value, formatted at most once a second.
func (a *PolicyAuthorizer) currentTime() []string {
	now := a.Clock.Now()
	if st := a.now.Load(); st != nil && st.sec == now.Unix() {
		return st.text
	}
	st := &stamp{now.Unix(), []string{now.Format(time.RFC3339)}}
	a.now.Store(st)
	return st.text
}

type cached struct {
	v   any
	gen uint64
	at  time.Time
}

type repoFacts struct {
	policy *iam.Policy
	tags   []store.ResourceTag
}

const defaultCacheFor = time.Second

// NewPolicyAuthorizer returns an authorizer reading policies from meta.
func NewPolicyAuthorizer(meta store.Store, region string, clk clock.Clock) *PolicyAuthorizer {
	if clk == nil {
		clk = clock.Real{}
	}
	return &PolicyAuthorizer{Meta: meta, Region: region, Clock: clk, users: map[string]cached{}, repos: map[string]cached{}}
}

// Invalidate forgets cached policies and tags.
func (a *PolicyAuthorizer) Invalidate() { a.gen.Add(1) }

func (a *PolicyAuthorizer) lookup(m map[string]cached, key string, load func() (any, error)) (any, error) {
	now := a.Clock.Now()
	gen := a.gen.Load()
	a.mu.Lock()
	e, ok := m[key]
	a.mu.Unlock()
	cacheFor := a.CacheFor
	if cacheFor <= 0 {
		cacheFor = defaultCacheFor
	}
	if ok && e.gen == gen && now.Sub(e.at) < cacheFor && !now.Before(e.at) {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(m) > 10000 {
		clear(m)
	}
	m[key] = cached{v, gen, now}
	a.mu.Unlock()
	return v, nil
}

// Authorize implements pipeline.Authorizer: the caller must be identified and allowed every target's
// action on it.
func (a *PolicyAuthorizer) Authorize(ctx context.Context, c *pipeline.Call) error {
	if c.Caller.Anonymous() {
		return &registry.Error{Kind: registry.KindUnauthorized, Message: "authentication required"}
	}
	for _, t := range c.Targets {
		if err := a.authorizeTarget(ctx, c, t); err != nil {
			return err
		}
	}
	return nil
}

// replicationActions are what a replication from another region may do in another account's registry,
// with the action its registry policy must allow: the pushes of blobs, manifests and tags, and the
// creation of a missing repository. Nothing else (no pull, no delete).
var replicationActions = map[string]string{
	"ecr:BatchCheckLayerAvailability": "ecr:ReplicateImage",
	"ecr:InitiateLayerUpload":         "ecr:ReplicateImage",
	"ecr:UploadLayerPart":             "ecr:ReplicateImage",
	"ecr:CompleteLayerUpload":         "ecr:ReplicateImage",
	"ecr:PutImage":                    "ecr:ReplicateImage",
	"ecr:CreateRepository":            "ecr:CreateRepository",
	"ecr:ReplicateImage":              "ecr:ReplicateImage", // asked by a marked push that creates its repository
}

// authorizeReplication decides a target of a call marked as a replication from another region
// (registry.WithReplication) in another account's registry, as ECR decides replication across accounts:
// the action must be one a replication does, and the destination registry's policy must allow the
// caller's account the action it stands for (RegistryAllows); the caller's own policies must allow it too.
func (a *PolicyAuthorizer) authorizeReplication(ctx context.Context, c *pipeline.Call, t pipeline.Target) error {
	action, ok := replicationActions[t.Action]
	if !ok || t.Resource != "" {
		return &registry.Error{Kind: registry.KindDenied, Message: fmt.Sprintf("User: %s is not authorized to perform: %s: a replication may only push images to another account's registry",
			c.Caller.ARN(), t.Action)}
	}
	keys := map[string][]string{"aws:currenttime": a.currentTime()} // the call's condition keys, as checkResource gives them
	if c.SourceIP != "" {
		keys["aws:sourceip"] = []string{c.SourceIP}
	}
	if err := a.registryAllows(ctx, c.Caller.AccountID, t.RegistryID, t.Repository, action, keys); err != nil {
		return err
	}
	if c.Caller.Root {
		return nil
	}
	ids, err := a.identityPolicies(ctx, c.Caller)
	if err != nil {
		return err
	}
	arn := ResourceARN(a.Region, t.RegistryID, t.Repository)
	d := iam.Evaluate(iam.Request{Principal: principalOf(c.Caller), Action: action, Resource: arn, ResourceAccount: c.Caller.AccountID,
		Context: keys}, ids, nil)
	if d.Allowed {
		return nil
	}
	return &registry.Error{Kind: registry.KindDenied, Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s",
		c.Caller.ARN(), action, arn, d.Reason)}
}

func (a *PolicyAuthorizer) authorizeTarget(ctx context.Context, c *pipeline.Call, t pipeline.Target) error {
	if t.RegistryID == "" {
		t.RegistryID = c.RegistryID
	}
	if registry.ReplicationSource(ctx) != "" && c.Caller.Service == "" && t.RegistryID != c.Caller.AccountID {
		return a.authorizeReplication(ctx, c, t)
	}
	resource, repo := t.Resource, ""
	if resource == "" {
		resource, repo = "*", t.Repository
		if !unscoped[t.Action] {
			resource = ResourceARN(a.Region, t.RegistryID, t.Repository)
		}
	}
	switch {
	case c.Caller.Service != "": // Wharf's own background work
		return nil
	case c.Caller.Root && accountOf(resource, t.RegistryID) == c.Caller.AccountID: // the account itself
		return nil
	}
	return a.checkResource(ctx, c, t, resource, repo)
}

// accountOf is the account a resource belongs to: an IAM resource's is in its ARN, a registry's
// repositories belong to the registry's account.
func accountOf(resource, registryID string) string {
	if rest, ok := strings.CutPrefix(resource, "arn:aws:iam::"); ok {
		acct, _, _ := strings.Cut(rest, ":")
		return acct
	}
	return registryID
}

// PermitsWithPolicy tells whether the caller could still perform action on the repository if its policy
// were candidate: SetRepositoryPolicy refuses, without force, a policy that locks its caller out.
func (a *PolicyAuthorizer) PermitsWithPolicy(ctx context.Context, c *pipeline.Call, action, repo string, candidate *iam.Policy) bool {
	if c.Caller.Service != "" || c.Caller.Root && c.Caller.AccountID == c.RegistryID {
		return true
	}
	ids, err := a.identityPolicies(ctx, c.Caller)
	if err != nil {
		return false
	}
	return iam.Evaluate(iam.Request{Principal: principalOf(c.Caller), Action: action, Resource: ResourceARN(a.Region, c.RegistryID, repo),
		ResourceAccount: c.RegistryID}, ids, []*iam.Policy{candidate}).Allowed
}

func principalOf(p identity.Principal) iam.Principal {
	principal := iam.Principal{ARN: p.ARN(), Account: p.AccountID, Type: "User", UserName: p.UserName, UserID: p.UserID}
	if p.RoleName != "" {
		principal.Type, principal.RoleARN = "AssumedRole", p.RoleARN()
	}
	return principal
}

// Permits implements pipeline.Authorizer.
func (a *PolicyAuthorizer) Permits(ctx context.Context, c *pipeline.Call, action, repository string) bool {
	return !c.Caller.Anonymous() && a.authorizeTarget(ctx, c, pipeline.Repository(action, c.RegistryID, repository)) == nil
}

// checkResource decides a target's action on a resource ARN by the policies that apply; repo names the
// repository whose policy and tags apply ("" for none).
func (a *PolicyAuthorizer) checkResource(ctx context.Context, c *pipeline.Call, t pipeline.Target, resource, repo string) error {
	action := t.Action
	identityPolicies, err := a.identityPolicies(ctx, c.Caller)
	if err != nil {
		return err
	}
	resourceAccount := accountOf(resource, t.RegistryID)
	req := iam.Request{
		Principal: principalOf(c.Caller),
		Action:    action, Resource: resource, ResourceAccount: resourceAccount,
		// Condition keys are case-insensitive; they are given lower-cased (tag keys included).
		Context: map[string][]string{"aws:currenttime": a.currentTime()},
	}
	if c.SourceIP != "" {
		req.Context["aws:sourceip"] = []string{c.SourceIP}
	}
	for k, v := range t.RequestTags {
		req.Context["aws:requesttag/"+strings.ToLower(k)] = []string{v}
	}
	if len(t.TagKeys) > 0 {
		req.Context["aws:tagkeys"] = t.TagKeys
	}
	for k, v := range t.Conditions {
		req.Context[strings.ToLower(k)] = v
	}
	var resourcePolicies []*iam.Policy
	if strings.EqualFold(action, "sts:AssumeRole") { // the role's trust policy is its resource policy
		trust, err := a.trustPolicy(ctx, resourceAccount, resource[strings.LastIndex(resource, "/")+1:])
		if err != nil {
			return err
		}
		if trust != nil {
			resourcePolicies = []*iam.Policy{trust}
		}
		req.ResourceRequired = true
	}
	if repo != "" && strings.HasPrefix(action, "ecr:") && resource != "*" {
		// The registry policy governs its repositories: every ECR action under scope V2, replication and
		// pull through cache only under V1.
		reg, err := a.registryFacts(ctx, t.RegistryID)
		if err != nil {
			return err
		}
		if reg.policy != nil && (reg.scope != "V1" || slices.Contains(registry.V1PolicyActions, action)) {
			resourcePolicies = append(resourcePolicies, reg.policy)
		}
	}
	if repo != "" {
		facts, err := a.repoFacts(ctx, t.RegistryID, repo)
		if err != nil {
			return err
		}
		if facts.policy != nil {
			resourcePolicies = append(resourcePolicies, facts.policy)
		}
		for _, t := range facts.tags {
			k := strings.ToLower(t.Key)
			req.Context["aws:resourcetag/"+k] = []string{t.Value}
			req.Context["ecr:resourcetag/"+k] = []string{t.Value}
		}
	}
	d := iam.Evaluate(req, identityPolicies, resourcePolicies)
	if d.Allowed {
		return nil
	}
	return &registry.Error{Kind: registry.KindDenied, Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s",
		c.Caller.ARN(), action, resource, d.Reason)}
}

// storedPolicy parses a stored resource policy; nil when there is none (ErrNotFound).
func storedPolicy(doc string, err error) (*iam.Policy, error) {
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return iam.Parse(doc, iam.ResourcePolicy)
}

// registryFacts are what authorization needs of a registry: its policy and the policy's scope.
type registryFacts struct {
	policy *iam.Policy
	scope  string
}

func (a *PolicyAuthorizer) registryFacts(ctx context.Context, registryID string) (registryFacts, error) {
	v, err := a.lookup(a.repos, "registry:"+registryID, func() (any, error) {
		var f registryFacts
		err := a.Meta.View(ctx, func(tx store.Tx) (err error) {
			if f.scope, err = registry.AccountSettingIn(tx, registryID, registry.SettingRegistryPolicyScope); err != nil {
				return err
			}
			f.policy, err = storedPolicy(tx.RegistryPolicy(registryID))
			return err
		})
		return f, err
	})
	if err != nil {
		return registryFacts{}, err
	}
	return v.(registryFacts), nil
}

// trustPolicy returns a role's trust policy, or nil when the role does not exist.
func (a *PolicyAuthorizer) trustPolicy(ctx context.Context, account, role string) (*iam.Policy, error) {
	v, err := a.lookup(a.repos, "role:"+account+"/"+role, func() (any, error) {
		var p *iam.Policy
		err := a.Meta.View(ctx, func(tx store.Tx) error {
			r, err := tx.GetRole(account, role)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			p, err = iam.Parse(r.TrustPolicy, iam.ResourcePolicy)
			return err
		})
		return p, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*iam.Policy), nil
}

// rolePolicies returns a role's inline and attached policies: a session's identity policies. A session
// of a role deleted since has none, also when a role of the same name (another id) was created after.
func (a *PolicyAuthorizer) rolePolicies(ctx context.Context, account, role, roleID string) ([]*iam.Policy, error) {
	v, err := a.lookup(a.users, "role:"+account+"/"+role+"/"+roleID, func() (any, error) {
		var out []*iam.Policy
		err := a.Meta.View(ctx, func(tx store.Tx) (err error) {
			r, err := tx.GetRole(account, role)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if r.RoleID != roleID {
				return nil
			}
			out, err = ownerPolicies(tx, out, account, store.RolePolicies, role)
			return err
		})
		return out, err
	})
	if err != nil {
		return nil, err
	}
	return v.([]*iam.Policy), nil
}

// ownerPolicies appends a group's or role's inline and attached policies to out.
func ownerPolicies(tx store.Tx, out []*iam.Policy, account, kind, owner string) ([]*iam.Policy, error) {
	docs, err := tx.OwnerPolicies(account, kind, owner)
	if err != nil {
		return nil, err
	}
	attached, err := tx.AttachedOwnerPolicies(account, kind, owner)
	if err != nil {
		return nil, err
	}
	return appendPolicies(out, docs, attached, kind+" "+owner)
}

// appendPolicies parses inline documents and resolves attached managed policies.
func appendPolicies(out []*iam.Policy, inline map[string]string, attached []string, owner string) ([]*iam.Policy, error) {
	for name, doc := range inline {
		pol, err := iam.Parse(doc, iam.IdentityPolicy)
		if err != nil {
			return nil, fmt.Errorf("stored policy %s of %s: %w", name, owner, err)
		}
		out = append(out, pol)
	}
	for _, arn := range attached {
		if pol, ok := iam.Managed(arn); ok {
			out = append(out, pol)
		}
	}
	return out, nil
}

func (a *PolicyAuthorizer) identityPolicies(ctx context.Context, p identity.Principal) ([]*iam.Policy, error) {
	if p.RoleName != "" {
		roleID, _, _ := strings.Cut(p.UserID, ":") // a session's user id is <role id>:<session name>
		return a.rolePolicies(ctx, p.AccountID, p.RoleName, roleID)
	}
	v, err := a.lookup(a.users, p.AccountID+"/"+p.UserName, func() (any, error) {
		var out []*iam.Policy
		err := a.Meta.View(ctx, func(tx store.Tx) error {
			inline, err := tx.UserPolicies(p.AccountID, p.UserName)
			if err != nil {
				return err
			}
			attached, err := tx.AttachedUserPolicies(p.AccountID, p.UserName)
			if err != nil {
				return err
			}
			if out, err = appendPolicies(out, inline, attached, p.ARN()); err != nil {
				return err
			}
			groups, err := tx.UserGroups(p.AccountID, p.UserName)
			if err != nil {
				return err
			}
			for _, g := range groups { // a group's policies apply to its members
				if out, err = ownerPolicies(tx, out, p.AccountID, store.GroupPolicies, g); err != nil {
					return err
				}
			}
			return nil
		})
		return out, err
	})
	if err != nil {
		return nil, err
	}
	return v.([]*iam.Policy), nil
}

func (a *PolicyAuthorizer) repoFacts(ctx context.Context, registryID, name string) (repoFacts, error) {
	v, err := a.lookup(a.repos, registryID+"/"+name, func() (any, error) {
		var f repoFacts
		err := a.Meta.View(ctx, func(tx store.Tx) error {
			r, err := tx.GetRepository(registryID, name)
			if errors.Is(err, store.ErrNotFound) {
				return nil // a missing repository has no policy; the operation reports it missing
			}
			if err != nil {
				return err
			}
			if f.tags, err = tx.RepositoryTags(r.ID); err != nil {
				return err
			}
			f.policy, err = storedPolicy(tx.RepositoryPolicy(r.ID))
			return err
		})
		return f, err
	})
	if err != nil {
		return repoFacts{}, err
	}
	return v.(repoFacts), nil
}
