package inventory

// SetMaxPackages sets the bound on an image's packages; cleanup (a test's t.Cleanup) restores it.
func SetMaxPackages(cleanup func(func()), n int) {
	old := maxPackages
	maxPackages = n
	cleanup(func() { maxPackages = old })
}
