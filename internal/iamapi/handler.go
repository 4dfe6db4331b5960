// Package iamapi serves the subset of the IAM and STS APIs (AWS Query protocol: form-encoded POST, XML
// answers) that lets `aws iam …` and `aws sts …` manage Wharf's users, access keys and policies.
package iamapi

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/bodylimit"
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
	// Signatures identifies callers by their SigV4 signature.
	Signatures sigv4.Identifier
	// Bodies reads request bodies under the server's memory budget.
	Bodies *bodylimit.Reader
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
	action  string // the IAM action it needs; "" when any identified caller may call it
	// resource names the ARN the call acts on, from its parameters and the caller.
	resource func(c *pipeline.Call, q url.Values) (string, error)
	run      func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error)
}

var ops = map[string]op{}

// maxBody bounds a request body. The largest parameter is a policy document (at most 131,072 characters,
// a few times that URL-encoded).
const maxBody = 1 << 20

// decodeQuery reads a form body, strictly: a parameter given twice is refused, so every reader of the
// call sees the same value.
func decodeQuery(body []byte) (url.Values, error) {
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, &apiError{"MalformedQueryString", err.Error(), http.StatusBadRequest}
	}
	for k, v := range q {
		if len(v) > 1 {
			return nil, &apiError{"MalformedQueryString", "parameter " + k + " is given more than once", http.StatusBadRequest}
		}
	}
	return q, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, SigningService(r), nil)
}

// ServeAs serves a call of service ("iam" or "sts") whose caller the transport has identified already,
// by other means than a signature: the web console's session. Everything else is as for a signed call.
func (h *Handler) ServeAs(w http.ResponseWriter, r *http.Request, service string, caller pipeline.Credential) {
	h.serve(w, r, service, caller)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, service string, caller pipeline.Credential) {
	reqID := pipeline.RequestID(r.Context())
	budgetKey := sigv4.KeyID(r)
	if caller == nil {
		if err := h.Signatures.Precheck(r.Context(), r); err != nil {
			bodylimit.Refuse(w, r, maxBody)
			h.writeError(w, service, reqID, err)
			return
		}
	} else {
		budgetKey = "console " + pipeline.SourceIP(r.RemoteAddr)
	}
	body, err := h.Bodies.Read(w, r, maxBody, budgetKey)
	if err != nil {
		h.writeError(w, service, reqID, bodyError(w, r, err))
		return
	}
	defer body.Release()
	// The operation is named in the body: it is read before the signature is checked, for routing only.
	q, err := decodeQuery(body.Bytes)
	if err != nil {
		h.writeError(w, service, reqID, err)
		return
	}
	name := q.Get("Action")
	o, ok := ops[name]
	if !ok || o.service != service {
		h.writeError(w, service, reqID, &apiError{"InvalidAction", "Could not find operation " + name + " for version " + q.Get("Version"), http.StatusBadRequest})
		return
	}
	if caller == nil {
		caller = sigv4.Signed{Identifier: h.Signatures, Request: r, BodySHA256: body.SHA256}
	}
	call := &pipeline.Call{RequestID: reqID, Protocol: service, SourceIP: pipeline.SourceIP(r.RemoteAddr), UserAgent: r.UserAgent(),
		Credential: caller, ErrorCode: ErrorCode}
	var out any
	err = h.Pipeline.Do(r.Context(), call, pipeline.Op{
		Action: service + ":" + name, // also for an operation that needs no permission: it is audited and throttled
		Decode: func() (any, error) { return q, nil },
		Resolve: func(c *pipeline.Call) ([]pipeline.Target, error) {
			if o.action == "" {
				return nil, nil
			}
			resource := "*"
			if o.resource != nil {
				var err error
				if resource, err = o.resource(c, q); err != nil {
					return nil, err
				}
			}
			t := pipeline.Target{Action: o.action, Resource: resource}
			if arn := q.Get("PolicyArn"); arn != "" { // the managed policy a call attaches or detaches
				t.Conditions = map[string][]string{"iam:PolicyARN": {arn}}
			}
			return []pipeline.Target{t}, nil
		},
		Run: func(ctx context.Context, c *pipeline.Call) (err error) {
			out, err = o.run(h, ctx, c, q)
			c.Output = out
			return err
		},
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

// bodyError answers a body that could not be read: too large, too many bodies in flight, or too slow.
func bodyError(w http.ResponseWriter, r *http.Request, err error) error {
	bodylimit.Refused(w, r, err, 4*maxBody)
	var tl *bodylimit.TooLargeError
	switch {
	case errors.As(err, &tl):
		return &apiError{"ValidationError", fmt.Sprintf("Request body of %s exceeds the limit of %d bytes", tl.Bytes(), maxBody), http.StatusRequestEntityTooLarge}
	case errors.Is(err, bodylimit.ErrBusy):
		return &apiError{"Throttling", "Rate exceeded", http.StatusBadRequest}
	case errors.Is(err, bodylimit.ErrTimeout):
		return &apiError{"RequestTimeout", "The request body was not received in time", http.StatusRequestTimeout}
	}
	return err
}

func (h *Handler) writeError(w http.ResponseWriter, service, reqID string, err error) {
	ae := toAPI(err)
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

// identityErrors map the identity service's errors to IAM's codes, the more specific first (a malformed
// policy is also invalid).
var identityErrors = []struct {
	sentinel error
	code     string
	status   int
}{
	{identity.ErrNotFound, "NoSuchEntity", http.StatusNotFound},
	{identity.ErrExists, "EntityAlreadyExists", http.StatusConflict},
	{identity.ErrLimitExceeded, "LimitExceeded", http.StatusConflict},
	{identity.ErrDeleteConflict, "DeleteConflict", http.StatusConflict},
	{identity.ErrPasswordPolicy, "PasswordPolicyViolation", http.StatusBadRequest},
	{identity.ErrSignInFailed, "AccessDenied", http.StatusForbidden},    // ChangePassword's old password is wrong
	{identity.ErrPasswordExpired, "AccessDenied", http.StatusForbidden}, // only an administrator may reset it
	{identity.ErrMalformedPolicy, "MalformedPolicyDocument", http.StatusBadRequest},
	{identity.ErrInvalid, "ValidationError", http.StatusBadRequest},
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
		case registry.KindThrottled:
			return &apiError{"Throttling", "Rate exceeded", http.StatusBadRequest}
		}
	}
	for _, m := range identityErrors {
		if errors.Is(err, m.sentinel) {
			return &apiError{m.code, strings.TrimPrefix(err.Error(), m.sentinel.Error()+": "), m.status}
		}
	}
	return &apiError{"ServiceFailure", "internal error", http.StatusInternalServerError}
}

func (h *Handler) now() time.Time { return h.Clock.Now() }

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// ErrorCode is the error's wire code: the outcome of the call in metrics.
func (e *apiError) ErrorCode() string { return e.Code }

// ErrorCode is the code and message the IAM and STS APIs answer err with (NoSuchEntity, AccessDenied,
// Throttling …): a call's outcome in the audit trail and the metrics.
func ErrorCode(err error) (code, message string) {
	ae := toAPI(err)
	return ae.Code, ae.Message
}
