package vulndb

// SetMaxFindings sets the bound on an inventory's findings; cleanup (a test's t.Cleanup) restores it.
func SetMaxFindings(cleanup func(func()), n int) {
	old := maxFindings
	maxFindings = n
	cleanup(func() { maxFindings = old })
}
