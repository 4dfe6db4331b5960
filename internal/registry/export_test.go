package registry

// HoldPreviews keeps lifecycle previews in progress until release is called.
func HoldPreviews(s *Service) (release func()) {
	s.previewGate = make(chan struct{})
	return func() { close(s.previewGate) }
}
