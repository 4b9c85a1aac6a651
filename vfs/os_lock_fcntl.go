//go:build aix || solaris

package vfs

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive fcntl record lock on the whole of f without
// waiting, on platforms without flock. fcntl locks belong to the process:
// closing any descriptor of the file in this process releases them, so the
// lock file must not be opened elsewhere in the process while locked.
func lockFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			lerr = unix.FcntlFlock(fd, unix.F_SETLK, &lk)
			if lerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if lerr == unix.EAGAIN || lerr == unix.EACCES {
		return ErrLocked
	}
	return lerr
}
