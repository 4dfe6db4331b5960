// The policies pages.
