package registry

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
)

// Kind classifies domain errors. Each protocol adapter maps a Kind to its own wire code once.
type Kind int

const (
	KindInternal Kind = iota
	KindNameInvalid
	KindRepositoryNotFound
	KindRepositoryExists
	KindRepositoryNotEmpty
	KindBlobUnknown
	KindUploadUnknown
	KindUploadInvalid
	KindRangeInvalid
	KindDigestInvalid
	KindSizeInvalid
	KindManifestInvalid
	KindManifestBlobUnknown
	KindManifestUnknown
	KindTagInvalid
	KindImageReferenced
	KindImageTagAlreadyExists
	KindLimitExceeded
	KindUnsupported
	KindTryAgain
	KindDenied
	KindUnauthorized
	KindTooManyRequests
	KindInvalidParameter
	KindInvalidTagParameter
	KindTooManyTags
	KindManifestChildUnknown // an index names a manifest the repository does not hold
	KindImageAlreadyExists
	KindLayerPartTooSmall
	KindEmptyUpload
	KindLayerAlreadyExists
	KindRepositoryPolicyNotFound
	KindRegistryPolicyNotFound
	KindLifecyclePolicyNotFound
	KindLifecyclePreviewNotFound
	KindLifecyclePreviewInProgress
	KindManifestDigestMismatch // the manifest's bytes do not hash to the digest the caller gave
	KindTagDigestMismatch      // an image named by tag and digest whose tag names another digest
	KindStorageFull            // the blob or metadata store has no space left
	KindBodyUnreadable         // the client's bytes could not be read: it went away, or sent a broken body
	KindThrottled              // the caller's calls of this action are over their rate (Fields.RetryAfter)
	KindScanNotFound           // an image has not been scanned (Fields name it)
	KindExclusionExists        // a pull time update exclusion registered twice
	KindExclusionNotFound      // a pull time update exclusion the registry does not have

	KindSigningConfigurationNotFound // the registry has no signing configuration
	// KindStorageClassUpdateUnsupported: a storage class update that is no transition (archiving an
	// archived image, restoring an active one).
	KindStorageClassUpdateUnsupported
	// KindImageArchived: what an archived image does not allow (a scan).
	KindImageArchived
	// KindValidation: an input outside its model's constraints, where the operation answers them with a
	// validation error (the repository creation templates' operations).
	KindValidation
	KindTemplateExists               // a repository creation template's prefix is taken
	KindTemplateNotFound             // the registry has no repository creation template with the prefix
	KindPullThroughCacheRuleExists   // a pull through cache rule's prefix is taken
	KindPullThroughCacheRuleNotFound // the registry has no pull through cache rule with the prefix
	KindUnsupportedUpstream          // an upstream registry URL a pull through cache rule cannot use
	KindSecretNotFound               // a pull through cache rule's credentialArn names no secret
	KindSecretInaccessible           // the secret is another account's, or scheduled for deletion
	KindSecretUndecryptable          // the secret's value does not open
	KindUpstreamFailed               // a pull through cache could not get an image from its upstream
)

// kindNames name the kinds, for logs and metrics: stable whatever number a kind gets.
var kindNames = map[Kind]string{
	KindInternal:                   "Internal",
	KindNameInvalid:                "NameInvalid",
	KindRepositoryNotFound:         "RepositoryNotFound",
	KindRepositoryExists:           "RepositoryExists",
	KindRepositoryNotEmpty:         "RepositoryNotEmpty",
	KindBlobUnknown:                "BlobUnknown",
	KindUploadUnknown:              "UploadUnknown",
	KindUploadInvalid:              "UploadInvalid",
	KindRangeInvalid:               "RangeInvalid",
	KindDigestInvalid:              "DigestInvalid",
	KindSizeInvalid:                "SizeInvalid",
	KindManifestInvalid:            "ManifestInvalid",
	KindManifestBlobUnknown:        "ManifestBlobUnknown",
	KindManifestUnknown:            "ManifestUnknown",
	KindTagInvalid:                 "TagInvalid",
	KindImageReferenced:            "ImageReferenced",
	KindImageTagAlreadyExists:      "ImageTagAlreadyExists",
	KindLimitExceeded:              "LimitExceeded",
	KindUnsupported:                "Unsupported",
	KindTryAgain:                   "TryAgain",
	KindDenied:                     "Denied",
	KindUnauthorized:               "Unauthorized",
	KindTooManyRequests:            "TooManyRequests",
	KindInvalidParameter:           "InvalidParameter",
	KindInvalidTagParameter:        "InvalidTagParameter",
	KindTooManyTags:                "TooManyTags",
	KindManifestChildUnknown:       "ManifestChildUnknown",
	KindImageAlreadyExists:         "ImageAlreadyExists",
	KindLayerPartTooSmall:          "LayerPartTooSmall",
	KindEmptyUpload:                "EmptyUpload",
	KindLayerAlreadyExists:         "LayerAlreadyExists",
	KindRepositoryPolicyNotFound:   "RepositoryPolicyNotFound",
	KindRegistryPolicyNotFound:     "RegistryPolicyNotFound",
	KindLifecyclePolicyNotFound:    "LifecyclePolicyNotFound",
	KindLifecyclePreviewNotFound:   "LifecyclePreviewNotFound",
	KindLifecyclePreviewInProgress: "LifecyclePreviewInProgress",
	KindManifestDigestMismatch:     "ManifestDigestMismatch",
	KindTagDigestMismatch:          "TagDigestMismatch",
	KindStorageFull:                "StorageFull",
	KindBodyUnreadable:             "BodyUnreadable",
	KindThrottled:                  "Throttled",
	KindScanNotFound:               "ScanNotFound",
	KindExclusionExists:            "ExclusionExists",
	KindExclusionNotFound:          "ExclusionNotFound",

	KindSigningConfigurationNotFound: "SigningConfigurationNotFound",
	KindValidation:                   "Validation",
	KindTemplateExists:               "TemplateExists",
	KindTemplateNotFound:             "TemplateNotFound",
	KindPullThroughCacheRuleExists:   "PullThroughCacheRuleExists",
	KindPullThroughCacheRuleNotFound: "PullThroughCacheRuleNotFound",
	KindUnsupportedUpstream:          "UnsupportedUpstream",
	KindSecretNotFound:               "SecretNotFound",
	KindSecretInaccessible:           "SecretInaccessible",
	KindSecretUndecryptable:          "SecretUndecryptable",
	KindUpstreamFailed:               "UpstreamFailed",
}

// String is the kind's name, such as "RepositoryNotFound".
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Error is a domain error: a kind for the adapters and a message for people.
type Error struct {
	Kind    Kind
	Message string
	Fields  Fields
	Err     error // the underlying failure of an internal or storage error, for logs
}

// Fields are the facts of an error that protocols answer as values rather than in words: the registry
// API's error detail, the members of ECR's error shapes. Each adapter's table says which it shows.
type Fields struct {
	RegistryID string
	Repository string
	Digest     digest.Digest
	Tag        string
	UploadID   string
	Offset     int64         // the bytes an upload holds
	RetryAfter time.Duration // how long a throttled caller should wait
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the underlying failure.
func (e *Error) Unwrap() error { return e.Err }

// Is matches errors of the same kind, so errors.Is(err, ErrBlobUnknown) works on any blob-unknown error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Message == ""
}

// Sentinels for errors.Is.
var (
	ErrNameInvalid         = &Error{Kind: KindNameInvalid}
	ErrRepositoryNotFound  = &Error{Kind: KindRepositoryNotFound}
	ErrRepositoryExists    = &Error{Kind: KindRepositoryExists}
	ErrBlobUnknown         = &Error{Kind: KindBlobUnknown}
	ErrUploadUnknown       = &Error{Kind: KindUploadUnknown}
	ErrRangeInvalid        = &Error{Kind: KindRangeInvalid}
	ErrDigestInvalid       = &Error{Kind: KindDigestInvalid}
	ErrManifestInvalid     = &Error{Kind: KindManifestInvalid}
	ErrManifestBlobUnknown = &Error{Kind: KindManifestBlobUnknown}
	ErrManifestUnknown     = &Error{Kind: KindManifestUnknown}
	ErrImageTagExists      = &Error{Kind: KindImageTagAlreadyExists}
	ErrLimitExceeded       = &Error{Kind: KindLimitExceeded}
	ErrTryAgain            = &Error{Kind: KindTryAgain}
)

func errf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of a domain error, KindInternal for anything else.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

func repoNotFound(registryID, name string) *Error {
	e := errf(KindRepositoryNotFound, "The repository with name '%s' does not exist in the registry with id '%s'", name, registryID)
	e.Fields = Fields{RegistryID: registryID, Repository: name}
	return e
}

// BodyUnreadable is the error of a request body that could not be read: the client went away or sent a
// broken body. It is the client's failure, not Wharf's.
func BodyUnreadable(err error) error {
	return &Error{Kind: KindBodyUnreadable, Message: "the request body could not be read: " + err.Error()}
}

// readError marks an error of reading the client's bytes, as opposed to storing them.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// clientError turns a failure to read the client's bytes into BodyUnreadable; other errors pass.
func clientError(err error) error {
	var re *readError
	if errors.As(err, &re) {
		return BodyUnreadable(re.err)
	}
	return err
}
