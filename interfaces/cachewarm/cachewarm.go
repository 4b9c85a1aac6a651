package cachewarm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"

	"github.com/lightningdb/lightning/interfaces"
)

// The hot-key file (format in doc.go).
const (
	// Magic opens every hot-key file.
	Magic = "LTNGHOTK"
	// Version is the format version written.
	Version = 1
	// MaxKeys bounds the keys of one file (96 MiB of keys), so that a
	// damaged count never makes a reader allocate more.
	MaxKeys = 1 << 22

	headerLen  = 16
	trailerLen = 4
	keyLen     = 24
	maxFileLen = headerLen + keyLen*MaxKeys + trailerLen
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// File is the part of an open file that Write and Load use. vfs.File
// satisfies it.
type File interface {
	io.Writer
	io.ReaderAt
	io.Closer
	// Sync makes the file's data durable.
	Sync() error
	// Size returns the file's current size.
	Size() (int64, error)
}

// FS is the part of a file system that Write, Load and Save use, with the
// meaning vfs.FS gives each method. It is generic in the file type F so
// that vfs.FS, whose Create and Open return vfs.File, is an FS[vfs.File]
// as it is; F is inferred at the call.
type FS[F File] interface {
	// Create creates name, or truncates it, for writing.
	Create(name string) (F, error)
	// Open opens name for reading. A missing name is an error matching
	// fs.ErrNotExist.
	Open(name string) (F, error)
	// Rename renames oldname to newname, atomically replacing newname.
	Rename(oldname, newname string) error
	// Remove removes a file.
	Remove(name string) error
	// SyncDir makes the creations, renames and removals in dir durable.
	SyncDir(dir string) error
}

// Append appends the hot-key file holding keys, in their order, to dst.
// More than MaxKeys keys is an error matching
// interfaces.ErrInvalidArgument.
func Append(dst []byte, keys []interfaces.CacheKey) ([]byte, error) {
	if len(keys) > MaxKeys {
		return dst, fmt.Errorf("lightning/cachewarm: %d hot keys, more than %d: %w", len(keys), MaxKeys, interfaces.ErrInvalidArgument)
	}
	start := len(dst)
	dst = append(dst, Magic...)
	dst = binary.LittleEndian.AppendUint16(dst, Version)
	dst = binary.LittleEndian.AppendUint16(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(keys)))
	for _, k := range keys {
		dst = binary.LittleEndian.AppendUint64(dst, k.Namespace)
		dst = binary.LittleEndian.AppendUint64(dst, k.File)
		dst = binary.LittleEndian.AppendUint64(dst, k.Offset)
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable)), nil
}

// Decode decodes a hot-key file held in data. Damage is a
// *interfaces.CorruptionError (with no file name); a file of another
// format version is an error matching interfaces.ErrIncompatible. On error
// the keys are nil.
func Decode(data []byte) ([]interfaces.CacheKey, error) {
	return decode(data, "")
}

func decode(data []byte, name string) ([]interfaces.CacheKey, error) {
	if len(data) < headerLen+trailerLen {
		return nil, interfaces.Corruptf(name, 0, "hot-key file truncated: %d bytes", len(data))
	}
	if string(data[:len(Magic)]) != Magic {
		return nil, interfaces.Corruptf(name, 0, "not a hot-key file: magic %q", data[:len(Magic)])
	}
	body := len(data) - trailerLen
	if got, want := crc32.Checksum(data[:body], crcTable), binary.LittleEndian.Uint32(data[body:]); got != want {
		return nil, interfaces.Corruptf(name, int64(body), "hot-key file checksum mismatch: computed %#08x, stored %#08x", got, want)
	}
	// The checksum holds, so these fields are what a writer wrote.
	if v := binary.LittleEndian.Uint16(data[8:]); v != Version {
		what := "hot-key file"
		if name != "" {
			what += " " + name
		}
		return nil, fmt.Errorf("lightning/cachewarm: %s: format version %d, want %d: %w", what, v, Version, interfaces.ErrIncompatible)
	}
	if r := binary.LittleEndian.Uint16(data[10:]); r != 0 {
		return nil, interfaces.Corruptf(name, 10, "hot-key file reserved field %#04x, want 0", r)
	}
	n := binary.LittleEndian.Uint32(data[12:])
	if n > MaxKeys || int64(body-headerLen) != int64(n)*keyLen {
		return nil, interfaces.Corruptf(name, 12, "hot-key file of %d bytes cannot hold %d keys", len(data), n)
	}
	keys := make([]interfaces.CacheKey, n)
	for i := range keys {
		b := data[headerLen+i*keyLen:]
		keys[i] = interfaces.CacheKey{
			Namespace: binary.LittleEndian.Uint64(b[0:]),
			File:      binary.LittleEndian.Uint64(b[8:]),
			Offset:    binary.LittleEndian.Uint64(b[16:]),
		}
	}
	return keys, nil
}

// Write writes keys to the file name on fs, atomically: it writes and
// syncs name+".tmp", renames it over name and syncs the directory, so a
// crash leaves the old file or the new one, whole. On an error before the
// rename, the old file is untouched and the temporary file removed.
func Write[F File](fs FS[F], name string, keys []interfaces.CacheKey) (err error) {
	data, err := Append(nil, keys)
	if err != nil {
		return err
	}
	tmp := name + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("lightning/cachewarm: write hot keys: %w", err)
	}
	defer func() {
		if err != nil {
			_ = fs.Remove(tmp) // best effort: the error says what failed
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, name)
	}
	if err != nil {
		return fmt.Errorf("lightning/cachewarm: write hot keys %s: %w", name, err)
	}
	if err := fs.SyncDir(filepath.Dir(name)); err != nil {
		// The new file is in place and whole; only its name may not be
		// durable yet, which loses nothing but a warm start.
		return fmt.Errorf("lightning/cachewarm: write hot keys %s: sync directory: %w", name, err)
	}
	return nil
}

// Load reads the hot-key file name from fs and returns its keys, hottest
// first, with the namespace they were saved under. A missing file is an
// error matching fs.ErrNotExist (nothing to warm); damage is a
// *interfaces.CorruptionError naming the file; another format version
// matches interfaces.ErrIncompatible.
func Load[F File](fs FS[F], name string) ([]interfaces.CacheKey, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, fmt.Errorf("lightning/cachewarm: load hot keys: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("lightning/cachewarm: load hot keys %s: %w", name, err)
	}
	if size > maxFileLen {
		return nil, interfaces.Corruptf(name, 0, "hot-key file of %d bytes is larger than %d keys", size, MaxKeys)
	}
	data := make([]byte, size)
	if n, err := f.ReadAt(data, 0); n < len(data) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the file shrank under us
		}
		return nil, fmt.Errorf("lightning/cachewarm: load hot keys %s: %w", name, err)
	}
	return decode(data, name)
}

// Save writes up to limit (at most MaxKeys) of c's hot keys in namespace
// to the file name on fs, as Write does; a limit of 0 or below writes a
// file of no keys. Keys outside namespace or past limit, which a
// conforming cache never returns, are dropped, so the file holds one
// namespace. It fails with an error matching interfaces.ErrUnsupported
// when c does not claim interfaces.CapHotKeys, and interfaces.ErrClosed
// when c is closed; the old file is then untouched.
func Save[F File](fs FS[F], name string, c interfaces.Cache, namespace uint64, limit int) error {
	limit = min(max(limit, 0), MaxKeys)
	keys, err := c.HotKeys(namespace, limit)
	if err != nil {
		return fmt.Errorf("lightning/cachewarm: save hot keys: %w", err)
	}
	kept := keys[:0]
	for _, k := range keys {
		if k.Namespace == namespace && len(kept) < limit {
			kept = append(kept, k)
		}
	}
	return Write(fs, name, kept)
}
