//go:build !linux && !darwin

package ingester

import (
	"errors"
	"fmt"
)

// diskFree is not implemented here: the free-space guard is off.
func diskFree(path string) (int64, error) {
	return 0, fmt.Errorf("reading the free space of %s: %w", path, errors.ErrUnsupported)
}
