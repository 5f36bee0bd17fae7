//go:build linux || darwin

package ingester

import (
	"fmt"
	"syscall"
)

// diskFree returns the bytes available to this process on the filesystem
// holding path.
func diskFree(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("reading the free space of %s: %w", path, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil //nolint:unconvert // Bsize is uint32 on darwin.
}
