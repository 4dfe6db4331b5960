package authz

import (
	"context"
	"fmt"
	"slices"

	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/registry"
)

// rootIdentity is what an account's root may do in its own account: everything.
var rootIdentity = func() *iam.Policy {
	p, err := iam.Parse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, iam.IdentityPolicy)
	if err != nil {
		panic(err)
	}
	return p
}()

// RegistryAllows tells whether a registry's policy allows an account an action (ecr:ReplicateImage,
// ecr:CreateRepository) on a repository of the registry, as ECR decides replication into another account:
// the source account (its root) acts, and only the destination registry's policy can grant it; its scope
// V1 covers these actions. It implements registry.ReplicationAuthorizer.
func (a *PolicyAuthorizer) RegistryAllows(ctx context.Context, sourceAccount, registryID, repository, action string) error {
	return a.registryAllows(ctx, sourceAccount, registryID, repository, action, map[string][]string{"aws:currenttime": a.currentTime()})
}

// registryAllows is RegistryAllows with the request's condition keys.
func (a *PolicyAuthorizer) registryAllows(ctx context.Context, sourceAccount, registryID, repository, action string, keys map[string][]string) error {
	reg, err := a.registryFacts(ctx, registryID)
	if err != nil {
		return err
	}
	var resource []*iam.Policy
	if reg.policy != nil && (reg.scope != "V1" || slices.Contains(registry.V1PolicyActions, action)) {
		resource = append(resource, reg.policy)
	}
	arn := ResourceARN(a.Region, registryID, repository)
	caller := identity.RootOf(sourceAccount)
	d := iam.Evaluate(iam.Request{Principal: principalOf(caller), Action: action, Resource: arn, ResourceAccount: registryID, Context: keys},
		[]*iam.Policy{rootIdentity}, resource)
	if d.Allowed {
		return nil
	}
	return &registry.Error{Kind: registry.KindDenied, Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s",
		caller.ARN(), action, arn, d.Reason)}
}
