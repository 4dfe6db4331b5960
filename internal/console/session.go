package console

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// session is a signed-in console session: the credential of the calls made in it.
type session struct {
	c      *Console
	secret string
	row    store.ConsoleSession
}

// roleSession is the role a session switched to: the temporary credentials of its AssumeRole.
type roleSession struct {
	KeyID string `json:"keyId"`
	Token string `json:"token"`
}

var errSessionEnded = &registry.Error{Kind: registry.KindUnauthorized, Message: "Your console session has ended. Please sign in again."}

// Identify implements pipeline.Credential: the role the session switched to while that lasts (an hour),
// then the user again, who must still exist.
func (s *session) Identify(ctx context.Context) (identity.Principal, error) {
	if s.row.Role != "" {
		var rs roleSession
		if json.Unmarshal([]byte(s.row.Role), &rs) == nil {
			if p, err := s.c.Identity.VerifySession(rs.Token, rs.KeyID); err == nil {
				p.AccessKeyID = ""
				return p, nil
			}
		}
	}
	u, err := s.c.Identity.GetUser(ctx, s.row.AccountID, s.row.UserName)
	if err != nil {
		return identity.Principal{}, errSessionEnded
	}
	return identity.Principal{AccountID: u.AccountID, UserName: u.Name, UserID: u.UserID}, nil
}

// load finds the request's session: its cookie's, unexpired.
func (c *Console) load(r *http.Request) (*session, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil || !validSecret(ck.Value) {
		return nil, errSessionEnded
	}
	var row *store.ConsoleSession
	err = c.Meta.View(r.Context(), func(tx store.Tx) (err error) { row, err = tx.GetConsoleSession(hashOf(ck.Value)); return err })
	if errors.Is(err, store.ErrNotFound) || err == nil && !c.now().Before(row.ExpiresAt) {
		return nil, errSessionEnded
	}
	if err != nil {
		return nil, err
	}
	return &session{c: c, secret: ck.Value, row: *row}, nil
}

// withSession runs h for a request of a signed-in session, from the console's origin, with the session's
// CSRF token. A session whose password must be changed may only change it.
func (c *Console) withSession(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.load(r)
		if err != nil {
			writeError(w, err)
			return
		}
		if !c.sameOrigin(r) || r.Header.Get("X-Wharf-Csrf") != csrfToken(s.secret) {
			writeError(w, &registry.Error{Kind: registry.KindDenied, Message: "The request did not come from this console's page (missing or wrong CSRF token)."})
			return
		}
		r.Header.Set("User-Agent", UserAgent)
		if s.row.ResetRequired && r.URL.Path != "/console/api/signout" {
			c.changePasswordOnly(w, r, s)
			return
		}
		h(w, r, s)
	}
}

// changePasswordOnly serves a session that must change its password first: only IAM's ChangePassword,
// after which the session is a full one.
func (c *Console) changePasswordOnly(w http.ResponseWriter, r *http.Request, s *session) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeError(w, invalid("the request body could not be read"))
		return
	}
	if q, err := url.ParseQuery(string(body)); r.URL.Path != "/console/api/iam" || err != nil || q.Get("Action") != "ChangePassword" {
		writeError(w, &registry.Error{Kind: registry.KindDenied, Message: "You must change your password before you continue."})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusWriter{ResponseWriter: w}
	c.IAM.ServeAs(rec, r, "iam", s)
	if rec.status == http.StatusOK {
		s.row.ResetRequired = false
		if err := c.Meta.Update(r.Context(), func(tx store.Tx) error { return tx.PutConsoleSession(s.row) }); err != nil {
			c.Log.Warn("console: the session could not be updated after a password change", "err", err)
		}
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// password is the credential of a sign-in: identified when the password is right.
type password struct {
	c                       *Console
	account, user, password string
	ip                      string
	resetRequired           bool
}

func (p *password) Identify(ctx context.Context) (identity.Principal, error) {
	start, account := p.c.now(), p.c.Identity.SignInAccount(ctx, p.account) // an alias's user is its account's
	if wait := p.c.attempts.begin(p.ip, account, p.user, start); wait > 0 {
		return identity.Principal{}, &registry.Error{Kind: registry.KindThrottled,
			Message: "Too many failed sign-in attempts. Try again in " + wait.Round(time.Second).String() + "."}
	}
	who, reset, err := p.c.SignIn(ctx, p.account, p.user, p.password)
	if registry.KindOf(err) != registry.KindUnauthorized {
		p.c.attempts.succeeded(p.ip, account, p.user, start) // or failed for another reason than the password
	}
	if err != nil {
		return who, err // who: the claimed principal, so the failure is recorded in its account
	}
	p.resetRequired = reset
	return who, nil
}

type signInInput struct {
	AccountID string `json:"accountId"`
	UserName  string `json:"userName"`
	Password  string `json:"password"`
}

// AuditSummary records the sign-in's account and user, never its password.
func (in *signInInput) AuditSummary() any {
	return map[string]any{"accountId": in.AccountID, "userName": in.UserName}
}

// signIn checks a user's password and starts a session. The attempt is an operation of the pipeline
// (signin:ConsoleLogin), audited whether it succeeds or not, as CloudTrail records ConsoleLogin.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	if !c.sameOrigin(r) || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		writeError(w, &registry.Error{Kind: registry.KindDenied, Message: "Sign in from the console's page."})
		return
	}
	in := &signInInput{}
	if err := readJSON(r, in); err != nil {
		writeError(w, err)
		return
	}
	in.AccountID, in.UserName = strings.TrimSpace(in.AccountID), strings.TrimSpace(in.UserName)
	if in.AccountID == "" || in.UserName == "" || in.Password == "" || utf8.RuneCountInString(in.Password) > identity.MaxPasswordLength || len(in.UserName) > 64 || len(in.AccountID) > 63 {
		writeError(w, invalid("Enter the account ID or alias, the user name and the password."))
		return
	}
	cred := &password{c: c, account: in.AccountID, user: in.UserName, password: in.Password, ip: pipeline.SourceIP(r.RemoteAddr)}
	call := &pipeline.Call{RequestID: pipeline.RequestID(r.Context()), Protocol: "signin", Credential: cred,
		SourceIP: pipeline.SourceIP(r.RemoteAddr), UserAgent: r.UserAgent(), ErrorCode: signInError,
		Output: map[string]string{"ConsoleLogin": "Failure"}}
	secret := newSecret()
	err := c.Pipeline.Do(r.Context(), call, pipeline.Op{
		Action: "signin:ConsoleLogin",
		Decode: func() (any, error) { return in, nil },
		Run: func(ctx context.Context, call *pipeline.Call) error {
			now := c.now()
			row := store.ConsoleSession{IDHash: hashOf(secret), AccountID: call.Caller.AccountID, UserName: call.Caller.UserName,
				ResetRequired: cred.resetRequired, CreatedAt: now, ExpiresAt: now.Add(c.ttl())}
			if err := c.Meta.Update(ctx, func(tx store.Tx) error {
				// The user or its password may have been deleted since the password was checked: its
				// sessions are gone with them.
				if err := identity.StillSignedIn(tx, call.Caller); errors.Is(err, identity.ErrSignInFailed) {
					return ErrSignInFailed
				} else if err != nil {
					return err
				}
				return tx.PutConsoleSession(row)
			}); err != nil {
				return err
			}
			call.Output = map[string]string{"ConsoleLogin": "Success"}
			return nil
		},
	})
	if err != nil {
		writeError(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: secret, Path: "/console/", HttpOnly: true, Secure: r.TLS != nil || c.SecureCookies,
		SameSite: http.SameSiteStrictMode, MaxAge: int(c.ttl() / time.Second)})
	writeJSON(w, http.StatusOK, map[string]any{"passwordResetRequired": cred.resetRequired})
}

// signInError is how the audit trail records a failed sign-in: as CloudTrail does, "Failed
// authentication", whichever of the account, user and password was wrong.
func signInError(err error) (code, message string) {
	kind := registry.KindOf(err)
	if kind == registry.KindUnauthorized {
		return kind.String(), "Failed authentication"
	}
	var de *registry.Error
	if errors.As(err, &de) && kind != registry.KindInternal {
		return kind.String(), de.Message
	}
	return "InternalFailure", "internal error"
}

// signOut ends the session, through the pipeline as the session's principal.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s *session) {
	call := &pipeline.Call{RequestID: pipeline.RequestID(r.Context()), Protocol: "signin", Credential: s,
		SourceIP: pipeline.SourceIP(r.RemoteAddr), UserAgent: UserAgent}
	err := c.Pipeline.Do(r.Context(), call, pipeline.Op{
		Action: "signin:ConsoleLogout",
		Run: func(ctx context.Context, _ *pipeline.Call) error {
			return c.Meta.Update(ctx, func(tx store.Tx) error { return tx.DeleteConsoleSession(s.row.IDHash) })
		},
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		// A session whose user is gone still signs out.
		c.Meta.Update(r.Context(), func(tx store.Tx) error { return tx.DeleteConsoleSession(s.row.IDHash) })
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/console/", HttpOnly: true, Secure: r.TLS != nil || c.SecureCookies,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, map[string]any{})
}

// sessionInfo tells the page who is signed in and the token its changes carry.
func (c *Console) sessionInfo(w http.ResponseWriter, r *http.Request) {
	s, err := c.load(r)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := s.Identify(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := map[string]any{
		"accountId": p.AccountID, "userName": s.row.UserName, "arn": p.ARN(), "region": c.Region,
		"csrfToken": csrfToken(s.secret), "expiresAt": s.row.ExpiresAt.Unix(),
		"passwordResetRequired": s.row.ResetRequired, "signedInAccountId": s.row.AccountID,
	}
	if p.RoleName != "" {
		out["roleName"], out["roleArn"], out["sessionName"] = p.RoleName, p.RoleARN(), p.SessionName
		out["roleExpiresAt"] = p.SessionExpires.Unix()
	}
	writeJSON(w, http.StatusOK, out)
}

// switchRole assumes a role with the user's permissions — STS's AssumeRole through the pipeline, as the
// signed-in user — and makes the session act as that role until it expires or the user switches back.
func (c *Console) switchRole(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		RoleARN     string `json:"roleArn"`
		SessionName string `json:"sessionName"`
	}
	if err := readJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	if in.SessionName == "" {
		in.SessionName = s.row.UserName
	}
	user := *s
	user.row.Role = "" // the user assumes the role, not a role it switched to before
	form := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {in.RoleARN}, "RoleSessionName": {in.SessionName}}
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(strings.NewReader(form.Encode()))
	req.ContentLength = int64(len(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	c.IAM.ServeAs(rec, req, "sts", &user)
	if rec.Code != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `xml:"Error"`
		}
		xml.Unmarshal(rec.Body.Bytes(), &e)
		writeJSON(w, rec.Code, map[string]string{"__type": e.Error.Code, "message": e.Error.Message})
		return
	}
	var out struct {
		Credentials struct {
			AccessKeyID  string `xml:"AccessKeyId"`
			SessionToken string `xml:"SessionToken"`
		} `xml:"AssumeRoleResult>Credentials"`
	}
	if err := xml.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		writeError(w, err)
		return
	}
	role, _ := json.Marshal(roleSession{KeyID: out.Credentials.AccessKeyID, Token: out.Credentials.SessionToken})
	s.row.Role = string(role)
	if err := c.Meta.Update(r.Context(), func(tx store.Tx) error { return tx.PutConsoleSession(s.row) }); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// switchBack makes the session act as its user again.
func (c *Console) switchBack(w http.ResponseWriter, r *http.Request, s *session) {
	s.row.Role = ""
	if err := c.Meta.Update(r.Context(), func(tx store.Tx) error { return tx.PutConsoleSession(s.row) }); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (c *Console) now() time.Time { return c.Clock.Now() }

func (c *Console) ttl() time.Duration {
	if c.SessionTTL > 0 {
		return c.SessionTTL
	}
	return 12 * time.Hour
}
