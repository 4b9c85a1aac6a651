//go:build !linux

package vfs

import (
	"errors"
	"fmt"
)

// populateWrite is not available here: stores fault their pages in.
func populateWrite([]byte) error {
	return fmt.Errorf("lightning/vfs: populating mapped pages on this platform: %w", errors.ErrUnsupported)
}
