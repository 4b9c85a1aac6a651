package wal

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// Defaults and limits of Options.
const (
	// DefaultSegmentSize is the default size at which the active segment
	// is sealed and the next one started.
	DefaultSegmentSize = 64 << 20
	// MinSegmentSize bounds Options.SegmentSize from below. It is small so
	// that tests can rotate often; a real log wants megabytes.
	MinSegmentSize = 256
	// DefaultCompressThreshold is the default smallest payload that is
	// compressed.
	DefaultCompressThreshold = 4 << 10
	// maxOverhead bounds Cipher.Overhead: a cipher claiming more is
	// refused rather than trusted with the record length arithmetic.
	maxOverhead = 1 << 20
)

// Options configure a Log. Zero fields take their defaults; Dir is
// required.
type Options struct {
	// FS holds the segments; vfs.Default when nil.
	FS vfs.FS
	// Dir is the directory of the segments. Open creates it, and its
	// missing parents, durably.
	Dir string
	// SegmentSize is the size, header included, past which the active
	// segment is not extended: a group that would push it further goes to
	// a new segment. A group larger than SegmentSize gets a segment of its
	// own. Default DefaultSegmentSize; at least MinSegmentSize.
	SegmentSize int64
	// Codec compresses record payloads of at least CompressThreshold
	// bytes; a compressed form is kept only when it is smaller. Nil (or the
	// none codec) never compresses.
	Codec interfaces.Codec
	// CompressThreshold is the smallest payload, in bytes, that Codec
	// compresses; default DefaultCompressThreshold.
	CompressThreshold int
	// Codecs are the codecs available for reading records written with a
	// codec other than Codec (Codec itself is always available, and
	// uncompressed records need none). Two codecs with one ID and
	// different names are an error.
	Codecs []interfaces.Codec
	// Cipher seals every record body; nil writes plaintext. A log written
	// with a cipher does not replay without one, and a plaintext log does
	// not replay with one, so a plaintext segment can never stand in for
	// an encrypted one.
	Cipher interfaces.Cipher
	// Preallocate, when above 0, keeps the active segment's file written
	// with zeros at least this many bytes past its last record (never past
	// SegmentSize), extending it by this much at a time. A sync then
	// overwrites blocks the file system has already allocated, so it
	// flushes data alone instead of also committing a size change to the
	// file system's journal: on ext4 an fdatasync after an append costs
	// about 1.4 times one after an overwrite. The zeros cost a write of
	// Preallocate bytes per Preallocate bytes of records, so it pays only
	// where syncs are frequent. A crash leaves the zeros as a torn tail,
	// which Replay cuts; rotation and Close truncate them first. 0: off.
	Preallocate int64
	// MapWrites, when the FS implements vfs.WriteMapper, sizes each new
	// segment's file to SegmentSize up front (a sparse file: no blocks are
	// written) and stores records with a copy into a shared mapping of it
	// instead of a write call each. A store reaches the page cache as a
	// write call's bytes do, so it survives the process being killed; the
	// saving is the system call, about 0.6 µs a commit, which is most of
	// what an unsynced commit costs beyond its engine insert. The unused
	// end is a torn tail after a crash, and truncated at rotation and
	// Close, as Preallocate's zeros are. Where the FS cannot map, or a
	// mapping fails, records are written with write calls. It leaves
	// syncs as they are (an fdatasync covers stores through the mapping),
	// so it suits logs that sync rarely; Preallocate suits those that
	// sync often.
	MapWrites bool
	// SyncRotatedInBackground makes rotation sync the full segment on a
	// goroutine instead of in the WriteGroup that rotates: the next
	// segment is created (its header synced, marked unconfirmed) and
	// takes records at once, and its header is confirmed once the
	// previous segment is synced. A crash in between leaves the previous
	// segment possibly unsynced, which Replay allows for while the last
	// header is unconfirmed (see the package documentation). Sync, Close,
	// Release and Check wait for a running background sync first. With
	// it, a writer that syncs rarely does not wait for a whole segment to
	// reach the disk at each rotation (18 ms for 64 MiB here). A writer
	// that syncs every group gains nothing: its segment is synced already.
	SyncRotatedInBackground bool
	// ArchiveDir, when set, receives released segments (renamed into it)
	// instead of their being deleted, for point-in-time recovery. It must
	// be on the same file system as Dir, and differ from it. Open creates
	// it durably.
	ArchiveDir string
	// Logger receives the log's rare lines: rotations at debug level,
	// recovery cuts at warn and error. Discarded when nil.
	Logger *slog.Logger
}

// EnsureDefaults fills the zero fields of o with their defaults and returns
// o.
func (o *Options) EnsureDefaults() *Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.CompressThreshold == 0 {
		o.CompressThreshold = DefaultCompressThreshold
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Validate reports the first invalid field of o, as an error matching
// interfaces.ErrInvalidArgument. Call EnsureDefaults first: Validate does
// not treat zero fields as defaults.
func (o *Options) Validate() error {
	switch {
	case o.Dir == "":
		return fmt.Errorf("lightning/wal: options: Dir is empty: %w", interfaces.ErrInvalidArgument)
	case o.FS == nil:
		return fmt.Errorf("lightning/wal: options: FS is nil: %w", interfaces.ErrInvalidArgument)
	case o.SegmentSize < MinSegmentSize:
		return fmt.Errorf("lightning/wal: options: SegmentSize %d is below %d: %w",
			o.SegmentSize, MinSegmentSize, interfaces.ErrInvalidArgument)
	case o.CompressThreshold < 1:
		return fmt.Errorf("lightning/wal: options: CompressThreshold %d is below 1: %w",
			o.CompressThreshold, interfaces.ErrInvalidArgument)
	case o.Preallocate < 0:
		return fmt.Errorf("lightning/wal: options: Preallocate %d is negative: %w", o.Preallocate, interfaces.ErrInvalidArgument)
	case o.ArchiveDir != "" && filepath.Clean(o.ArchiveDir) == filepath.Clean(o.Dir):
		return fmt.Errorf("lightning/wal: options: ArchiveDir is Dir: %w", interfaces.ErrInvalidArgument)
	case o.Logger == nil:
		return fmt.Errorf("lightning/wal: options: Logger is nil: %w", interfaces.ErrInvalidArgument)
	}
	if o.Cipher != nil {
		if n := o.Cipher.Overhead(); n < 0 || n > maxOverhead {
			return fmt.Errorf("lightning/wal: options: cipher overhead %d is outside [0, %d]: %w",
				n, maxOverhead, interfaces.ErrInvalidArgument)
		}
	}
	_, err := o.codecMap()
	return err
}

// writeCodec returns the codec to compress with, or nil when none.
func (o *Options) writeCodec() interfaces.Codec {
	if o.Codec == nil || o.Codec.ID() == interfaces.CodecNone {
		return nil
	}
	return o.Codec
}

// codecMap indexes the codecs of o by ID. The none codec is built in and
// never looked up.
func (o *Options) codecMap() (map[interfaces.CodecID]interfaces.Codec, error) {
	m := make(map[interfaces.CodecID]interfaces.Codec, len(o.Codecs)+1)
	add := func(c interfaces.Codec) error {
		if c == nil || c.ID() == interfaces.CodecNone {
			return nil
		}
		id := c.ID()
		prev, ok := m[id]
		if !ok {
			m[id] = c
			return nil
		}
		// Two instances of one format (the writing codec is usually among
		// the readers as well) are fine; two formats under one ID are not.
		if p, n := prev.Describe().Name, c.Describe().Name; p != n {
			return fmt.Errorf("lightning/wal: options: codecs %q and %q share ID %d: %w",
				p, n, id, interfaces.ErrInvalidArgument)
		}
		return nil
	}
	if err := add(o.Codec); err != nil {
		return nil, err
	}
	for _, c := range o.Codecs {
		if err := add(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
