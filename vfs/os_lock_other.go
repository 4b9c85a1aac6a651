//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || aix || solaris || windows)

package vfs

import "os"

// lockFile does nothing on platforms with no file locks (plan9, js,
// wasip1): the FS's in-process set still keeps two Locks of one path in
// one process apart, but another process is not excluded.
func lockFile(*os.File) error { return nil }
