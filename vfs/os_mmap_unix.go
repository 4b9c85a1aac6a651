//go:build unix

package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// mmapFile maps the first size bytes of f read-only and shared: the pages
// are the page cache's, so nothing is copied.
func mmapFile(f *os.File, size int) ([]byte, func() error, error) {
	return mmapProt(f, size, unix.PROT_READ)
}

// mmapFileWritable maps the first size bytes of f read-write and shared:
// stores go to the page cache, as write calls would.
func mmapFileWritable(f *os.File, size int) ([]byte, func() error, error) {
	return mmapProt(f, size, unix.PROT_READ|unix.PROT_WRITE)
}

func mmapProt(f *os.File, size, prot int) ([]byte, func() error, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	var data []byte
	var merr error
	if err := rc.Control(func(fd uintptr) {
		data, merr = unix.Mmap(int(fd), 0, size, prot, unix.MAP_SHARED)
	}); err != nil {
		return nil, nil, err
	}
	if merr != nil {
		return nil, nil, merr
	}
	return data, func() error { return unix.Munmap(data) }, nil
}
