package bench

import (
	"fmt"
	"io/fs"
	"path/filepath"
)

// DiskUsage returns the bytes that the files under dir occupy on disk, as du
// reports them: allocated blocks where the platform exposes them (a sparse
// or preallocated file counts what it really holds), the apparent size
// elsewhere.
func DiskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += allocatedBytes(info)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bench: disk usage of %s: %w", dir, err)
	}
	return total, nil
}

// FormatBytes renders n in binary units with three significant digits
// (four from 1,000 to 1,023 of a unit): 512 B, 1.5 KiB, 68.1 MiB, 1010 MiB.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= unit
		if v < unit || u == "TiB" {
			s := fmt.Sprintf("%.0f", v)
			if v < 100 {
				s = fmt.Sprintf("%.3g", v) // %g drops trailing zeros itself
			}
			return s + " " + u
		}
	}
	return fmt.Sprintf("%d B", n)
}
