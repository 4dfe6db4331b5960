package identity

import "time"

// LoginToken issues the registry password of `aws ecr get-login-password` for p, valid for ttl from now or
// until p's temporary credentials end, whichever comes first, and tells when it expires.
func (s *Service) LoginToken(p Principal, ttl time.Duration) (string, time.Time) {
	expires := s.clock.Now().Add(ttl)
	if p.RoleName != "" && p.SessionExpires.Before(expires) {
		expires = p.SessionExpires
	}
	return s.IssueToken(p, expires), expires
}

// PresignParam is the query parameter of a presigned layer download URL (GetDownloadUrlForLayer).
const PresignParam = "X-Wharf-Token"

// PresignScope is what a presigned URL's token opens: one method on one path of one registry. The
// registry is part of it because a path alone does not name one: on account host names every registry
// has the same paths.
func PresignScope(method, registryID, path string) string {
	if method == "HEAD" {
		method = "GET"
	}
	return method + " " + registryID + " " + path
}
