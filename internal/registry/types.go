package registry

import "github.com/wharf-dev/wharf/internal/store"

// The core's records, as the adapters see them: they reach rows only through the core.
type (
	Repository       = store.Repository
	ResourceTag      = store.ResourceTag
	LifecyclePolicy  = store.LifecyclePolicy
	LifecyclePreview = store.LifecyclePreview
	ImageScan        = store.ImageScan
	LifecycleEvent   = store.LifecycleEvent
	Expiry           = store.Expiry
)
