package ecrapi

// ErrorCode is the code the ECR API answers err with (RepositoryNotFoundException, ThrottlingException,
// ServerException …): the outcome of a call in metrics.
func ErrorCode(err error) string { return toAWS(err).Code }
