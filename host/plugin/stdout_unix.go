//go:build unix

package plugin

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightning/host/internal/wire"
)

// realStdout is the process's original standard output, kept for the
// handshake line alone; nil when the binary is not running as a plugin.
var realStdout *os.File

// init diverts file descriptor 1 to standard error as soon as this
// package is initialised (before the plugin author's package main), so
// that nothing printed before or besides the handshake reaches the host's
// handshake reader: not fmt.Println, not a cgo library, not a child
// process that inherits descriptor 1.
func init() {
	if os.Getenv(wire.Handshake.MagicCookieKey) != wire.Handshake.MagicCookieValue {
		return
	}
	fd, err := unix.Dup(1)
	if err != nil {
		return
	}
	unix.CloseOnExec(fd)
	if err := unix.Dup2(2, 1); err != nil {
		_ = unix.Close(fd)
		return
	}
	realStdout = os.NewFile(uintptr(fd), "/dev/stdout (plugin handshake)")
	// realStderr stays os.Stderr: descriptor 2 is untouched.
}
