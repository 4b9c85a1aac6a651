package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// MkdirAllDurable creates dir and any missing parents, then syncs the
// parent of every directory it created, deepest first, so that each new
// directory entry survives a crash: a directory whose own entry is lost
// takes every file in it along, however well those files were synced. A
// dir that already exists is left alone (nothing is synced).
func MkdirAllDurable(fsys FS, dir string) error {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("lightning/vfs: stat %s: %w", d, err)
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(created) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lightning/vfs: create %s: %w", dir, err)
	}
	for _, d := range created {
		if parent := filepath.Dir(d); parent != d {
			if err := fsys.SyncDir(parent); err != nil {
				return fmt.Errorf("lightning/vfs: sync %s: %w", parent, err)
			}
		}
	}
	return nil
}
