// The usage pages.
