package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// Session is the temporary credentials of an assumed role.
type Session struct {
	Credentials
	SessionToken string
	Principal    Principal
}

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func roleIDOf(p Principal) string {
	if p.RoleName == "" {
		return ""
	}
	id, _, _ := strings.Cut(p.UserID, ":")
	return id
}

// sessionSecret derives the secret of a session's access key, so no session needs storing: only this
// installation's server secret can produce it.
func (s *Service) sessionSecret(keyID string) string {
	return base64.StdEncoding.EncodeToString(s.keys.Sign([]byte("session secret " + keyID)))[:40]
}

// AssumeRole issues temporary credentials for a role of roleAccount. The caller has been authorized by
// the role's trust policy and its own policies already. duration 0 means one hour.
func (s *Service) AssumeRole(ctx context.Context, roleAccount, roleName, sessionName string, duration time.Duration) (*Session, error) {
	if !sessionNameRE.MatchString(sessionName) {
		return nil, fmt.Errorf("%w: RoleSessionName %q must be 2 to 64 characters of [\\w+=,.@-]", ErrInvalid, sessionName)
	}
	var role *store.Role
	err := s.meta.View(ctx, func(tx store.Tx) (err error) { role, err = tx.GetRole(roleAccount, roleName); return err })
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: role %s", ErrNotFound, roleName)
	}
	if err != nil {
		return nil, err
	}
	if duration == 0 {
		duration = time.Hour
	}
	if duration < 15*time.Minute || duration > role.MaxSession {
		return nil, fmt.Errorf("%w: The requested DurationSeconds exceeds the MaxSessionDuration set for this role, or is below 900 seconds", ErrInvalid)
	}
	now := s.clock.Now()
	keyID := randomID("ASIA", 16)
	p := Principal{AccountID: roleAccount, UserID: role.RoleID + ":" + sessionName, AccessKeyID: keyID,
		RoleName: roleName, SessionName: sessionName, SessionExpires: now.Add(duration).Truncate(time.Second)}
	body, _ := json.Marshal(token{Version: 1, Type: "session", AccountID: roleAccount, Region: s.region, KeyID: keyID,
		Expires: p.SessionExpires.Unix(), Role: roleName, RoleID: role.RoleID, Session: sessionName})
	payload := base64.RawURLEncoding.EncodeToString(body)
	tok := payload + "." + base64.RawURLEncoding.EncodeToString(s.keys.Sign([]byte(payload)))
	return &Session{Credentials: Credentials{AccessKeyID: keyID, SecretAccessKey: s.sessionSecret(keyID)}, SessionToken: tok, Principal: p}, nil
}

// SessionSecret returns the secret of a session access key (ASIA…), for verifying its signatures.
func (s *Service) SessionSecret(keyID string) (string, bool) {
	if !strings.HasPrefix(keyID, "ASIA") {
		return "", false
	}
	return s.sessionSecret(keyID), true
}

// VerifySession checks a session token presented with access key keyID and returns the session.
func (s *Service) VerifySession(token, keyID string) (Principal, error) {
	t, err := s.decodeToken(strings.TrimSpace(token))
	if err != nil || t.Type != "session" || t.KeyID != keyID || t.Region != s.region {
		return Principal{}, ErrUnknownKey
	}
	if !s.clock.Now().Before(time.Unix(t.Expires, 0)) {
		return Principal{}, ErrExpiredToken
	}
	return Principal{AccountID: t.AccountID, UserID: t.RoleID + ":" + t.Session, AccessKeyID: t.KeyID,
		RoleName: t.Role, SessionName: t.Session, SessionExpires: time.Unix(t.Expires, 0)}, nil
}
