package imagefs

// SetLimits sets the bounds of a walk; cleanup (a test's t.Cleanup) restores them.
func SetLimits(cleanup func(func()), expansionFloor, expansion, pathBytes int64) {
	oldFloor, oldExp, oldPaths := minExpansion, maxExpansion, maxPathBytes
	minExpansion, maxExpansion, maxPathBytes = expansionFloor, expansion, pathBytes
	cleanup(func() { minExpansion, maxExpansion, maxPathBytes = oldFloor, oldExp, oldPaths })
}
