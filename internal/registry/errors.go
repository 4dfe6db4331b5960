package registry

import (
	"errors"
	"fmt"
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
)

// Error is a domain error: a kind for the adapters and a message for people.
type Error struct {
	Kind    Kind
	Message string
	Detail  any // optional structured detail (for example the missing digest)
}

func (e *Error) Error() string { return e.Message }

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
	return errf(KindRepositoryNotFound, "The repository with name '%s' does not exist in the registry with id '%s'", name, registryID)
}
