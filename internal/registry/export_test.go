package registry

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
