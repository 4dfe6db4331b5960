// Package authz decides whether a caller may perform an ECR action on a resource. Until IAM policies are
// evaluated, the rule is AWS's default for an account's own administrator: an identified caller may do
// everything in its own account and nothing in another.
package authz

import (
	"context"
	"fmt"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// AccountAuthorizer allows calls within the caller's own account.
type AccountAuthorizer struct {
	Region string
}

// Authorize implements pipeline.Authorizer.
func (a AccountAuthorizer) Authorize(_ context.Context, c *pipeline.Call) error {
	if c.Caller.Anonymous() {
		return &registry.Error{Kind: registry.KindUnauthorized, Message: "authentication required"}
	}
	if c.Action == "" || c.Action == "ecr:GetAuthorizationToken" {
		return nil
	}
	// A cross-repository mount reads c.Source in the same registry, so the registry decides for both.
	if c.RegistryID != c.Caller.AccountID {
		return Denied(c.Caller, c.Action, ResourceARN(a.Region, c.RegistryID, c.Repository))
	}
	return nil
}

// ResourceARN is the ARN of a repository, or of the registry's repositories when name is empty.
func ResourceARN(region, registryID, name string) string {
	if name == "" {
		return "arn:aws:ecr:" + region + ":" + registryID + ":repository/*"
	}
	return "arn:aws:ecr:" + region + ":" + registryID + ":repository/" + name
}

// Denied is the error AWS answers when no policy allows an action.
func Denied(p identity.Principal, action, resource string) error {
	return &registry.Error{Kind: registry.KindDenied, Message: fmt.Sprintf(
		"User: %s is not authorized to perform: %s on resource: %s because no resource-based policy allows the %s action",
		p.ARN(), action, resource, action)}
}
