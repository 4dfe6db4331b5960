// The registry pages.
