// The image pages.
