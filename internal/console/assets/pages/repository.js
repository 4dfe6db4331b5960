// The repository pages.
