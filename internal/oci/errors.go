package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/internal/address"
	"github.com/wharf-dev/wharf/internal/registry"
)

// wireError is one error code of the distribution spec with its HTTP status; as an error, with a message,
// it is an answer only this protocol gives (a malformed page size, say).
type wireError struct {
	Code    string
	Status  int
	Message string
}

func (e *wireError) Error() string { return e.Message }

// toWire is the error in the OCI error format, with its detail.
func toWire(err error) (we wireError, detail any) {
	var de *registry.Error
	var oe *wireError
	we = wireError{"UNKNOWN", http.StatusInternalServerError, "internal error"}
	switch {
	case errors.As(err, &oe):
		we = *oe
	case errors.As(err, &de):
		if m, ok := wireErrors[de.Kind]; ok {
			we = m
			we.Message, detail = de.Message, errorDetail(we.Code, de.Fields)
		}
	case errors.Is(err, context.Canceled):
		we = wireError{"UNKNOWN", 499, "request canceled"}
	}
	return we, detail
}

// ErrorCode is the code and message err is answered with in the OCI error format (NAME_UNKNOWN,
// TOOMANYREQUESTS, UNKNOWN …): a call's outcome in the audit trail and the metrics.
func ErrorCode(err error) (string, string) {
	we, _ := toWire(err)
	return we.Code, we.Message
}

// wireErrors maps each domain error kind to its code in the OCI error format, once.
var wireErrors = map[registry.Kind]wireError{
	registry.KindNameInvalid:            {"NAME_INVALID", http.StatusBadRequest, ""},
	registry.KindRepositoryNotFound:     {"NAME_UNKNOWN", http.StatusNotFound, ""},
	registry.KindRepositoryExists:       {"DENIED", http.StatusConflict, ""},
	registry.KindRepositoryNotEmpty:     {"DENIED", http.StatusConflict, ""},
	registry.KindBlobUnknown:            {"BLOB_UNKNOWN", http.StatusNotFound, ""},
	registry.KindUploadUnknown:          {"BLOB_UPLOAD_UNKNOWN", http.StatusNotFound, ""},
	registry.KindUploadInvalid:          {"BLOB_UPLOAD_INVALID", http.StatusBadRequest, ""},
	registry.KindRangeInvalid:           {"BLOB_UPLOAD_INVALID", http.StatusRequestedRangeNotSatisfiable, ""},
	registry.KindDigestInvalid:          {"DIGEST_INVALID", http.StatusBadRequest, ""},
	registry.KindManifestDigestMismatch: {"DIGEST_INVALID", http.StatusBadRequest, ""},
	registry.KindSizeInvalid:            {"SIZE_INVALID", http.StatusRequestEntityTooLarge, ""},
	registry.KindManifestInvalid:        {"MANIFEST_INVALID", http.StatusBadRequest, ""},
	registry.KindManifestBlobUnknown:    {"MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest, ""},
	registry.KindManifestUnknown:        {"MANIFEST_UNKNOWN", http.StatusNotFound, ""},
	registry.KindTagInvalid:             {"TAG_INVALID", http.StatusBadRequest, ""},
	registry.KindImageReferenced:        {"DENIED", http.StatusConflict, ""},
	registry.KindImageTagAlreadyExists:  {"TAG_INVALID", http.StatusBadRequest, ""},
	registry.KindLimitExceeded:          {"DENIED", http.StatusForbidden, ""},
	registry.KindUnsupported:            {"UNSUPPORTED", http.StatusUnsupportedMediaType, ""},
	registry.KindTryAgain:               {"TOOMANYREQUESTS", http.StatusTooManyRequests, ""},
	registry.KindDenied:                 {"DENIED", http.StatusForbidden, ""},
	registry.KindUnauthorized:           {"UNAUTHORIZED", http.StatusUnauthorized, ""},
	registry.KindTooManyRequests:        {"TOOMANYREQUESTS", http.StatusTooManyRequests, ""},
	registry.KindThrottled:              {"TOOMANYREQUESTS", http.StatusTooManyRequests, ""},
	registry.KindInvalidParameter:       {"UNSUPPORTED", http.StatusBadRequest, ""},
	registry.KindInvalidTagParameter:    {"UNSUPPORTED", http.StatusBadRequest, ""},
	registry.KindTooManyTags:            {"UNSUPPORTED", http.StatusBadRequest, ""},
	registry.KindManifestChildUnknown:   {"MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest, ""},
	registry.KindBodyUnreadable:         {"BLOB_UPLOAD_INVALID", http.StatusBadRequest, ""},
	registry.KindStorageFull:            {"UNKNOWN", http.StatusInsufficientStorage, ""},
	registry.KindUpstreamFailed:         {"UNKNOWN", http.StatusBadGateway, ""},
}

// Kinds that only the ECR API produces have no registry-protocol code; they answer as internal errors.

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError answers err in the OCI error format. The server's access log line tells the error.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	we, detail := toWire(err)
	retryAfter := 1
	var de *registry.Error
	if errors.As(err, &de) && de.Fields.RetryAfter > 0 {
		retryAfter = max(1, int((de.Fields.RetryAfter+time.Second-1)/time.Second))
	}
	switch we.Status {
	case http.StatusUnauthorized:
		// ECR's challenge, naming the registry's login endpoint.
		acct, _, _ := h.Addresses.Resolve(r.Host, "")
		w.Header().Set("WWW-Authenticate", `Basic realm="`+h.Addresses.Endpoint(address.From(r.TLS != nil, r.Host), acct)+`/",service="ecr.amazonaws.com"`)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	writeErrorCode(w, we.Code, we.Message, detail, we.Status)
}

// errorDetail is the detail the distribution spec's error codes carry: what was not found or not valid.
func errorDetail(code string, f registry.Fields) any {
	switch code {
	case "NAME_UNKNOWN":
		return map[string]string{"name": f.Repository}
	case "MANIFEST_UNKNOWN":
		if f.Tag != "" {
			return map[string]string{"tag": f.Tag}
		}
		return map[string]string{"digest": f.Digest.String()}
	case "BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN", "DIGEST_INVALID":
		if f.Digest != "" {
			return map[string]string{"digest": f.Digest.String()}
		}
	case "BLOB_UPLOAD_UNKNOWN":
		return map[string]string{"uuid": f.UploadID}
	case "BLOB_UPLOAD_INVALID":
		if f.UploadID != "" {
			return map[string]any{"uuid": f.UploadID, "offset": f.Offset}
		}
	}
	return nil
}

func writeErrorCode(w http.ResponseWriter, code, msg string, detail any, status int) {
	body, _ := json.Marshal(errorBody{Errors: []errorEntry{{Code: code, Message: msg, Detail: detail}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// ErrorCode is the error's wire code: the outcome of the call in metrics.
func (e *wireError) ErrorCode() string { return e.Code }
