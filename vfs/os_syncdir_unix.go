//go:build !windows

package vfs

import "os"

// syncDir fsyncs the directory itself, which makes the creations, renames
// and removals of its entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}
