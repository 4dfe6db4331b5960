// Package iamapi serves the subset of the IAM and STS APIs (AWS Query protocol: form-encoded POST, XML
// answers) that lets `aws iam …` and `aws sts …` manage Wharf's users, access keys and policies.
package iamapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/sigv4"
)

const (
	iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// Handler serves IAM and STS calls.
type Handler struct {
	Clock    clock.Clock
	Identity *identity.Service
	Pipeline *pipeline.Pipeline
	Log      *slog.Logger
	// PoliciesChanged is called after a call that changed policies or users.
	PoliciesChanged func()
}

// SigningService returns the SigV4 signing name of a request ("iam", "sts", "ecr", …) or "".
func SigningService(r *http.Request) string {
	h := r.Header.Get("Authorization")
	i := strings.Index(h, "Credential=")
	if i < 0 {
		return ""
	}
	f := strings.Split(strings.SplitN(h[i+len("Credential="):], ",", 2)[0], "/")
	if len(f) != 5 {
		return ""
	}
	return f[3]
}

// IsQueryRequest tells an IAM or STS call from other traffic on the shared listener.
func IsQueryRequest(r *http.Request) bool {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return false
	}
	s := SigningService(r)
	return s == "iam" || s == "sts"
}

// apiError is an error of the Query protocol.
type apiError struct {
	Code    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func noSuchEntity(msg string) error { return &apiError{"NoSuchEntity", msg, http.StatusNotFound} }
func validation(msg string) error   { return &apiError{"ValidationError", msg, http.StatusBadRequest} }

type op struct {
	service string // "iam" or "sts"
	action  string // the IAM action it needs
	// resource is the ARN the call acts on, from its parameters and the caller's account.
	resource func(acct string, q url.Values) string
	run      func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error)
}

var ops = map[string]op{}

func userARN(acct string, q url.Values) string {
	return "arn:aws:iam::" + acct + ":user/" + q.Get("UserName")
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	service := SigningService(r)
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		h.writeError(w, service, reqID, err)
		return
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		h.writeError(w, service, reqID, &apiError{"MalformedQueryString", err.Error(), http.StatusBadRequest})
		return
	}
	name := q.Get("Action")
	o, ok := ops[name]
	if !ok || o.service != service {
		h.writeError(w, service, reqID, &apiError{"InvalidAction", "Could not find operation " + name + " for version " + q.Get("Version"), http.StatusBadRequest})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	call := &pipeline.Call{Protocol: service, Action: o.action, Resolve: func(c *pipeline.Call) {
		c.Resource = "*"
		if o.resource != nil {
			c.Resource = o.resource(c.Caller.AccountID, q)
		}
	}}
	var out any
	err = h.Pipeline.Do(r, call, func(ctx context.Context) error {
		var err error
		out, err = o.run(h, ctx, call, q)
		return err
	})
	if err != nil {
		h.writeError(w, service, reqID, err)
		return
	}
	if h.PoliciesChanged != nil && service == "iam" {
		h.PoliciesChanged()
	}
	ns := iamNamespace
	if service == "sts" {
		ns = stsNamespace
	}
	var result bytes.Buffer
	if out != nil {
		if err := xml.NewEncoder(&result).EncodeElement(out, xml.StartElement{Name: xml.Name{Local: name + "Result"}}); err != nil {
			h.writeError(w, service, reqID, err)
			return
		}
	}
	doc := fmt.Sprintf(`<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`, name, ns, result.String(), reqID, name)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, doc)
}

func (h *Handler) writeError(w http.ResponseWriter, service, reqID string, err error) {
	ae := toAPI(err)
	if ae.Status >= 500 && h.Log != nil {
		h.Log.Error("IAM API call failed", "err", err)
	}
	ns := iamNamespace
	if service == "sts" {
		ns = stsNamespace
	}
	var msg bytes.Buffer
	xml.EscapeText(&msg, []byte(ae.Message))
	typ := "Sender"
	if ae.Status >= 500 {
		typ = "Receiver"
	}
	doc := fmt.Sprintf(`<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		ns, typ, ae.Code, msg.String(), reqID)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(ae.Status)
	io.WriteString(w, doc)
}

func toAPI(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		code := se.Code
		switch code {
		case "UnrecognizedClientException":
			code = "InvalidClientTokenId"
		case "InvalidSignatureException":
			code = "SignatureDoesNotMatch"
		}
		return &apiError{code, se.Message, http.StatusForbidden}
	}
	var de *registry.Error
	if errors.As(err, &de) {
		switch de.Kind {
		case registry.KindDenied:
			return &apiError{"AccessDenied", de.Message, http.StatusForbidden}
		case registry.KindUnauthorized:
			return &apiError{"InvalidClientTokenId", de.Message, http.StatusForbidden}
		}
	}
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return &apiError{"NoSuchEntity", strings.TrimPrefix(err.Error(), "not found: "), http.StatusNotFound}
	case errors.Is(err, identity.ErrExists):
		return &apiError{"EntityAlreadyExists", strings.TrimPrefix(err.Error(), "already exists: "), http.StatusConflict}
	case errors.Is(err, identity.ErrInvalid):
		if strings.Contains(err.Error(), "policy") {
			return &apiError{"MalformedPolicyDocument", strings.TrimPrefix(err.Error(), "invalid: "), http.StatusBadRequest}
		}
		return &apiError{"ValidationError", strings.TrimPrefix(err.Error(), "invalid: "), http.StatusBadRequest}
	}
	return &apiError{"ServiceFailure", "internal error", http.StatusInternalServerError}
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (h *Handler) now() time.Time { return h.Clock.Now() }

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
