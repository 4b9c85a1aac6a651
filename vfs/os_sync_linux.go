//go:build linux

package vfs

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// datasync flushes f's data and the metadata needed to read it back (its
// size) with fdatasync, which skips the timestamps fsync would also write.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	// Control, unlike Fd, keeps the descriptor open for the call and does
	// not switch the file to blocking mode.
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		// Control fails only when the file is closed; say so as os.File's
		// own methods do.
		return fs.ErrClosed
	}
	return serr
}
