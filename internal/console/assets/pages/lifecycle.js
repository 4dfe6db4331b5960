// The lifecycle pages.
