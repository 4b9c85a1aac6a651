package memory

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// Defaults and limits of Options.
const (
	// DefaultBlockSize is the default target size of a snapshot block
	// before compression.
	DefaultBlockSize = 256 << 10
	// MinBlockSize and MaxBlockSize bound Options.BlockSize.
	MinBlockSize = 4 << 10
	MaxBlockSize = 16 << 20
	// DefaultCompactBatch is the default number of droppable versions
	// removed per hold of the write lock during garbage collection.
	DefaultCompactBatch = 1024
	// MaxCompactBatch bounds Options.CompactBatch.
	MaxCompactBatch = 1 << 20
)

// Options configure an Engine. The zero value is not valid: Dir is
// required. Zero numeric fields mean their defaults.
type Options struct {
	// Dir is the directory holding the snapshot and the LOCK file. It is
	// created, with its missing parents, when it does not exist.
	Dir string
	// BlockSize is the target size of a snapshot block before compression
	// and sealing, between MinBlockSize and MaxBlockSize. A block holds at
	// least one version, so a single large version makes a larger block.
	BlockSize int
	// CompactBatch is how many droppable versions garbage collection
	// removes per hold of the write lock, at most MaxCompactBatch. Smaller
	// batches let Apply in sooner during a large collection.
	CompactBatch int
}

// EnsureDefaults fills the zero fields of o with their defaults and returns
// o.
func (o *Options) EnsureDefaults() *Options {
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.CompactBatch == 0 {
		o.CompactBatch = DefaultCompactBatch
	}
	return o
}

// Validate reports the first invalid field of o, as an error matching
// interfaces.ErrInvalidArgument. Call EnsureDefaults first: Validate does
// not treat zero fields as defaults.
func (o *Options) Validate() error {
	switch {
	case o.Dir == "":
		return fmt.Errorf("lightning/memory: options: Dir is empty: %w", interfaces.ErrInvalidArgument)
	case o.BlockSize < MinBlockSize || o.BlockSize > MaxBlockSize:
		return fmt.Errorf("lightning/memory: options: BlockSize %d is outside [%d, %d]: %w",
			o.BlockSize, MinBlockSize, MaxBlockSize, interfaces.ErrInvalidArgument)
	case o.CompactBatch < 1 || o.CompactBatch > MaxCompactBatch:
		return fmt.Errorf("lightning/memory: options: CompactBatch %d is outside [1, %d]: %w",
			o.CompactBatch, MaxCompactBatch, interfaces.ErrInvalidArgument)
	}
	return nil
}

// Deps are the engine's collaborators. A nil field means its default.
type Deps struct {
	// FS is the file system holding Dir; vfs.Default when nil.
	FS vfs.FS
	// Cipher, when set, seals every snapshot block. A snapshot written
	// with a cipher cannot be opened without one, and one written without
	// a cipher is refused when a cipher is configured (see doc.go).
	Cipher interfaces.Cipher
	// Codec, when set, compresses snapshot blocks; nil writes them
	// uncompressed.
	Codec interfaces.Codec
	// Codecs are the codecs available for reading blocks written with
	// another codec than Codec (Codec itself is always available, and
	// uncompressed blocks need none). Two codecs with one ID and different
	// names are an error.
	Codecs []interfaces.Codec
	// Logger receives the engine's rare log lines (open, GC, flush
	// failures); discarded when nil.
	Logger *slog.Logger
}

// withDefaults returns d with its nil fields set to their defaults.
func (d Deps) withDefaults() Deps {
	if d.FS == nil {
		d.FS = vfs.Default
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return d
}

// codecMap indexes the codecs of d by ID.
func (d Deps) codecMap() (map[interfaces.CodecID]interfaces.Codec, error) {
	m := make(map[interfaces.CodecID]interfaces.Codec, len(d.Codecs)+1)
	add := func(c interfaces.Codec) error {
		if c == nil {
			return nil
		}
		id := c.ID()
		prev, ok := m[id]
		if !ok {
			m[id] = c
			return nil
		}
		// Two instances of one format (the writing codec is usually in
		// the group as well) are fine; two formats under one ID are not.
		if p, n := prev.Describe().Name, c.Describe().Name; p != n {
			return fmt.Errorf("lightning/memory: codecs %q and %q share ID %d: %w",
				p, n, id, interfaces.ErrInvalidArgument)
		}
		return nil
	}
	if err := add(d.Codec); err != nil {
		return nil, err
	}
	for _, c := range d.Codecs {
		if err := add(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
