package oci

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// tokenCredential is what a registry client presents: the password of `aws ecr get-login-password`, sent
// as Basic auth with user AWS, or as a Bearer token (the password itself or ECR's base64 "AWS:password"),
// or the token of a presigned download URL, good for one method on one path.
type tokenCredential struct {
	ids           *identity.Service
	authorization string // the Authorization header
	presigned     string // the presigned URL's token, when there is no Authorization header
	scope         string // what a presigned token must open
}

// credential is the request's credential, nil when it presents none: anonymous, which the authorizer
// refuses. registryID is the registry the request addresses.
func (h *Handler) credential(r *http.Request, registryID string) pipeline.Credential {
	c := tokenCredential{ids: h.Identity, authorization: r.Header.Get("Authorization")}
	if c.authorization == "" {
		c.presigned = r.URL.Query().Get(identity.PresignParam)
		if c.presigned == "" {
			return nil
		}
		c.scope = identity.PresignScope(r.Method, registryID, r.URL.Path)
	}
	return c
}

func unauthorized(msg string) error {
	return &registry.Error{Kind: registry.KindUnauthorized, Message: msg}
}

// Identify implements pipeline.Credential.
func (t tokenCredential) Identify(ctx context.Context) (identity.Principal, error) {
	if t.authorization == "" {
		p, err := t.ids.VerifyScopedToken(ctx, t.presigned, t.scope)
		if err != nil {
			return identity.Principal{}, unauthorized("The download URL is invalid or has expired.")
		}
		return p, nil
	}
	scheme, cred, _ := strings.Cut(t.authorization, " ")
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
	p, err := t.ids.VerifyToken(ctx, password)
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

func decodeBasic(s string) (user, pass string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}
