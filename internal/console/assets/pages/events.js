// The events pages.
