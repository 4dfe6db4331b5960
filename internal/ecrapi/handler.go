// Package ecrapi serves Amazon ECR's API (AWS JSON 1.1 over POST /, SigV4-signed) over the registry core,
// with the shapes and error codes of botocore's model.
//
// Each operation is registered with its input type: the pipeline decodes a request's body into it once,
// strictly, resolves the repositories it names, authorizes exactly those, and runs the operation on that
// same value.
package ecrapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/wharf-dev/wharf/internal/address"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/bodylimit"
	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/sigv4"
	"github.com/wharf-dev/wharf/internal/strictjson"
)

// TargetPrefix starts every X-Amz-Target of the ECR API.
const TargetPrefix = "AmazonEC2ContainerRegistry_V20150921."

// Handler serves the ECR API.
type Handler struct {
	Service  *registry.Service
	Identity *identity.Service
	Pipeline *pipeline.Pipeline
	// Signatures identifies callers by their SigV4 signature.
	Signatures sigv4.Identifier
	// Bodies reads request bodies under the server's memory budget.
	Bodies *bodylimit.Reader
	Clock  clock.Clock
	Region string
	// Addresses says where each account's registry is, for repository URIs, proxyEndpoint and download URLs.
	Addresses *address.Book
	// TokenTTL is how long an authorization token lasts (12 hours).
	TokenTTL time.Duration
	// Paging signs and checks nextToken values.
	Paging *Paging
	// PoliciesChanged is called after a call that changed policies or resource tags, so cached
	// authorization facts are dropped.
	PoliciesChanged func()
	// LockoutCheck tells whether the caller could still perform an action on a repository under a
	// candidate repository policy (SetRepositoryPolicy without force).
	LockoutCheck func(ctx context.Context, c *pipeline.Call, action, repo string, candidate *iam.Policy) bool
}

// changesPolicies names the operations after which cached authorization facts are stale.
var changesPolicies = map[string]bool{
	"CreateRepository": true, "DeleteRepository": true, "TagResource": true, "UntagResource": true,
	"SetRepositoryPolicy": true, "DeleteRepositoryPolicy": true,
	"PutRegistryPolicy": true, "DeleteRegistryPolicy": true, "PutAccountSetting": true,
}

// IsECRRequest tells an ECR API call from other traffic on the shared listener.
func IsECRRequest(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
}

// op builds the pipeline's operation over one request body; the result lands in *out.
type op func(h *Handler, body []byte, out *any) pipeline.Op

var ops = map[string]op{}

// repositoryInput is implemented by inputs that name one repository (they embed repositoryRef).
type repositoryInput interface{ repository() *repositoryRef }

// repositoryRef is the registryId and repositoryName most inputs carry.
type repositoryRef struct {
	RegistryID     string `json:"registryId"`
	RepositoryName string `json:"repositoryName"`
}

func (r *repositoryRef) repository() *repositoryRef { return r }

// register adds an operation whose input decodes into I. Its target is the repository the input names,
// or the registry when the input names none; registerWith gives an operation targets of its own.
func register[I any](name string, run func(h *Handler, ctx context.Context, c *pipeline.Call, in *I) (any, error)) {
	registerWith(name, nil, run)
}

// registerWith adds an operation whose input decodes into I and names its targets with resolve.
func registerWith[I any](name string, resolve func(h *Handler, c *pipeline.Call, in *I) ([]pipeline.Target, error),
	run func(h *Handler, ctx context.Context, c *pipeline.Call, in *I) (any, error)) {
	action := "ecr:" + name
	if resolve == nil {
		resolve = func(h *Handler, c *pipeline.Call, in *I) ([]pipeline.Target, error) {
			if r, ok := any(in).(repositoryInput); ok {
				return r.repository().targets(c, action)
			}
			return []pipeline.Target{pipeline.Repository(action, c.RegistryID, "")}, nil
		}
	}
	ops[name] = func(h *Handler, body []byte, out *any) pipeline.Op {
		in := new(I) // the one value that is decoded, resolved, authorized and run
		return pipeline.Op{
			Action:  action,
			Decode:  func() (any, error) { return in, decodeChecked(body, in) },
			Resolve: func(c *pipeline.Call) ([]pipeline.Target, error) { return resolve(h, c, in) },
			Run: func(ctx context.Context, c *pipeline.Call) (err error) {
				*out, err = run(h, ctx, c, in)
				c.Output = *out
				return err
			},
		}
	}
}

// targets checks the reference and names its repository, in the registry it names or the caller's.
func (r *repositoryRef) targets(c *pipeline.Call, action string) ([]pipeline.Target, error) {
	if err := required("repositoryName", r.RepositoryName); err != nil {
		return nil, err
	}
	if err := registry.ValidateRepositoryName(r.RepositoryName); err != nil {
		return nil, err
	}
	if err := useRegistry(c, r.RegistryID); err != nil {
		return nil, err
	}
	return []pipeline.Target{pipeline.Repository(action, c.RegistryID, r.RepositoryName)}, nil
}

// checked is an input with constraints of ECR's model that decoding alone does not check (list lengths).
type checked interface{ check() error }

// decodeChecked decodes an operation's input and checks its model's constraints.
func decodeChecked(body []byte, in any) error {
	if err := decode(body, in); err != nil {
		return err
	}
	if c, ok := in.(checked); ok {
		return c.check()
	}
	return nil
}

// listLength checks the length of a list member against its model's bounds, with ECR's message.
func listLength(member string, n, min, max int) error {
	switch {
	case n < min:
		return invalidParameter(fmt.Sprintf("Invalid parameter at '%s' failed to satisfy constraint: 'Member must have length greater than or equal to %d'", member, min))
	case n > max:
		return invalidParameter(fmt.Sprintf("Invalid parameter at '%s' failed to satisfy constraint: 'Member must have length less than or equal to %d'", member, max))
	}
	return nil
}

// useRegistry makes an input's registryId, when it names one, the registry the call addresses.
func useRegistry(c *pipeline.Call, registryID string) error {
	if registryID == "" {
		return nil
	}
	if !identity.ValidAccountID(registryID) {
		return invalidParameter("Invalid parameter at 'registryId' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}''")
	}
	c.RegistryID = registryID
	return nil
}

// decode reads a body as one JSON object and nothing else, as a case-sensitive parser that allows no
// duplicate member would (strictjson): no reader of the body, in Wharf or in front of it, can see another
// value than the one decoded here.
func decode(body []byte, v any) error {
	if err := strictjson.Decode(body, v); err != nil {
		return &awsError{Code: "SerializationException", Message: "Start of structure or map found where not expected, or malformed JSON: " + err.Error(), Status: http.StatusBadRequest}
	}
	return nil
}

// MaxPartBody is the largest body of UploadLayerPart: a part of up to 10 MiB in base64, and its names.
const MaxPartBody = (registry.MaxLayerPart+2)/3*4 + 64<<10

// maxBody is the largest body an operation takes: most carry names and a policy at most; PutImage a
// manifest, escaped in JSON; UploadLayerPart a part of up to 10 MiB in base64.
func (h *Handler) maxBody(name string) int64 {
	switch name {
	case "UploadLayerPart":
		return MaxPartBody
	case "PutImage":
		return 2*h.Service.Limits().ManifestSize + 64<<10
	}
	return 1 << 20
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r, nil) }

// ServeAs serves a call whose caller the transport has identified already, by other means than a
// signature: the web console's session. Everything else is as for a signed call: the same operations,
// decoding, authorization and audit.
func (h *Handler) ServeAs(w http.ResponseWriter, r *http.Request, caller pipeline.Credential) {
	h.serve(w, r, caller)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, caller pipeline.Credential) {
	reqID := pipeline.RequestID(r.Context())
	w.Header().Set("x-amzn-RequestId", reqID)
	name := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	build, ok := ops[name]
	if !ok {
		h.writeError(w, &awsError{Code: "UnknownOperationException", Message: "The action or operation requested is invalid. Verify that the action is typed correctly.", Status: http.StatusNotFound})
		return
	}
	limit := h.maxBody(name)
	budgetKey := sigv4.KeyID(r)
	if caller == nil {
		if err := h.Signatures.Precheck(r.Context(), r); err != nil {
			bodylimit.Refuse(w, r, limit)
			h.writeError(w, err)
			return
		}
	} else {
		budgetKey = "console " + pipeline.SourceIP(r.RemoteAddr)
	}
	body, err := h.Bodies.Read(w, r, limit, budgetKey)
	if err != nil {
		h.writeError(w, bodyError(w, r, limit, err))
		return
	}
	defer body.Release()
	if caller == nil {
		caller = sigv4.Signed{Identifier: h.Signatures, Request: r, BodySHA256: body.SHA256}
	}
	call := &pipeline.Call{RequestID: reqID, Protocol: "ecr", SourceIP: pipeline.SourceIP(r.RemoteAddr), UserAgent: r.UserAgent(),
		Origin:     address.From(r.TLS != nil, r.Host),
		Credential: caller,
		ErrorCode:  ErrorCode}
	var out any
	if err := h.Pipeline.Do(r.Context(), call, build(h, body.Bytes, &out)); err != nil {
		h.writeError(w, err)
		return
	}
	if changesPolicies[name] && h.PoliciesChanged != nil {
		h.PoliciesChanged()
	}
	data, err := json.Marshal(omitNil(out))
	if err != nil {
		h.writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// omitNil drops the members of an output that are nil pointers (a nextToken on the last page, an unset
// optional member): ECR omits them rather than send null.
func omitNil(out any) any {
	if m, ok := out.(map[string]any); ok {
		for k, v := range m {
			if v == nil {
				delete(m, k)
				continue
			}
			if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
				delete(m, k)
			}
		}
	}
	return out
}

// bodyError answers a body that could not be read: too large (413, with its size), too many bodies in
// flight (throttled: the SDKs retry), or too slow.
func bodyError(w http.ResponseWriter, r *http.Request, limit int64, err error) error {
	bodylimit.Refused(w, r, err, 4*limit)
	var tl *bodylimit.TooLargeError
	switch {
	case errors.As(err, &tl):
		return &awsError{Code: "SerializationException", Message: fmt.Sprintf("Request body of %s exceeds the limit of %d bytes for this operation", tl.Bytes(), limit), Status: http.StatusRequestEntityTooLarge}
	case errors.Is(err, bodylimit.ErrBusy):
		return &awsError{Code: "ThrottlingException", Message: "Rate exceeded", Status: http.StatusBadRequest}
	case errors.Is(err, bodylimit.ErrTimeout):
		return &awsError{Code: "RequestTimeoutException", Message: "The request body was not received in time", Status: http.StatusRequestTimeout}
	}
	return err
}

func parseRepositoryARN(arn string) (registryID, name string, ok bool) {
	// arn:aws:ecr:<region>:<account>:repository/<name>
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "ecr" {
		return "", "", false
	}
	name, ok = strings.CutPrefix(parts[5], "repository/")
	return parts[4], name, ok && name != ""
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
