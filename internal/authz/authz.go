// Package authz decides whether a caller may perform an ECR action on a resource, by evaluating the IAM
// policies that apply (package iam) with the request's context.
package authz

// ResourceARN is the ARN of a repository, or of the registry's repositories when name is empty.
func ResourceARN(region, registryID, name string) string {
	if name == "" {
		return "arn:aws:ecr:" + region + ":" + registryID + ":repository/*"
	}
	return "arn:aws:ecr:" + region + ":" + registryID + ":repository/" + name
}
