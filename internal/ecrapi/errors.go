package ecrapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/sigv4"
)

// awsError is an error in AWS's JSON protocol: {"__type": code, "message": …}.
type awsError struct {
	Code    string
	Message string
	Status  int
	// Members are the members an error shape has beyond its message (InvalidLayerPartException's
	// registryId, repositoryName, uploadId, lastValidByteReceived).
	Members map[string]any
}

func (e *awsError) Error() string { return e.Code + ": " + e.Message }

func invalidParameter(msg string) error {
	return &awsError{Code: "InvalidParameterException", Message: msg, Status: http.StatusBadRequest}
}

// codes maps domain error kinds to ECR error codes, once. Operations whose model names a more specific
// code for a kind (PutImage's LayersNotFoundException, say) translate before returning.
var codes = map[registry.Kind]string{
	registry.KindNameInvalid:                "InvalidParameterException",
	registry.KindInvalidParameter:           "InvalidParameterException",
	registry.KindRepositoryNotFound:         "RepositoryNotFoundException",
	registry.KindRepositoryExists:           "RepositoryAlreadyExistsException",
	registry.KindRepositoryNotEmpty:         "RepositoryNotEmptyException",
	registry.KindBlobUnknown:                "LayersNotFoundException",
	registry.KindUploadUnknown:              "UploadNotFoundException",
	registry.KindUploadInvalid:              "InvalidLayerPartException",
	registry.KindRangeInvalid:               "InvalidLayerPartException",
	registry.KindDigestInvalid:              "InvalidParameterException",
	registry.KindSizeInvalid:                "InvalidParameterException",
	registry.KindManifestInvalid:            "InvalidParameterException",
	registry.KindManifestBlobUnknown:        "LayersNotFoundException",
	registry.KindManifestUnknown:            "ImageNotFoundException",
	registry.KindTagInvalid:                 "InvalidParameterException",
	registry.KindImageReferenced:            "InvalidParameterException",
	registry.KindImageTagAlreadyExists:      "ImageTagAlreadyExistsException",
	registry.KindLimitExceeded:              "LimitExceededException",
	registry.KindUnsupported:                "UnsupportedImageTypeException",
	registry.KindTryAgain:                   "ThrottlingException",
	registry.KindDenied:                     "AccessDeniedException",
	registry.KindUnauthorized:               "UnrecognizedClientException",
	registry.KindTooManyRequests:            "ThrottlingException",
	registry.KindThrottled:                  "ThrottlingException",
	registry.KindInvalidTagParameter:        "InvalidTagParameterException",
	registry.KindTooManyTags:                "TooManyTagsException",
	registry.KindManifestChildUnknown:       "ReferencedImagesNotFoundException",
	registry.KindImageAlreadyExists:         "ImageAlreadyExistsException",
	registry.KindLayerPartTooSmall:          "LayerPartTooSmallException",
	registry.KindEmptyUpload:                "EmptyUploadException",
	registry.KindLayerAlreadyExists:         "LayerAlreadyExistsException",
	registry.KindRepositoryPolicyNotFound:   "RepositoryPolicyNotFoundException",
	registry.KindRegistryPolicyNotFound:     "RegistryPolicyNotFoundException",
	registry.KindLifecyclePolicyNotFound:    "LifecyclePolicyNotFoundException",
	registry.KindLifecyclePreviewNotFound:   "LifecyclePolicyPreviewNotFoundException",
	registry.KindLifecyclePreviewInProgress: "LifecyclePolicyPreviewInProgressException",
	registry.KindManifestDigestMismatch:     "ImageDigestDoesNotMatchException",
	registry.KindTagDigestMismatch:          "InvalidParameterException",
	registry.KindBodyUnreadable:             "SerializationException",
	registry.KindStorageFull:                "ServerException",
	registry.KindExclusionExists:            "ExclusionAlreadyExistsException",
	registry.KindExclusionNotFound:          "ExclusionNotFoundException",
	registry.KindScanNotFound:               "ScanNotFoundException",

	registry.KindSigningConfigurationNotFound: "SigningConfigurationNotFoundException",
}

func toAWS(err error) *awsError {
	var ae *awsError
	if errors.As(err, &ae) {
		return ae
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		return &awsError{Code: se.Code, Message: se.Message, Status: se.Status}
	}
	var de *registry.Error
	if errors.As(err, &de) {
		if code, ok := codes[de.Kind]; ok { // every ECR error is a 400 in AWS JSON 1.1, AccessDenied too
			msg, status := de.Message, http.StatusBadRequest
			switch de.Kind {
			case registry.KindManifestDigestMismatch:
				msg = "Invalid parameter at 'imageDigest' failed to satisfy constraint: '" + msg + "'"
			case registry.KindManifestBlobUnknown, registry.KindManifestChildUnknown:
				// ECR's words: what is missing, and where the image was to go.
				if f := de.Fields; f.Repository != "" {
					what := "Layers"
					if de.Kind == registry.KindManifestChildUnknown {
						what = "Images"
					}
					msg = fmt.Sprintf("%s with digests '[%s]' required for pushing image into repository with name '%s' in registry with id '%s' do not exist",
						what, f.Digest, f.Repository, f.RegistryID)
				}
			case registry.KindUploadUnknown:
				if f := de.Fields; f.UploadID != "" {
					msg = fmt.Sprintf("The upload with id '%s' does not exist within the repository with name '%s' in the registry with id '%s'",
						f.UploadID, f.Repository, f.RegistryID)
				}
			case registry.KindManifestInvalid:
				if errors.Is(de.Err, manifest.ErrSyntax) {
					msg = "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'"
				}
			case registry.KindStorageFull:
				// Not a 500: the SDKs would retry a full disk four times. 507 says it is the storage.
				status = http.StatusInsufficientStorage
			}
			ae := &awsError{Code: code, Message: msg, Status: status}
			if code == "InvalidLayerPartException" && de.Fields.UploadID != "" {
				f := de.Fields
				ae.Members = map[string]any{"registryId": f.RegistryID, "repositoryName": f.Repository, "uploadId": f.UploadID, "lastValidByteReceived": f.Offset - 1}
			}
			return ae
		}
	}
	return &awsError{Code: "ServerException", Message: "internal error", Status: http.StatusInternalServerError}
}

// ErrorCode is the code and message the ECR API answers err with (RepositoryNotFoundException,
// ThrottlingException, ServerException …): a call's outcome in the audit trail and the metrics.
func ErrorCode(err error) (string, string) {
	ae := toAWS(err)
	return ae.Code, ae.Message
}

func (h *Handler) writeError(w http.ResponseWriter, err error) {
	ae := toAWS(err)
	m := map[string]any{"__type": ae.Code, "message": ae.Message}
	for k, v := range ae.Members {
		m[k] = v
	}
	body, _ := json.Marshal(m)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-ErrorType", ae.Code)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(ae.Status)
	w.Write(body)
}

// ErrorCode is the error's wire code: the outcome of the call in metrics.
func (e *awsError) ErrorCode() string { return e.Code }
