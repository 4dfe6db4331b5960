// Package authz decides whether a caller may perform an ECR action on a resource, by evaluating the IAM
// policies that apply (package iam) with the request's context.
package authz

import (
	"fmt"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/registry"
)

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
