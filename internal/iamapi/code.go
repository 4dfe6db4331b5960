package iamapi

// ErrorCode is the code the IAM and STS APIs answer err with (NoSuchEntity, AccessDenied, Throttling …):
// the outcome of a call in metrics.
func ErrorCode(err error) string { return toAPI(err).Code }
