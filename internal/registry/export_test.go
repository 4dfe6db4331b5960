package registry

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

// HoldPreviews keeps lifecycle previews in progress until release is called.
func HoldPreviews(s *Service) (release func()) {
	s.previewGate = make(chan struct{})
	return func() { close(s.previewGate) }
}

// HoldSBOMBuild takes the one SBOM build a service runs at a time until release is called.
func HoldSBOMBuild(s *Service) (release func()) {
	s.sbomBuild <- struct{}{}
	return func() { <-s.sbomBuild }
}

// SetRematchBytes sets the bound on the inventories a batch of a re-matching holds; cleanup restores it.
func SetRematchBytes(cleanup func(func()), n int) {
	old := rematchBytes
	rematchBytes = n
	cleanup(func() { rematchBytes = old })
}

// UpstreamName is the name upstream of a repository under a pull through cache rule ("" when none applies).
func UpstreamName(s *Service, registryID, name string) (string, error) {
	var up string
	err := s.meta.View(context.Background(), func(tx store.Tx) (err error) {
		_, up, err = ruleFor(tx, registryID, name)
		return err
	})
	return up, err
}

// FetchLeaseName is the name of the lease on the fetch of a reference through a pull through cache.
func FetchLeaseName(registryID, name, ref string) string {
	return fetchLeaseName(registryID, name, ref)
}

// BlobLeaseName is the name of the lease a fetch through a pull through cache holds on a blob.
func BlobLeaseName(registryID, name string, d digest.Digest) string {
	return blobLeaseName(registryID, name, d)
}
