//go:build unix

package bench

import (
	"io/fs"
	"runtime"
	"syscall"
	"time"
)

func allocatedBytes(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return info.Size()
}

// PeakRSS returns this process's maximum resident set size in bytes, from
// getrusage(RUSAGE_SELF), or 0 when the platform does not report it.
func PeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	// Linux and the BSDs report kilobytes; macOS reports bytes.
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}

// ProcessCPU returns the user plus system CPU time this process has used,
// from getrusage(RUSAGE_SELF), or 0 when unavailable.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
