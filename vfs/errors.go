package vfs

import (
	"errors"
	"fmt"
	"io/fs"
)

// The errors inside the *fs.PathError values this package makes itself
// (the OS FS mostly passes on the os package's). They are unexported: a
// caller tests for the condition with errors.Is against the fs sentinel
// that some of them wrap (fs.ErrInvalid), or not at all.
var (
	errIsDir          = errors.New("lightning/vfs: is a directory")
	errNotDir         = errors.New("lightning/vfs: not a directory")
	errNotEmpty       = errors.New("lightning/vfs: directory not empty")
	errReadOnly       = errors.New("lightning/vfs: file is open read-only")
	errTooLarge       = errors.New("lightning/vfs: offset or size too large")
	errNegativeOffset = fmt.Errorf("lightning/vfs: negative offset or size: %w", fs.ErrInvalid)
	errInvalidPath    = fmt.Errorf("lightning/vfs: path leaves the root or names it: %w", fs.ErrInvalid)
	errMoveIntoSelf   = fmt.Errorf("lightning/vfs: cannot move a directory into itself: %w", fs.ErrInvalid)
)
