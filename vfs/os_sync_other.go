//go:build !linux

package vfs

import "os"

// datasync falls back to os.File.Sync where fdatasync is not available.
// On darwin that is fcntl(F_FULLFSYNC), which, unlike fsync there, reaches
// the platter.
func datasync(f *os.File) error { return f.Sync() }
