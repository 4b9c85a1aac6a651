//go:build !unix

package vfs

import (
	"errors"
	"fmt"
	"os"
)

// mmapFile is not available here; callers read with ReadAt instead.
func mmapFile(*os.File, int) ([]byte, func() error, error) {
	return nil, nil, fmt.Errorf("lightning/vfs: mmap on this platform: %w", errors.ErrUnsupported)
}

// mmapFileWritable is not available here; callers write with WriteAt.
func mmapFileWritable(*os.File, int) ([]byte, func() error, error) {
	return nil, nil, fmt.Errorf("lightning/vfs: mmap on this platform: %w", errors.ErrUnsupported)
}
