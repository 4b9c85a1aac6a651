package aesgcm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/lightningdb/lightning/vfs"
)

// scanChunk is how much of a file the scan reads at a time.
const scanChunk = 1 << 20

// hexHeaderLen is the length of an envelope header written in hex.
const hexHeaderLen = 2 * headerLen

// scanDirs looks for envelope headers naming a key of want in every file
// under dirs (recursively), skipping the cleaned paths in skip, and returns
// the ids found. It stops early once every wanted id is found. Paths that
// vanish during the scan are skipped: a removed file needs no key.
func scanDirs(fsys vfs.FS, dirs []string, skip map[string]bool, want map[KeyID]bool) (map[KeyID]bool, error) {
	s := &scanner{fsys: fsys, skip: skip, want: want, found: map[KeyID]bool{}}
	for _, d := range dirs {
		if err := s.dir(filepath.Clean(d)); err != nil {
			return nil, err
		}
	}
	return s.found, nil
}

type scanner struct {
	fsys  vfs.FS
	skip  map[string]bool
	want  map[KeyID]bool
	found map[KeyID]bool
	buf   []byte
}

func (s *scanner) done() bool { return len(s.found) == len(s.want) }

func (s *scanner) dir(dir string) error {
	names, err := s.fsys.List(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lightning/aesgcm: scan %s: %w", dir, err)
	}
	for _, n := range names {
		if s.done() {
			return nil
		}
		p := filepath.Join(dir, n)
		if s.skip[p] {
			continue
		}
		fi, err := s.fsys.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("lightning/aesgcm: scan %s: %w", p, err)
		}
		if fi.IsDir() {
			err = s.dir(p)
		} else {
			err = s.file(p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// file scans one file in chunks; each chunk starts with the last
// hexHeaderLen-1 bytes of the previous one, so a header across a chunk
// boundary is seen whole.
func (s *scanner) file(path string) error {
	f, err := s.fsys.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lightning/aesgcm: scan %s: %w", path, err)
	}
	defer f.Close()
	if s.buf == nil {
		s.buf = make([]byte, hexHeaderLen-1+scanChunk)
	}
	const keep = hexHeaderLen - 1
	carry := 0
	for off := int64(0); !s.done(); {
		n, err := f.ReadAt(s.buf[carry:], off)
		if n > 0 {
			s.match(s.buf[:carry+n])
			off += int64(n)
			tail := min(keep, carry+n)
			copy(s.buf, s.buf[carry+n-tail:carry+n])
			carry = tail
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lightning/aesgcm: scan %s: %w", path, err)
		}
	}
	return nil
}

// match records the wanted ids of the raw and hex envelope headers in b.
func (s *scanner) match(b []byte) {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], envelopeVersion)
		if j < 0 {
			break
		}
		p := i + j
		if p+headerLen > len(b) {
			break
		}
		if id := KeyID(binary.LittleEndian.Uint32(b[p+1:])); s.want[id] {
			s.found[id] = true
		}
		i = p + 1
	}
	var raw [headerLen]byte
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("01"))
		if j < 0 {
			break
		}
		p := i + j
		if p+hexHeaderLen > len(b) {
			break
		}
		if _, err := hex.Decode(raw[:], b[p:p+hexHeaderLen]); err == nil {
			if id := KeyID(binary.LittleEndian.Uint32(raw[1:])); s.want[id] {
				s.found[id] = true
			}
		}
		i = p + 1
	}
}
