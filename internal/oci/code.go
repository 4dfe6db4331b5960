package oci

import (
	"errors"

	"github.com/wharf-dev/wharf/internal/registry"
)

// ErrorCode is the code of the distribution spec's error format that err is answered with (NAME_UNKNOWN,
// TOOMANYREQUESTS, UNKNOWN …), as writeError answers it: the outcome of a call in metrics.
func ErrorCode(err error) string {
	var oe *wireError
	var de *registry.Error
	switch {
	case errors.As(err, &oe):
		return oe.Code
	case errors.As(err, &de):
		if m, ok := wireErrors[de.Kind]; ok {
			return m.Code
		}
	}
	return "UNKNOWN"
}
