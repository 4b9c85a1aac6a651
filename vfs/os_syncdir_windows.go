//go:build windows

package vfs

import "os"

// syncDir checks that dir is a directory and does nothing more: Windows
// cannot flush a directory handle (FlushFileBuffers needs write access,
// which a directory handle cannot have), and NTFS journals its metadata,
// so a rename or create is durable with the file's own flush.
func syncDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &os.PathError{Op: "syncdir", Path: dir, Err: errNotDir}
	}
	return nil
}
