package oci

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TokenIdentifier identifies registry clients by the password of `aws ecr get-login-password`, sent as
// Basic auth with user AWS, or as a Bearer token (the password itself or ECR's base64 "AWS:password").
// A request without credentials is anonymous; the authorizer refuses it.
type TokenIdentifier struct {
	Identity *identity.Service
}

func unauthorized(msg string) error {
	return &registry.Error{Kind: registry.KindUnauthorized, Message: msg}
}

// Identify implements pipeline.Identifier.
func (t TokenIdentifier) Identify(r *http.Request) (identity.Principal, error) {
	h := r.Header.Get("Authorization")
	if tok := r.URL.Query().Get(PresignParam); tok != "" && h == "" {
		p, err := t.Identity.VerifyScopedToken(r.Context(), tok, PresignScope(r.Method, r.URL.Path))
		if err != nil {
			return identity.Principal{}, unauthorized("The download URL is invalid or has expired.")
		}
		return p, nil
	}
	if h == "" {
		return identity.Principal{}, nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	var password string
	switch strings.ToLower(scheme) {
	case "basic":
		user, pass, ok := decodeBasic(cred)
		if !ok || user != "AWS" {
			return identity.Principal{}, unauthorized("basic auth must use the user AWS and the password of 'aws ecr get-login-password'")
		}
		password = pass
	case "bearer":
		password = cred
		if user, pass, ok := decodeBasic(cred); ok && user == "AWS" {
			password = pass
		}
	default:
		return identity.Principal{}, unauthorized("unsupported authorization scheme " + scheme)
	}
	p, err := t.Identity.VerifyToken(r.Context(), password)
	switch {
	case errors.Is(err, identity.ErrExpiredToken):
		return identity.Principal{}, unauthorized("Your authorization token has expired. Reauthenticate and try again.")
	case errors.Is(err, identity.ErrBadToken), errors.Is(err, identity.ErrUnknownKey), errors.Is(err, identity.ErrInactiveKey):
		return identity.Principal{}, unauthorized("Your authorization token is invalid. Reauthenticate and try again.")
	case err != nil:
		return identity.Principal{}, err
	}
	return p, nil
}

// PresignParam is the query parameter of a presigned layer download URL (GetDownloadUrlForLayer).
const PresignParam = "X-Wharf-Token"

// PresignScope is what a presigned URL's token opens: one method on one path.
func PresignScope(method, path string) string {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	return method + " " + path
}

func decodeBasic(s string) (user, pass string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}
