// Package console serves Wharf's web console: pages that run in the browser and do everything through
// the same APIs as the aws CLI — the ECR, IAM, STS and CloudTrail operations, called in-process through
// the one pipeline as the signed-in principal. The console adds sign-in, sessions and CSRF protection; it
// has no rule, and no access to the store, of its own beyond its sessions.
//
//	POST /console/api/signin          {accountId, userName, password}: a session cookie
//	POST /console/api/signout
//	GET  /console/api/session          who is signed in, and the CSRF token of changes
//	POST /console/api/ecr              an ECR operation (X-Amz-Target, JSON body), answered as the ECR API does
//	POST /console/api/iam | /sts       an IAM or STS operation (form body), answered as IAM does (XML)
//	POST /console/api/cloudtrail       LookupEvents
//	POST /console/api/switch-role      {roleArn, sessionName}: an AssumeRole; later calls act as the role
//	POST /console/api/switch-back
//
// Every POST but the sign-in carries the session's CSRF token in X-Wharf-Csrf; every POST from a browser
// must come from the console's own origin.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/strictjson"
)

// UserAgent is the user agent of the calls the console makes, as the audit trail records them.
const UserAgent = "wharf-console"

// CookieName is the session cookie's name.
const CookieName = "wharf_console"

//go:embed assets
var assets embed.FS

// An API serves a call whose caller is already known (the ECR and CloudTrail adapters' ServeAs).
type API interface {
	ServeAs(w http.ResponseWriter, r *http.Request, caller pipeline.Credential)
}

// QueryAPI serves IAM and STS calls whose caller is already known.
type QueryAPI interface {
	ServeAs(w http.ResponseWriter, r *http.Request, service string, caller pipeline.Credential)
}

// SignInFunc checks an IAM user's password (account: its id or alias). On failure it returns the
// principal the attempt claimed to be, when known, so the audit trail records it in that account.
type SignInFunc func(ctx context.Context, account, user, password string) (p identity.Principal, resetRequired bool, err error)

// Console is the web console's handler.
type Console struct {
	Meta       store.Store
	Identity   *identity.Service
	Pipeline   *pipeline.Pipeline
	SignIn     SignInFunc
	ECR        API
	CloudTrail API
	IAM        QueryAPI
	Clock      clock.Clock
	Region     string
	Log        *slog.Logger
	// SessionTTL is how long a session lasts from sign-in (12 hours when 0).
	SessionTTL time.Duration
	// SecureCookies sends the session cookie over HTTPS only even when requests arrive over plain HTTP:
	// behind a proxy that ends TLS (an https public URL). Requests that arrive over TLS always get one.
	SecureCookies bool
	// PublicHost is the host of the public URL, when one is set: the origin of pages served through it.
	PublicHost string
	attempts   *attempts
	mux        *http.ServeMux
}

// ErrSignInFailed is the answer to a wrong account, user name or password, whichever was wrong.
var ErrSignInFailed = &registry.Error{Kind: registry.KindUnauthorized, Message: "Your authentication information is incorrect. Please try again."}

// Handler returns the console's HTTP handler, for the paths under /console/.
func (c *Console) Handler() http.Handler {
	if c.mux != nil {
		return c.mux
	}
	c.attempts = newAttempts()
	files, _ := fs.Sub(assets, "assets")
	static := http.FileServerFS(files)
	m := http.NewServeMux()
	m.Handle("GET /console/", http.StripPrefix("/console", headers(static)))
	m.HandleFunc("POST /console/api/signin", c.signIn)
	m.HandleFunc("POST /console/api/signout", c.withSession(c.signOut))
	m.HandleFunc("GET /console/api/session", c.sessionInfo)
	m.HandleFunc("POST /console/api/ecr", c.withSession(func(w http.ResponseWriter, r *http.Request, s *session) {
		c.ECR.ServeAs(w, r, s)
	}))
	m.HandleFunc("POST /console/api/cloudtrail", c.withSession(func(w http.ResponseWriter, r *http.Request, s *session) {
		c.CloudTrail.ServeAs(w, r, s)
	}))
	m.HandleFunc("POST /console/api/iam", c.withSession(func(w http.ResponseWriter, r *http.Request, s *session) {
		c.IAM.ServeAs(w, r, "iam", s)
	}))
	m.HandleFunc("POST /console/api/sts", c.withSession(func(w http.ResponseWriter, r *http.Request, s *session) {
		c.IAM.ServeAs(w, r, "sts", s)
	}))
	m.HandleFunc("POST /console/api/switch-role", c.withSession(c.switchRole))
	m.HandleFunc("POST /console/api/switch-back", c.withSession(c.switchBack))
	c.mux = m
	return m
}

// headers sets the security headers of the console's pages: no framing, scripts and styles only from
// the console itself.
func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// sameOrigin tells whether a browser's request comes from the console's own origin: a request from
// another site's page carries its Origin (or Sec-Fetch-Site) and is refused. The origin's host must be
// the one the request was sent to, or the public URL's (behind a proxy); its scheme may be either, as a
// proxy may end TLS.
func (c *Console) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser's cross-origin request: those always send Origin on POST
	}
	host, ok := strings.CutPrefix(origin, "https://")
	if !ok {
		if host, ok = strings.CutPrefix(origin, "http://"); !ok {
			return false
		}
	}
	return strings.EqualFold(host, r.Host) || c.PublicHost != "" && strings.EqualFold(host, c.PublicHost)
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers an error of the console's own endpoints in the ECR API's form: __type and message.
func writeError(w http.ResponseWriter, err error) {
	code, status, msg := "ServerException", http.StatusInternalServerError, "internal error"
	var de *registry.Error
	if errors.As(err, &de) {
		msg = de.Message
		switch de.Kind {
		case registry.KindUnauthorized:
			code, status = "UnrecognizedClientException", http.StatusUnauthorized
		case registry.KindDenied:
			code, status = "AccessDeniedException", http.StatusForbidden
		case registry.KindThrottled:
			code, status = "ThrottlingException", http.StatusTooManyRequests
		case registry.KindInvalidParameter:
			code, status = "InvalidParameterException", http.StatusBadRequest
		default:
			if de.Kind != registry.KindInternal {
				code, status = de.Kind.String(), http.StatusBadRequest
			} else {
				msg = "internal error"
			}
		}
	}
	writeJSON(w, status, map[string]string{"__type": code, "message": msg})
}

func invalid(msg string) error {
	return &registry.Error{Kind: registry.KindInvalidParameter, Message: msg}
}

// readJSON decodes a small JSON body, strictly, as the APIs decode theirs.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<10))
	if err != nil {
		return invalid("the request body could not be read")
	}
	if err := strictjson.Decode(body, v); err != nil {
		return invalid("the request body is not a JSON object of the expected form")
	}
	return nil
}

// newSecret returns a session's secret: 32 random bytes, hex.
func newSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func hashOf(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// csrfToken is the token a session's changes carry: derived from its secret, which the page's scripts
// never see (the cookie is HttpOnly), so another site can neither read nor forge it.
func csrfToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("wharf console csrf"))
	return hex.EncodeToString(m.Sum(nil))
}

func validSecret(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
