//go:build linux

package vfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// populateWrite prefaults data's pages writable in one system call.
func populateWrite(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if err := unix.Madvise(data, unix.MADV_POPULATE_WRITE); err != nil {
		return fmt.Errorf("lightning/vfs: populate %d mapped bytes: %w", len(data), err)
	}
	return nil
}
