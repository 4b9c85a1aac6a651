package core

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// SyncMode says when a commit is durable.
type SyncMode struct {
	kind     syncKind
	interval time.Duration
}

type syncKind uint8

const (
	syncAlways syncKind = iota
	syncInterval
	syncNone
)

var (
	// SyncAlways makes every commit durable before it returns: its WAL
	// record is fsynced (together with the rest of its commit group).
	SyncAlways = SyncMode{kind: syncAlways}
	// SyncNone never fsyncs on commit: a machine crash may lose recent
	// commits (a process crash does not). The WAL is still synced when a
	// segment is sealed, on Sync, Flush and Close.
	SyncNone = SyncMode{kind: syncNone}
)

// SyncInterval fsyncs the WAL every d in the background: a machine crash
// loses at most about d of commits.
func SyncInterval(d time.Duration) SyncMode { return SyncMode{kind: syncInterval, interval: d} }

func (m SyncMode) String() string {
	switch m.kind {
	case syncAlways:
		return "always"
	case syncInterval:
		return "interval(" + m.interval.String() + ")"
	}
	return "none"
}

// Isolation is a transaction's isolation level.
type Isolation uint8

const (
	// SnapshotIsolation (the default): a transaction reads a consistent
	// snapshot and fails to commit if another transaction committed a write
	// to a key it writes after it began (write-write conflict).
	SnapshotIsolation Isolation = iota
	// Serializable adds read-write conflicts: a transaction also fails to
	// commit if another committed a write to a key it read, or into a range
	// it iterated, after it began. Write skew becomes impossible.
	Serializable
)

// StorageOpener opens the storage engine in dir on fs. The core calls it
// after it has locked the database and checked its identity file.
type StorageOpener func(fs vfs.FS, dir string) (interfaces.Storage, error)

// Options configure a DB. The zero value of every field means its default;
// Storage and StorageName are required.
type Options struct {
	// StorageName names the engine ("lsm", "memory", ...). The database
	// records it on creation and refuses to open with another.
	StorageName string
	// Storage opens the engine in the directory the core gives it.
	Storage StorageOpener

	// FS is the file system for every file; default vfs.Default.
	FS vfs.FS
	// Codec compresses WAL records of at least WALCompressThreshold bytes;
	// nil means no compression. Codecs lists every codec that may be
	// needed to read old records (the writing codec is added).
	Codec  interfaces.Codec
	Codecs []interfaces.Codec
	// Cipher seals WAL records and the database's key check; nil means no
	// encryption. A database created with a cipher refuses to open without
	// one, and the other way round.
	Cipher interfaces.Cipher
	// Cache is the engine's block cache, if the caller shares it with the
	// core: the core publishes its statistics. Optional.
	Cache interfaces.Cache

	// Sync is the durability of commits; default SyncAlways.
	Sync SyncMode
	// WALSegmentSize is the size at which a WAL segment is sealed; default
	// 64 MiB.
	WALSegmentSize int64
	// WALCompressThreshold: records at least this long are compressed with
	// Codec; default 4 KiB.
	WALCompressThreshold int
	// WALPreallocate keeps the active WAL segment written with zeros this
	// far past its last record, so that a commit's fsync overwrites
	// allocated blocks instead of growing the file (about 1.4 times as
	// many fsyncs a second on ext4). Default 1 MiB under SyncAlways;
	// SyncInterval and SyncNone, which sync rarely, map the segment
	// instead (see WALNoMmap). Negative turns it off.
	WALPreallocate int64
	// WALNoMmap turns off what SyncNone and SyncInterval do by default on
	// unix: each WAL segment is sized up front (a sparse file) and commits
	// are stored into a shared mapping of it rather than written with a
	// write call each. A process crash loses no stored commit either way
	// (the page cache holds it); the mapping saves a system call a commit.
	// Set it on file systems where shared mappings are slow or unsafe
	// (network file systems).
	WALNoMmap bool
	// WALArchiveDir, when set, receives WAL segments the engine no longer
	// needs instead of their being deleted (for point-in-time recovery).
	// Relative paths are inside the database directory.
	WALArchiveDir string
	// CheckpointBytes: when the WAL holds this much beyond the engine's
	// durable ts, the core asks the engine to Flush; default 256 MiB.
	CheckpointBytes int64
	// TruncateCorruptWAL makes Open cut the WAL at a corrupt record instead
	// of failing, logging what was lost. Use it only to salvage a damaged
	// database: commits after the corrupt record are gone.
	TruncateCorruptWAL bool

	// MaxTxnEntries and MaxTxnBytes bound a transaction or batch; defaults
	// 1,000,000 entries and 64 MiB (at most 128 MiB).
	MaxTxnEntries int
	MaxTxnBytes   int64
	// LockTimeout bounds how long GetForUpdate waits; default 5 s.
	LockTimeout time.Duration
	// GCInterval is how often the core advances the engine's discard ts;
	// default 1 s.
	GCInterval time.Duration

	// Logger receives the core's logs; default discards them.
	Logger *slog.Logger
	// MeterProvider and TracerProvider receive metrics and spans; default
	// no-op, which costs nothing per operation.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

const (
	defaultSegmentSize     = 64 << 20
	defaultCompressAt      = 4 << 10
	defaultPreallocate     = 1 << 20
	defaultCheckpointBytes = 256 << 20
	defaultMaxTxnEntries   = 1_000_000
	defaultMaxTxnBytes     = 64 << 20
	maxMaxTxnBytes         = 128 << 20
	defaultLockTimeout     = 5 * time.Second
	defaultGCInterval      = time.Second
)

// EnsureDefaults fills in every zero field with its default and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.WALSegmentSize <= 0 {
		o.WALSegmentSize = defaultSegmentSize
	}
	if o.WALPreallocate == 0 && o.Sync.kind == syncAlways {
		o.WALPreallocate = defaultPreallocate
	}
	if o.WALCompressThreshold <= 0 {
		o.WALCompressThreshold = defaultCompressAt
	}
	if o.CheckpointBytes <= 0 {
		o.CheckpointBytes = defaultCheckpointBytes
	}
	if o.MaxTxnEntries <= 0 {
		o.MaxTxnEntries = defaultMaxTxnEntries
	}
	if o.MaxTxnBytes <= 0 {
		o.MaxTxnBytes = defaultMaxTxnBytes
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = defaultLockTimeout
	}
	if o.GCInterval <= 0 {
		o.GCInterval = defaultGCInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.MeterProvider == nil {
		o.MeterProvider = metricnoop.NewMeterProvider()
	}
	if o.TracerProvider == nil {
		o.TracerProvider = tracenoop.NewTracerProvider()
	}
	return o
}

// Validate reports the first option that cannot work.
func (o *Options) Validate() error {
	switch {
	case o.StorageName == "":
		return fmt.Errorf("core: Options.StorageName is empty: %w", ErrInvalidArgument)
	case o.Storage == nil:
		return fmt.Errorf("core: Options.Storage is nil: %w", ErrInvalidArgument)
	case o.Sync.kind == syncInterval && o.Sync.interval <= 0:
		return fmt.Errorf("core: SyncInterval(%v) must be positive: %w", o.Sync.interval, ErrInvalidArgument)
	case o.MaxTxnBytes > maxMaxTxnBytes:
		return fmt.Errorf("core: MaxTxnBytes %d exceeds %d: %w", o.MaxTxnBytes, maxMaxTxnBytes, ErrInvalidArgument)
	case o.WALSegmentSize < 64<<10:
		return fmt.Errorf("core: WALSegmentSize %d below 64 KiB: %w", o.WALSegmentSize, ErrInvalidArgument)
	}
	return nil
}
