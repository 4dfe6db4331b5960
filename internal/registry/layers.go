package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// The layer-part limits of ECR's upload API (ECR's service quotas). Registry-protocol chunked uploads are
// not bound by them.
const (
	MinLayerPart  = 5 << 20
	MaxLayerPart  = 10 << 20
	MaxLayerParts = 4200
	MaxLayerSize  = 52000 << 20
)

// UploadLayerPart appends one part of an ECR API layer upload: bytes first..last (inclusive) of the layer.
// Parts follow one another exactly and hold at most 10 MiB; every part but the last must hold at least
// 5 MiB, which CompleteLayerUpload checks (where ECR's model raises LayerPartTooSmallException).
func (s *Service) UploadLayerPart(ctx context.Context, registryID, name, id string, first, last int64, data []byte) (UploadState, error) {
	u, repo, release, err := s.claimUpload(ctx, registryID, name, id)
	if err != nil {
		return UploadState{}, err
	}
	defer release()
	part := func(k Kind, format string, args ...any) (UploadState, error) {
		return UploadState{}, &Error{Kind: k, Message: fmt.Sprintf(format, args...),
			Fields: Fields{RegistryID: registryID, Repository: name, UploadID: id, Offset: u.Offset}}
	}
	switch {
	case last < first || last-first+1 != int64(len(data)):
		return part(KindUploadInvalid, "The layer part covers bytes %d-%d but holds %d bytes", first, last, len(data))
	case first != u.Offset:
		return part(KindUploadInvalid, "The layer part must start at byte %d, the byte after the last one received (lastValidByteReceived %d)", u.Offset, u.Offset-1)
	case len(data) > MaxLayerPart:
		return part(KindUploadInvalid, "The layer part holds %d bytes; a part holds at most %d", len(data), MaxLayerPart)
	case u.Parts >= MaxLayerParts:
		return part(KindLimitExceeded, "The upload already has the maximum of %d layer parts", MaxLayerParts)
	case last >= MaxLayerSize:
		return part(KindLimitExceeded, "The layer would exceed the maximum layer size of %d MiB", MaxLayerSize>>20)
	}
	if err := s.appendUpload(ctx, repo, u, first, bytes.NewReader(data), ""); err != nil {
		return UploadState{}, err
	}
	return UploadState{ID: u.ID, Offset: u.Offset}, nil
}

// CompleteLayerUpload ends an ECR API layer upload as layer d. Unlike a registry-protocol upload it
// refuses an empty upload and a layer the repository already holds.
func (s *Service) CompleteLayerUpload(ctx context.Context, registryID, name, id string, d digest.Digest) (BlobInfo, error) {
	st, err := s.UploadStatus(ctx, registryID, name, id)
	if err != nil {
		return BlobInfo{}, err
	}
	if st.Offset == 0 {
		return BlobInfo{}, errf(KindEmptyUpload, "The specified layer upload does not contain any layer parts.")
	}
	if st.SmallParts > 0 {
		return BlobInfo{}, errf(KindLayerPartTooSmall, "Layer parts must be at least 5 MiB in size; %d of the upload's parts before its last are smaller", st.SmallParts)
	}
	if _, err := s.StatBlob(ctx, registryID, name, d); err == nil {
		s.CancelUpload(ctx, registryID, name, id)
		return BlobInfo{}, errf(KindLayerAlreadyExists, "The image layer already exists in the associated repository.")
	} else if !errors.Is(err, ErrBlobUnknown) {
		return BlobInfo{}, err
	}
	info, err := s.CompleteUpload(ctx, registryID, name, id, d, AppendAtEnd, nil)
	if errors.Is(err, ErrDigestInvalid) {
		return BlobInfo{}, &Error{Kind: KindDigestInvalid, Message: "The layer digest calculation performed by Amazon ECR upon receipt of the image layer does not match the digest specified."}
	}
	return info, err
}
