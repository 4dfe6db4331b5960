// Package secretsapi serves the part of AWS Secrets Manager's API (AWS JSON 1.1 over POST /, SigV4 signing
// name "secretsmanager") that ECR's pull through cache needs: CreateSecret, GetSecretValue,
// PutSecretValue, DescribeSecret, DeleteSecret and ListSecrets, with the shapes and error codes of
// botocore's model, over package secrets.
//
// Each operation decodes its input once, strictly, and resolves the secret it names to the ARN it is
// authorized on (action secretsmanager:<Op>) and then acted on: the secret's ARN when the account has it,
// else the ARN as given or the name's partial ARN, so that a caller without rights learns nothing of
// which secrets exist. CreateSecret is authorized on the ARN the secret will have, random suffix included,
// as AWS does. An account reaches its own secrets only: there are no resource policies.
package secretsapi

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/internal/bodylimit"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/secrets"
	"github.com/wharf-dev/wharf/internal/sigv4"
	"github.com/wharf-dev/wharf/internal/strictjson"
)

// TargetPrefix starts every X-Amz-Target of the Secrets Manager API.
const TargetPrefix = "secretsmanager."

// IsRequest tells a Secrets Manager API call from other traffic on the shared listener.
func IsRequest(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
}

// Handler serves the Secrets Manager API.
type Handler struct {
	Secrets  *secrets.Service
	Pipeline *pipeline.Pipeline
	// Signatures identifies callers by their SigV4 signature (signing name "secretsmanager").
	Signatures sigv4.Identifier
	Bodies     *bodylimit.Reader
	// Keys signs NextToken values.
	Keys *identity.Keyring
}

// maxBody holds the largest input: a 64 KiB value in base64, and the rest.
const maxBody = 256 << 10

// op builds the pipeline's operation over one request body; the result lands in *out.
type op func(h *Handler, ctx context.Context, body []byte, out *any) pipeline.Op

var ops = map[string]op{}

// register adds an operation whose input decodes into I and names its targets with resolve.
func register[I any](name string, resolve func(h *Handler, ctx context.Context, c *pipeline.Call, in *I, action string) ([]pipeline.Target, error),
	run func(h *Handler, ctx context.Context, c *pipeline.Call, in *I) (any, error)) {
	action := "secretsmanager:" + name
	ops[name] = func(h *Handler, ctx context.Context, body []byte, out *any) pipeline.Op {
		in := new(I) // the one value that is decoded, resolved, authorized and run
		return pipeline.Op{
			Action: action,
			Decode: func() (any, error) {
				if err := strictjson.Decode(body, in); err != nil {
					return in, &apiError{"SerializationException", "Start of structure or map found where not expected, or malformed JSON: " + err.Error(), http.StatusBadRequest}
				}
				return in, nil
			},
			Resolve: func(c *pipeline.Call) ([]pipeline.Target, error) { return resolve(h, ctx, c, in, action) },
			Run: func(ctx context.Context, c *pipeline.Call) (err error) {
				*out, err = run(h, ctx, c, in)
				c.Output = *out
				return err
			},
		}
	}
}

// secretRef is the SecretId most inputs carry, and what Resolve found it to be.
type secretRef struct {
	SecretID string `json:"SecretId"`
	arn      string // the ARN authorized
	found    bool   // whether the account has the secret
}

// resolveSecret names the secret an input's SecretId names as its target.
func resolveSecret[I interface{ ref() *secretRef }](h *Handler, ctx context.Context, c *pipeline.Call, in I, action string) ([]pipeline.Target, error) {
	r := in.ref()
	if r.SecretID == "" || len(r.SecretID) > 2048 {
		return nil, invalidParameter("Invalid parameter at 'SecretId' failed to satisfy constraint: 'Member must have length between 1 and 2048'")
	}
	var err error
	if r.arn, r.found, err = h.Secrets.ResourceARN(ctx, c.Caller.AccountID, r.SecretID); err != nil {
		return nil, err
	}
	return []pipeline.Target{{Action: action, RegistryID: c.Caller.AccountID, Resource: r.arn}}, nil
}

func (r *secretRef) ref() *secretRef { return r }

// secret is the ARN an operation acts on: the one authorized, or the answer that there is no such secret.
func (r *secretRef) secret() (string, error) {
	if !r.found {
		return "", secrets.ErrNotFound
	}
	return r.arn, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := pipeline.RequestID(r.Context())
	w.Header().Set("x-amzn-RequestId", reqID)
	build, ok := ops[strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)]
	if !ok {
		writeError(w, &apiError{"UnknownOperationException", "The action or operation requested is invalid. Verify that the action is typed correctly.", http.StatusBadRequest})
		return
	}
	if err := h.Signatures.Precheck(r.Context(), r); err != nil {
		bodylimit.Refuse(w, r, maxBody)
		writeError(w, err)
		return
	}
	body, err := h.Bodies.Read(w, r, maxBody, sigv4.KeyID(r))
	if err != nil {
		bodylimit.Refused(w, r, err, 4*maxBody)
		var tl *bodylimit.TooLargeError
		if errors.As(err, &tl) {
			writeError(w, &apiError{"SerializationException", "Request body exceeds the limit of " + strconv.Itoa(maxBody) + " bytes", http.StatusRequestEntityTooLarge})
		} else {
			writeError(w, &apiError{"ThrottlingException", "Rate exceeded", http.StatusBadRequest})
		}
		return
	}
	defer body.Release()
	call := &pipeline.Call{RequestID: reqID, Protocol: "secretsmanager", SourceIP: pipeline.SourceIP(r.RemoteAddr), UserAgent: r.UserAgent(),
		Credential: sigv4.Signed{Identifier: h.Signatures, Request: r, BodySHA256: body.SHA256},
		ErrorCode:  ErrorCode}
	var out any
	if err := h.Pipeline.Do(r.Context(), call, build(h, r.Context(), body.Bytes, &out)); err != nil {
		writeError(w, err)
		return
	}
	data, err := json.Marshal(out)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

// apiError is an error of the JSON protocol: {"__type": code, "message": …}.
type apiError struct {
	Code, Message string
	Status        int
}

func (e *apiError) Error() string     { return e.Code + ": " + e.Message }
func (e *apiError) ErrorCode() string { return e.Code }

func invalidParameter(msg string) error {
	return &apiError{"InvalidParameterException", msg, http.StatusBadRequest}
}

func toAPI(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var se *secrets.Error
	if errors.As(err, &se) {
		return &apiError{se.Code, se.Message, http.StatusBadRequest}
	}
	var sv *sigv4.Error
	if errors.As(err, &sv) {
		return &apiError{sv.Code, sv.Message, sv.Status}
	}
	var de *registry.Error
	errors.As(err, &de)
	switch registry.KindOf(err) {
	case registry.KindDenied:
		return &apiError{"AccessDeniedException", de.Message, http.StatusBadRequest}
	case registry.KindUnauthorized:
		return &apiError{"UnrecognizedClientException", "The security token included in the request is invalid.", http.StatusBadRequest}
	case registry.KindThrottled, registry.KindTooManyRequests:
		return &apiError{"ThrottlingException", "Rate exceeded", http.StatusBadRequest}
	}
	return &apiError{"InternalServiceError", "internal error", http.StatusInternalServerError}
}

// ErrorCode is the code and message the API answers err with: a call's outcome in the audit trail.
func ErrorCode(err error) (string, string) {
	ae := toAPI(err)
	return ae.Code, ae.Message
}

func writeError(w http.ResponseWriter, err error) {
	ae := toAPI(err)
	body, _ := json.Marshal(map[string]string{"__type": ae.Code, "message": ae.Message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-ErrorType", ae.Code)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(ae.Status)
	w.Write(body)
}

// nextToken makes a NextToken: the name a page ended at, signed and bound to the account.
func (h *Handler) nextToken(accountID, after string) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(accountID + "\n" + after))
	return payload + "." + base64.RawURLEncoding.EncodeToString(h.Keys.Sign([]byte("secrets "+payload)))
}

// after reads a NextToken.
func (h *Handler) after(accountID, token string) (string, error) {
	bad := &apiError{"InvalidNextTokenException", "The NextToken value is invalid.", http.StatusBadRequest}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return "", bad
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, h.Keys.Sign([]byte("secrets "+payload))) {
		return "", bad
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	acct, after, ok := strings.Cut(string(body), "\n")
	if err != nil || !ok || acct != accountID {
		return "", bad
	}
	return after, nil
}
