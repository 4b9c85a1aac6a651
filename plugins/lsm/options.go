package lsm

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/arenaskl"
	"github.com/lightningdb/lightning/plugins/lsm/internal/sstable"
	"github.com/lightningdb/lightning/vfs"
)

// NumLevels is the number of levels of the tree: L0, where flushed
// memtables land, and L1 to L6.
const NumLevels = 7

// Defaults of Options, measured on a two-core machine where the writer and
// background work share the CPU (fillrandom of 16-byte keys and 100-byte
// values through the core, against Pebble in the same run):
//
//   - A skiplist insert costs a cache miss per level, so its cost grows
//     with the memtable: a random insert took about 0.5 µs in a 4 MiB
//     arena, 1 µs at 16 MiB and 3.5-5 µs at 64 MiB. Since batches are
//     inserted in key order (one descent per run of nearby keys), 4 MiB
//     memtables fill fastest: 0.97M keys/s against 0.86M at 16 MiB in
//     alternating runs of a 1M-key batched fill, for 5% more CPU in
//     flushes and compactions. Pebble and goleveldb use 4 MiB too.
//   - Flushes that overlap other tables write L0 tables uncompressed
//     (Options.CompressL0): such a table lives until the next L0
//     compaction, which reads it once, so compressing it cost a snappy
//     encode and a decode for nothing that lasts; it was a sixth of the
//     CPU of a single-Put fill.
//   - L0 compacts at 8 tables (32 MiB). With random keys every L0
//     compaction rewrites all of L1, so the bytes compacted during a fill
//     fall as the trigger rises: 1M single Puts wrote 139 MB of
//     compaction output at 4 tables and 82 MB at 8, and the fill's CPU
//     per key fell a fifth with the change above (2.50 to 2.00 µs,
//     alternating runs of bench/cmd/compare). A point read checks at most
//     one Bloom filter per L0 table, so a deeper L0 costs reads little.
//   - L1 targets 64 MiB, as Pebble's LBaseMaxBytes does, and each level
//     ten times the one above.
const (
	DefaultMemtableSize          = 4 << 20
	DefaultMaxImmutableMemtables = 2
	DefaultL0CompactionTrigger   = 8
	DefaultL0StopWritesTrigger   = 20
	DefaultBaseLevelBytes        = 64 << 20
	DefaultLevelMultiplier       = 10
	DefaultTargetFileSize        = 8 << 20
	DefaultBlockSize             = sstable.DefaultBlockSize
	DefaultBloomBitsPerKey       = sstable.DefaultBloomBitsPerKey
	DefaultCompactionConcurrency = 1
	DefaultTableCacheSize        = 1000
	DefaultMaxManifestSize       = 4 << 20
)

// Limits of Options.
const (
	// MinMemtableSize and MaxMemtableSize bound Options.MemtableSize. The
	// upper bound is the arena's: offsets inside a memtable are 32-bit.
	MinMemtableSize = 64 << 10
	MaxMemtableSize = 1 << 30
	// MinTargetFileSize bounds Options.TargetFileSize from below.
	MinTargetFileSize = 16 << 10
	// MaxCompactionConcurrency bounds Options.CompactionConcurrency.
	MaxCompactionConcurrency = 64
	// MinTableCacheSize bounds Options.TableCacheSize from below: a
	// compaction holds a table of each input level open at once.
	MinTableCacheSize = 16
	// MinManifestSize bounds Options.MaxManifestSize from below.
	MinManifestSize = 1 << 10
)

// Options configure an Engine. The zero value is not valid: Dir is
// required. Zero fields mean their defaults.
type Options struct {
	// Dir is the directory holding the engine's files. It is created,
	// with its missing parents, when it does not exist.
	Dir string

	// MemtableSize is the size of a memtable's arena in bytes. A memtable
	// that fills up becomes immutable and is flushed to an L0 table in the
	// background. The first memtables of an engine are smaller (they
	// double from 1/16 of this size), so a small database does not pay for
	// a large arena. An Apply larger than a memtable gets a memtable of its
	// own, sized to fit.
	MemtableSize int
	// MaxImmutableMemtables is how many full memtables may wait for their
	// flush before Apply stalls (blocks until one is flushed), which bounds
	// memory at about (MaxImmutableMemtables+1) * MemtableSize.
	MaxImmutableMemtables int
	// CompressL0 writes every flushed (L0) table with the codec. By
	// default a flush whose keys overlap a table of L0 or L1 is stored
	// uncompressed, since the L0 compaction that follows soon reads it once
	// and writes compressed tables, and such a table is never moved down
	// whole, only rewritten; a flush that overlaps nothing is compressed
	// and may move. Set it where disk space matters more than CPU: L0
	// holds up to L0StopWritesTrigger tables.
	CompressL0 bool
	// L0CompactionTrigger is the number of L0 tables at which a
	// compaction into the base level starts.
	L0CompactionTrigger int
	// L0StopWritesTrigger is the number of L0 tables at which Apply stalls
	// (at its next memtable rotation) until compaction catches up. It must
	// exceed L0CompactionTrigger.
	L0StopWritesTrigger int
	// BaseLevelBytes is the target size of L1; level n+1 targets
	// LevelMultiplier times level n. A level past its target is compacted
	// into the next.
	BaseLevelBytes int64
	// LevelMultiplier is the growth factor between levels, at least 2.
	LevelMultiplier int
	// TargetFileSize is the size at which a compaction starts a new output
	// table. Tables are cut only between user keys, so every version of a
	// key lives in one table of a level.
	TargetFileSize int64

	// BlockSize is the target size of a table's data block before
	// compression, as sstable.WriterOptions.BlockSize.
	BlockSize int
	// BloomBitsPerKey is the density of each table's Bloom filter; a
	// negative value writes tables without filters.
	BloomBitsPerKey int

	// CompactionConcurrency is the number of background compactions that
	// may run at once.
	CompactionConcurrency int
	// DisableAutoCompactions turns background compactions off: tables
	// move down only through Compact. Flushes still run in the
	// background. For tests and bulk loads.
	DisableAutoCompactions bool
	// TableCacheSize bounds the number of table files held open.
	TableCacheSize int
	// MaxManifestSize is the manifest size past which the next version
	// edit starts a new manifest holding a snapshot of the whole version.
	MaxManifestSize int64
}

// EnsureDefaults fills the zero fields of o with their defaults and returns
// o.
func (o *Options) EnsureDefaults() *Options {
	if o.MemtableSize == 0 {
		o.MemtableSize = DefaultMemtableSize
	}
	if o.MaxImmutableMemtables == 0 {
		o.MaxImmutableMemtables = DefaultMaxImmutableMemtables
	}
	if o.L0CompactionTrigger == 0 {
		o.L0CompactionTrigger = DefaultL0CompactionTrigger
	}
	if o.L0StopWritesTrigger == 0 {
		o.L0StopWritesTrigger = max(DefaultL0StopWritesTrigger, o.L0CompactionTrigger+1)
	}
	if o.BaseLevelBytes == 0 {
		o.BaseLevelBytes = DefaultBaseLevelBytes
	}
	if o.LevelMultiplier == 0 {
		o.LevelMultiplier = DefaultLevelMultiplier
	}
	if o.TargetFileSize == 0 {
		o.TargetFileSize = DefaultTargetFileSize
	}
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.BloomBitsPerKey == 0 {
		o.BloomBitsPerKey = DefaultBloomBitsPerKey
	}
	if o.CompactionConcurrency == 0 {
		o.CompactionConcurrency = DefaultCompactionConcurrency
	}
	if o.TableCacheSize == 0 {
		o.TableCacheSize = DefaultTableCacheSize
	}
	if o.MaxManifestSize == 0 {
		o.MaxManifestSize = DefaultMaxManifestSize
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
	case o.MemtableSize < MinMemtableSize || o.MemtableSize > MaxMemtableSize:
		why = fmt.Sprintf("MemtableSize %d is outside [%d, %d]", o.MemtableSize, MinMemtableSize, MaxMemtableSize)
	case o.MaxImmutableMemtables < 1:
		why = fmt.Sprintf("MaxImmutableMemtables %d is below 1", o.MaxImmutableMemtables)
	case o.L0CompactionTrigger < 1:
		why = fmt.Sprintf("L0CompactionTrigger %d is below 1", o.L0CompactionTrigger)
	case o.L0StopWritesTrigger <= o.L0CompactionTrigger:
		why = fmt.Sprintf("L0StopWritesTrigger %d is not above L0CompactionTrigger %d", o.L0StopWritesTrigger, o.L0CompactionTrigger)
	case o.BaseLevelBytes < 1:
		why = fmt.Sprintf("BaseLevelBytes %d is below 1", o.BaseLevelBytes)
	case o.LevelMultiplier < 2 || o.LevelMultiplier > 1000:
		why = fmt.Sprintf("LevelMultiplier %d is outside [2, 1000]", o.LevelMultiplier)
	case o.TargetFileSize < MinTargetFileSize:
		why = fmt.Sprintf("TargetFileSize %d is below %d", o.TargetFileSize, MinTargetFileSize)
	case o.BlockSize < sstable.MinBlockSize || o.BlockSize > sstable.MaxBlockSize:
		why = fmt.Sprintf("BlockSize %d is outside [%d, %d]", o.BlockSize, sstable.MinBlockSize, sstable.MaxBlockSize)
	case o.BloomBitsPerKey > sstable.MaxBloomBitsPerKey:
		why = fmt.Sprintf("BloomBitsPerKey %d is above %d", o.BloomBitsPerKey, sstable.MaxBloomBitsPerKey)
	case o.CompactionConcurrency < 1 || o.CompactionConcurrency > MaxCompactionConcurrency:
		why = fmt.Sprintf("CompactionConcurrency %d is outside [1, %d]", o.CompactionConcurrency, MaxCompactionConcurrency)
	case o.TableCacheSize < MinTableCacheSize:
		why = fmt.Sprintf("TableCacheSize %d is below %d", o.TableCacheSize, MinTableCacheSize)
	case o.MaxManifestSize < MinManifestSize:
		why = fmt.Sprintf("MaxManifestSize %d is below %d", o.MaxManifestSize, MinManifestSize)
	default:
		return nil
	}
	return fmt.Errorf("lightning/lsm: options: %s: %w", why, interfaces.ErrInvalidArgument)
}

// levelTarget returns the target size in bytes of level (1 and up).
func (o *Options) levelTarget(level int) int64 {
	t := o.BaseLevelBytes
	for l := 1; l < level; l++ {
		t *= int64(o.LevelMultiplier)
	}
	return t
}

// initialMemtableSize is the size of an engine's first memtable: small, so
// an engine holding little data holds little memory, growing by doubling
// to MemtableSize.
func (o *Options) initialMemtableSize() int {
	return max(o.MemtableSize/16, min(o.MemtableSize, MinMemtableSize), arenaskl.CapacityFor(0, 0))
}

// Deps are the engine's collaborators. A nil field means its default.
type Deps struct {
	// FS is the file system holding Dir; vfs.Default when nil.
	FS vfs.FS
	// Cache holds decoded data blocks, shared with whoever else uses it;
	// nil means no block cache. The engine draws a random namespace in it
	// each time it opens.
	Cache interfaces.Cache
	// Codec compresses the blocks of new tables (flushes and compaction
	// outputs); nil writes them uncompressed.
	Codec interfaces.Codec
	// Codecs are the codecs available for reading tables written with
	// another codec than Codec (Codec itself is always available). Two
	// codecs with one ID and different names are an error.
	Codecs []interfaces.Codec
	// Cipher, when set, seals every table block and manifest record. A
	// database written with a cipher cannot be opened without one, nor
	// one written without a cipher with one.
	Cipher interfaces.Cipher
	// Logger receives the engine's log lines (flushes, compactions,
	// background errors); discarded when nil.
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

// codecList returns the codecs a reader may need, Codec first, checking
// that no two formats share an ID.
func (d Deps) codecList() ([]interfaces.Codec, error) {
	var out []interfaces.Codec
	byID := map[interfaces.CodecID]string{}
	for _, c := range append([]interfaces.Codec{d.Codec}, d.Codecs...) {
		if c == nil {
			continue
		}
		id, name := c.ID(), c.Describe().Name
		if prev, ok := byID[id]; ok {
			if prev != name {
				return nil, fmt.Errorf("lightning/lsm: codecs %q and %q share ID %d: %w", prev, name, id, interfaces.ErrInvalidArgument)
			}
			continue
		}
		byID[id] = name
		out = append(out, c)
	}
	return out, nil
}
