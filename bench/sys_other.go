//go:build !unix

package bench

import (
	"io/fs"
	"time"
)

func allocatedBytes(info fs.FileInfo) int64 { return info.Size() }

// PeakRSS returns 0: this platform has no getrusage.
func PeakRSS() int64 { return 0 }

// ProcessCPU returns 0: this platform has no getrusage.
func ProcessCPU() time.Duration { return 0 }
