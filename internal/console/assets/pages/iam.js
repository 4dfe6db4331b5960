// The iam pages.
