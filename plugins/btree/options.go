package btree

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
	"github.com/lightningdb/lightning/vfs"
)

// Defaults and limits of Options.
const (
	// DefaultPageSize is the page size of a new file.
	DefaultPageSize = page.DefaultPageSize
	// MinPageSize and MaxPageSize bound Options.PageSize, a power of two.
	MinPageSize = page.MinPageSize
	MaxPageSize = page.MaxPageSize

	// DefaultWriteBufferSize is the default size of a write buffer. A
	// flush under random keys rewrites nearly every leaf, so its cost
	// follows the size of the tree, not of the buffer: a large buffer
	// (about half a million small versions) makes fewer of them. With
	// DefaultMaxFrozenBuffers, buffered writes may take about three times
	// this much memory.
	DefaultWriteBufferSize = 128 << 20
	// MinWriteBufferSize bounds Options.WriteBufferSize from below.
	MinWriteBufferSize = 64 << 10

	// DefaultMaxFrozenBuffers is the default number of full write buffers
	// that may wait for a flush before Apply blocks.
	DefaultMaxFrozenBuffers = 2
	// MaxMaxFrozenBuffers bounds Options.MaxFrozenBuffers.
	MaxMaxFrozenBuffers = 16

	// DefaultCacheSize is the size of the private page cache made when
	// Deps.Cache is nil.
	DefaultCacheSize = 32 << 20

	// DefaultCompactBatch is the default number of versions one garbage
	// collection transaction of Compact drops.
	DefaultCompactBatch = 64 << 10
	// MaxCompactBatch bounds Options.CompactBatch.
	MaxCompactBatch = 1 << 24

	// DefaultShrinkRatio is the default share of reusable pages at which a
	// flush moves pages down and truncates the file.
	DefaultShrinkRatio = 0.25
)

// Options configure an Engine. The zero value is not valid: Dir is
// required. Zero fields mean their defaults.
type Options struct {
	// Dir is the directory holding the data file and the LOCK file. It is
	// created, with its missing parents, when it does not exist.
	Dir string
	// PageSize is the page size of a new file: a power of two between
	// MinPageSize and MaxPageSize. A file keeps the page size it was
	// created with; PageSize does not apply to an existing one.
	PageSize int
	// WriteBufferSize is the size in bytes at which the write buffer is
	// frozen and flushed in the background.
	WriteBufferSize int64
	// MaxFrozenBuffers is how many frozen write buffers may wait for a
	// flush; an Apply that would freeze one more waits for the flush.
	// Memory for buffered writes stays within about
	// (MaxFrozenBuffers+1) × WriteBufferSize.
	MaxFrozenBuffers int
	// CacheSize is the capacity of the private page cache the engine makes
	// when Deps.Cache is nil; a negative CacheSize makes none (every page
	// read then goes to the file or the memory map).
	CacheSize int64
	// CompactBatch is how many versions one garbage collection transaction
	// of Compact drops, at most MaxCompactBatch. A transaction always takes
	// every droppable version of a user key at once.
	CompactBatch int
	// ShrinkRatio is the share of the file's pages that must be reusable
	// before a flush moves pages from the end of the file down and
	// truncates it (Compact always does). Between 0 and 1; 1 shrinks only
	// in Compact.
	ShrinkRatio float64
	// DisableMMap turns off the memory-mapped read path. By default, when
	// no Cipher is configured and the file system implements vfs.Mapper,
	// pages are read from a read-only shared mapping of the file, and
	// uncompressed pages are searched in place without a copy.
	DisableMMap bool
}

// EnsureDefaults fills the zero fields of o with their defaults and returns
// o.
func (o *Options) EnsureDefaults() *Options {
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.WriteBufferSize == 0 {
		o.WriteBufferSize = DefaultWriteBufferSize
	}
	if o.MaxFrozenBuffers == 0 {
		o.MaxFrozenBuffers = DefaultMaxFrozenBuffers
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.CompactBatch == 0 {
		o.CompactBatch = DefaultCompactBatch
	}
	if o.ShrinkRatio == 0 {
		o.ShrinkRatio = DefaultShrinkRatio
	}
	return o
}

// Validate reports the first invalid field of o, as an error matching
// interfaces.ErrInvalidArgument. Call EnsureDefaults first: Validate does
// not treat zero fields as defaults.
func (o *Options) Validate() error {
	var why string
	switch {
	case o.Dir == "":
		why = "Dir is empty"
	case !page.ValidPageSize(o.PageSize):
		why = fmt.Sprintf("PageSize %d is not a power of two in [%d, %d]", o.PageSize, MinPageSize, MaxPageSize)
	case o.WriteBufferSize < MinWriteBufferSize:
		why = fmt.Sprintf("WriteBufferSize %d is below %d", o.WriteBufferSize, MinWriteBufferSize)
	case o.MaxFrozenBuffers < 1 || o.MaxFrozenBuffers > MaxMaxFrozenBuffers:
		why = fmt.Sprintf("MaxFrozenBuffers %d is outside [1, %d]", o.MaxFrozenBuffers, MaxMaxFrozenBuffers)
	case o.CompactBatch < 1 || o.CompactBatch > MaxCompactBatch:
		why = fmt.Sprintf("CompactBatch %d is outside [1, %d]", o.CompactBatch, MaxCompactBatch)
	case !(o.ShrinkRatio > 0 && o.ShrinkRatio <= 1):
		why = fmt.Sprintf("ShrinkRatio %v is outside (0, 1]", o.ShrinkRatio)
	default:
		return nil
	}
	return fmt.Errorf("lightning/btree: options: %s: %w", why, interfaces.ErrInvalidArgument)
}

// Deps are the engine's collaborators. A nil field means its default.
type Deps struct {
	// FS is the file system holding Dir; vfs.Default when nil.
	FS vfs.FS
	// Cache holds decoded pages, shared with whoever else uses it. The
	// engine draws a random namespace in it each time it opens. When nil,
	// the engine makes a private cache of Options.CacheSize bytes.
	Cache interfaces.Cache
	// Codec compresses leaf pages written from now on; nil writes them
	// uncompressed. Compression lets a leaf hold more versions than its
	// page size (see doc.go).
	Codec interfaces.Codec
	// Codecs are the codecs available for reading pages written with
	// another codec than Codec. Two codecs with one ID and different names
	// are an error.
	Codecs []interfaces.Codec
	// Cipher, when set, seals every page but the two meta pages. A file
	// written with a cipher cannot be opened without one, nor one written
	// without a cipher with one.
	Cipher interfaces.Cipher
	// Logger receives the engine's rare log lines (open, flush failures,
	// shrinking); discarded when nil.
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
		if p, n := prev.Describe().Name, c.Describe().Name; p != n {
			return fmt.Errorf("lightning/btree: codecs %q and %q share ID %d: %w", p, n, id, interfaces.ErrInvalidArgument)
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
