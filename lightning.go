// Package lightning is an embedded, ordered key-value database for Go.
//
//	db, err := lightning.Open("data")
//	err = db.Put([]byte("k"), []byte("v"))
//	v, err := db.Get([]byte("k"))            // lightning.ErrNotFound when absent
//	err = db.Update(func(tx *lightning.Txn) error {
//		return tx.Put([]byte("k2"), []byte("v2"))
//	})
//	err = db.Close()
//
// This package is the convenience face over package core: Open composes the
// embedded defaults (engine, codec, cache) and returns a *core.DB, whose
// methods are the API. Package host builds the same DB from a configuration
// file, with parts in-process or as plugin binaries.
package lightning

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/plugins/arc"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/plugins/lsm"
	"github.com/lightningdb/lightning/plugins/lz4"
	"github.com/lightningdb/lightning/plugins/memory"
	"github.com/lightningdb/lightning/plugins/none"
	"github.com/lightningdb/lightning/plugins/snappy"
	"github.com/lightningdb/lightning/plugins/zstd"
	"github.com/lightningdb/lightning/vfs"
)

// The API types, from package core.
type (
	DB          = core.DB
	Txn         = core.Txn
	TxnOptions  = core.TxnOptions
	Batch       = core.Batch
	Iterator    = core.Iterator
	IterOptions = core.IterOptions
	Snapshot    = core.Snapshot
	Stats       = core.Stats
	SyncMode    = core.SyncMode
	Isolation   = core.Isolation
)

// Sync modes and isolation levels.
var (
	SyncAlways = core.SyncAlways
	SyncNone   = core.SyncNone
)

// SyncInterval fsyncs the WAL every d in the background.
var SyncInterval = core.SyncInterval

const (
	SnapshotIsolation = core.SnapshotIsolation
	Serializable      = core.Serializable
)

// Limits.
const (
	MaxKeySize   = interfaces.MaxKeySize
	MaxValueSize = interfaces.MaxValueSize
)

// Errors; see package core for when each is returned.
var (
	ErrNotFound        = core.ErrNotFound
	ErrClosed          = core.ErrClosed
	ErrInvalidArgument = core.ErrInvalidArgument
	ErrCorrupt         = core.ErrCorrupt
	ErrFailStopped     = core.ErrFailStopped
	ErrIncompatible    = core.ErrIncompatible
	ErrKeyMismatch     = core.ErrKeyMismatch
	ErrConflict        = core.ErrConflict
	ErrDeadlock        = core.ErrDeadlock
	ErrLockTimeout     = core.ErrLockTimeout
	ErrTxnTooLarge     = core.ErrTxnTooLarge
	ErrReadOnly        = core.ErrReadOnly
	ErrTxnDone         = core.ErrTxnDone
)

// IsCorruption reports whether err says that stored data is corrupt.
func IsCorruption(err error) bool { return core.IsCorruption(err) }

// DefaultEngine is the engine Open uses unless WithEngine names another.
const DefaultEngine = "lsm"

// DefaultCodec compresses WAL records and engine blocks unless WithCodec
// names another.
const DefaultCodec = "snappy"

// DefaultCacheSize is the size of the ARC block cache Open makes when
// neither WithCache nor WithCacheSize says otherwise.
const DefaultCacheSize = 64 << 20

// engineFactory opens an engine in dir on fs with the composed parts.
type engineFactory func(fs vfs.FS, dir string, p parts) (interfaces.Storage, error)

// parts are the shared parts an engine may use.
type parts struct {
	codec  interfaces.Codec
	codecs []interfaces.Codec
	cipher interfaces.Cipher
	cache  interfaces.Cache
	logger *slog.Logger
	// lsmTune adjusts the LSM engine's options (WithLSMOptions).
	lsmTune []func(*lsm.Options)
}

var engines = map[string]engineFactory{
	"lsm": func(fs vfs.FS, dir string, p parts) (interfaces.Storage, error) {
		o := lsm.Options{Dir: dir}
		for _, fn := range p.lsmTune {
			fn(&o)
		}
		o.Dir = dir // the database's directory is not an engine option
		return lsm.New(o, lsm.Deps{
			FS: fs, Cache: p.cache, Cipher: p.cipher, Codec: p.codec, Codecs: p.codecs, Logger: p.logger,
		})
	},
	"btree": func(fs vfs.FS, dir string, p parts) (interfaces.Storage, error) {
		return btree.New(btree.Options{Dir: dir}, btree.Deps{
			FS: fs, Cache: p.cache, Cipher: p.cipher, Codec: p.codec, Codecs: p.codecs, Logger: p.logger,
		})
	},
	"memory": func(fs vfs.FS, dir string, p parts) (interfaces.Storage, error) {
		return memory.New(memory.Options{Dir: dir}, memory.Deps{
			FS: fs, Cipher: p.cipher, Codec: p.codec, Codecs: p.codecs, Logger: p.logger,
		})
	},
}

// Engines lists the engines this build can open, sorted.
func Engines() []string {
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// codecs are every codec linked in; any of them can read old data.
func allCodecs() []interfaces.Codec {
	return []interfaces.Codec{none.New(), snappy.New(), lz4.New(), mustZstd()}
}

func mustZstd() interfaces.Codec {
	c, err := zstd.New(nil)
	if err != nil {
		panic(fmt.Sprintf("lightning: zstd codec with default options: %v", err))
	}
	return c
}

// config collects what the Options set.
type config struct {
	engine     string
	codec      string
	cipher     interfaces.Cipher
	encryption *aesgcm.Options
	cache      interfaces.Cache
	cacheSize  int64
	inMemory   bool
	core       core.Options
	tune       []func(*core.Options)
	lsmTune    []func(*lsm.Options)
}

// Option configures Open.
type Option func(*config)

// WithEngine names the storage engine: one of Engines().
func WithEngine(name string) Option { return func(c *config) { c.engine = name } }

// WithSync sets when commits are durable; default SyncAlways.
func WithSync(m SyncMode) Option { return func(c *config) { c.core.Sync = m } }

// WithCodec names the codec that compresses new WAL records and blocks:
// "snappy" (default), "lz4", "zstd" or "none". Data written with another
// codec stays readable.
func WithCodec(name string) Option { return func(c *config) { c.codec = name } }

// WithCipher encrypts everything written with c. A database created with a
// cipher cannot be opened without one holding its key.
func WithCipher(ci interfaces.Cipher) Option { return func(c *config) { c.cipher = ci } }

// WithEncryption encrypts everything the database writes — WAL, engine
// files, snapshots — with AES-256-GCM (plugins/aesgcm), under data keys
// kept in a key registry, which the master key from o.Master wraps. o.FS
// defaults to the database's file system, o.Path to <dir>/KEYS
// (aesgcm.RegistryFile) and o.Logger to the database's logger. Open reads
// the registry before anything else: a master key that does not open it
// fails Open with ErrKeyMismatch, with no file touched.
//
// Data keys rotate on o.RotateEvery and before any reaches the NIST limit
// of 2^32 encryptions; KeyRegistry(db) returns the cipher, for master-key
// rotation online, status and pruning. The cipher closes with the DB.
// docs/OPERATIONS.md covers key setup and rotation.
func WithEncryption(o aesgcm.Options) Option { return func(c *config) { c.encryption = &o } }

// WithMasterKey is WithEncryption with the master key from p and every
// other option at its default, e.g.
//
//	lightning.Open(dir, lightning.WithMasterKey(aesgcm.KeyFile("/etc/lightning/master.key")))
func WithMasterKey(p aesgcm.KeyProvider) Option {
	return WithEncryption(aesgcm.Options{Master: p})
}

// KeyRegistry returns the cipher Open made for WithEncryption or
// WithMasterKey, for RotateMaster, RotateDataKey, Status and Prune while
// the database is open; nil when the database was opened without them.
func KeyRegistry(db *DB) *aesgcm.Cipher {
	if o, ok := db.Storage().(*cipherOwner); ok {
		return o.cipher
	}
	return nil
}

// cipherOwner is the engine of a database whose cipher Open made: closing
// the engine, which the core does last, closes the cipher too.
type cipherOwner struct {
	interfaces.Storage
	cipher *aesgcm.Cipher
}

func (s *cipherOwner) Close() error {
	err := s.Storage.Close()
	if cerr := s.cipher.Close(); cerr != nil && !errors.Is(cerr, ErrClosed) {
		err = errors.Join(err, fmt.Errorf("lightning: close cipher: %w", cerr))
	}
	return err
}

// WithCache gives the engine a block cache (shared, if the same cache is
// given to several databases).
func WithCache(cache interfaces.Cache) Option { return func(c *config) { c.cache = cache } }

// WithCacheSize sets the size in bytes of the ARC block cache Open makes
// when WithCache gives none; default DefaultCacheSize.
func WithCacheSize(n int64) Option { return func(c *config) { c.cacheSize = n } }

// WithFS puts every file on fs instead of the operating system's.
func WithFS(fs vfs.FS) Option { return func(c *config) { c.core.FS = fs } }

// InMemory keeps the whole database in memory (a fresh vfs.MemFS): nothing
// survives Close. For tests and caches.
func InMemory() Option { return func(c *config) { c.inMemory = true } }

// WithLogger sends the database's logs to l.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.core.Logger = l } }

// WithMeterProvider publishes metrics through mp.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.core.MeterProvider = mp }
}

// WithTracerProvider records spans (open, recovery, flush) through tp.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.core.TracerProvider = tp }
}

// WithCoreOptions adjusts the core's options directly (WAL segment size,
// transaction limits, lock timeout, ...).
func WithCoreOptions(fn func(*core.Options)) Option {
	return func(c *config) { c.tune = append(c.tune, fn) }
}

// WithLSMOptions adjusts the LSM engine's options (memtable size, L0
// triggers, level sizes, block size, CompressL0, ...; Dir is the
// database's and cannot be changed). Zero fields keep their defaults.
// Open fails with ErrInvalidArgument if the engine is not "lsm" or the
// options are invalid.
func WithLSMOptions(fn func(*lsm.Options)) Option {
	return func(c *config) { c.lsmTune = append(c.lsmTune, fn) }
}

// Open opens the database in dir, creating it if need be, with the
// embedded defaults: DefaultEngine, DefaultCodec, no cipher, SyncAlways.
func Open(dir string, opts ...Option) (_ *DB, err error) {
	cfg := config{engine: DefaultEngine, codec: DefaultCodec}
	for _, o := range opts {
		o(&cfg)
	}
	factory, ok := engines[cfg.engine]
	if !ok {
		return nil, fmt.Errorf("lightning: unknown engine %q (this build has %s): %w",
			cfg.engine, strings.Join(Engines(), ", "), ErrInvalidArgument)
	}
	if len(cfg.lsmTune) > 0 && cfg.engine != "lsm" {
		return nil, fmt.Errorf("lightning: WithLSMOptions given for engine %q: %w", cfg.engine, ErrInvalidArgument)
	}
	codecs := allCodecs()
	var codec interfaces.Codec
	for _, c := range codecs {
		if c.Describe().Name == cfg.codec {
			codec = c
		}
	}
	if codec == nil {
		return nil, fmt.Errorf("lightning: unknown codec %q: %w", cfg.codec, ErrInvalidArgument)
	}
	co := cfg.core
	if cfg.inMemory {
		co.FS = vfs.NewMem()
		if dir == "" {
			dir = "lightning"
		}
	}
	co.EnsureDefaults()
	cache := cfg.cache
	if cache == nil {
		size := cfg.cacheSize
		if size <= 0 {
			size = DefaultCacheSize
		}
		c, err := arc.New(arc.Options{Capacity: size})
		if err != nil {
			return nil, fmt.Errorf("lightning: block cache: %w", err)
		}
		cache = c
	}
	p := parts{codec: codec, codecs: codecs, cipher: cfg.cipher, cache: cache, logger: co.Logger, lsmTune: cfg.lsmTune}
	co.StorageName = cfg.engine
	co.Storage = func(fs vfs.FS, dir string) (interfaces.Storage, error) { return factory(fs, dir, p) }
	co.Codec, co.Codecs, co.Cipher, co.Cache = codec, codecs, cfg.cipher, cache
	for _, fn := range cfg.tune {
		fn(&co)
	}
	dir = filepath.Clean(dir)
	if cfg.encryption != nil {
		c, err := openEncryption(cfg, &co, dir, factory, p)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				// The engine, if it opened, closed the cipher already.
				_ = c.Close()
			}
		}()
	}
	return core.Open(dir, co)
}

// openEncryption opens the key registry of WithEncryption on the core's
// file system and makes the engine own the cipher.
func openEncryption(cfg config, co *core.Options, dir string, factory engineFactory, p parts) (*aesgcm.Cipher, error) {
	if cfg.cipher != nil || co.Cipher != nil {
		return nil, fmt.Errorf("lightning: WithCipher and WithEncryption (or WithMasterKey) both set a cipher: %w", ErrInvalidArgument)
	}
	eo := *cfg.encryption
	if eo.FS == nil {
		eo.FS = co.FS
	}
	if eo.Path == "" {
		eo.Path = filepath.Join(dir, aesgcm.RegistryFile)
	}
	if eo.Logger == nil {
		eo.Logger = co.Logger
	}
	c, err := aesgcm.Open(eo)
	if err != nil {
		return nil, fmt.Errorf("lightning: encryption: %w", err)
	}
	p.cipher = c
	co.Cipher = c
	co.Storage = func(fs vfs.FS, dir string) (interfaces.Storage, error) {
		s, err := factory(fs, dir, p)
		if err != nil {
			return nil, err
		}
		return &cipherOwner{Storage: s, cipher: c}, nil
	}
	return c, nil
}
