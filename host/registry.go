package host

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"

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

// EngineDeps are the shared parts an in-process engine is opened with.
type EngineDeps struct {
	// Cache is the block cache, or nil.
	Cache interfaces.Cache
	// Codec writes new blocks; Codecs read old ones (Codec among them).
	Codec  interfaces.Codec
	Codecs []interfaces.Codec
	// Cipher seals blocks, or nil.
	Cipher interfaces.Cipher
	// Logger receives the engine's logs.
	Logger *slog.Logger
}

// EngineFactory opens an in-process engine in dir on fs (the core calls it
// after locking the database and checking its identity).
type EngineFactory func(fs vfs.FS, dir string, deps EngineDeps) (interfaces.Storage, error)

// CacheFactory makes an in-process cache of capacity bytes.
type CacheFactory func(capacity int64) (interfaces.Cache, error)

// CodecFactory makes an in-process codec.
type CodecFactory func() (interfaces.Codec, error)

// CipherDeps are what an in-process cipher is made with besides its key:
// the database it serves, for a cipher that keeps state beside the data
// (aesgcm keeps its key registry at <Dir>/KEYS).
type CipherDeps struct {
	// Dir is the database directory, absolute. It may not exist yet: the
	// cipher is made before the database opens, and must not create
	// anything there before its first Seal (a database that then refuses
	// to open must find its directory untouched).
	Dir string
	// FS is the file system the database's files live on (vfs.Default
	// unless WithCoreOptions sets core.Options.FS).
	FS vfs.FS
	// Logger receives the cipher's logs.
	Logger *slog.Logger
	// OldKeys are the configuration's earlier master keys (cipher.old_keys),
	// to try when the key does not open what the cipher keeps; the factory
	// owns them and should clear them once it no longer needs them.
	OldKeys [][]byte
}

// CipherFactory makes an in-process cipher of key, the key material a
// configuration's key source holds, for the database deps describe. The
// factory owns key: it may keep it, and should clear it once it no longer
// needs it. Close on the cipher is called when the application stops.
type CipherFactory func(deps CipherDeps, key []byte) (interfaces.Cipher, error)

// The in-process parts this build links in, by name. Adding an in-tree
// part is one line here; anyone else adds theirs with the Register
// functions.
var (
	registryMu sync.RWMutex

	engines = map[string]EngineFactory{
		lsm.Name: func(fs vfs.FS, dir string, d EngineDeps) (interfaces.Storage, error) {
			return lsm.New(lsm.Options{Dir: dir}, lsm.Deps{FS: fs, Cache: d.Cache, Codec: d.Codec, Codecs: d.Codecs, Cipher: d.Cipher, Logger: d.Logger})
		},
		btree.Name: func(fs vfs.FS, dir string, d EngineDeps) (interfaces.Storage, error) {
			return btree.New(btree.Options{Dir: dir}, btree.Deps{FS: fs, Cache: d.Cache, Codec: d.Codec, Codecs: d.Codecs, Cipher: d.Cipher, Logger: d.Logger})
		},
		memory.Name: func(fs vfs.FS, dir string, d EngineDeps) (interfaces.Storage, error) {
			return memory.New(memory.Options{Dir: dir}, memory.Deps{FS: fs, Cipher: d.Cipher, Codec: d.Codec, Codecs: d.Codecs, Logger: d.Logger})
		},
	}

	caches = map[string]CacheFactory{
		arc.Name: func(capacity int64) (interfaces.Cache, error) { return arc.New(arc.Options{Capacity: capacity}) },
	}

	codecs = map[string]CodecFactory{
		none.Name:   func() (interfaces.Codec, error) { return none.New(), nil },
		snappy.Name: func() (interfaces.Codec, error) { return snappy.New(), nil },
		lz4.Name:    func() (interfaces.Codec, error) { return lz4.New(), nil },
		zstd.Name:   func() (interfaces.Codec, error) { return zstd.New(nil) },
	}

	ciphers = map[string]CipherFactory{
		aesgcm.Name: newAESGCM,
	}
)

// newAESGCM makes the in-process aesgcm cipher: aesgcm.Open on the key
// registry <dir>/KEYS, wrapped by the configured key as the master key, so
// a database a configuration makes is the database lightning.Open(dir,
// lightning.WithMasterKey(...)) makes: data keys rotate, encryptions are
// counted durably across restarts, and `lightning keys` manages it. The
// master key is read from key (32 bytes) once, by aesgcm.Open, and key is
// wiped afterwards.
//
// A database aesgcm encrypted without a registry (the plugin binary
// cmd/plugins/lightning-aesgcm, whose protocol passes a key and no
// directory, derives its data keys from the key: aesgcm.New) is refused
// with ErrIncompatible before its registry is read or anything written.
func newAESGCM(deps CipherDeps, key []byte) (interfaces.Cipher, error) {
	defer clear(key)
	for _, k := range deps.OldKeys {
		defer clear(k)
	}
	path := filepath.Join(deps.Dir, aesgcm.RegistryFile)
	if err := requireRegistry(deps.FS, deps.Dir, path); err != nil {
		return nil, err
	}
	master := aesgcm.KeyFunc("the configured cipher key", func() ([]byte, error) { return bytes.Clone(key), nil })
	var old []aesgcm.KeyProvider
	for i, k := range deps.OldKeys {
		old = append(old, aesgcm.KeyFunc(fmt.Sprintf("cipher.old_keys[%d]", i), func() ([]byte, error) { return bytes.Clone(k), nil }))
	}
	c, err := aesgcm.Open(aesgcm.Options{FS: deps.FS, Path: path, Master: master, OldMasters: old, Logger: deps.Logger})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// requireRegistry refuses a database in dir that aesgcm encrypted with no
// key registry at path: its data keys were derived from the key (the
// plugin binary's mode), so a registry of new random keys would not open
// it. A new database, or one whose identity is unreadable (the core
// reports that), passes.
func requireRegistry(fsys vfs.FS, dir, path string) error {
	info, err := core.ReadInfo(fsys, dir)
	if err != nil || info.Cipher != aesgcm.Name {
		return nil
	}
	_, err = fsys.Stat(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("lightning/host: %s is encrypted by aesgcm but has no key registry %s: it was written without one, "+
		"with data keys derived from the key (by the lightning-aesgcm plugin binary, or in process by a build before "+
		"configurations used registries), so open it with the plugin (cipher: {path: .../lightning-aesgcm}) and copy "+
		"its data into a new database to move it; or its registry was lost: restore %s from a backup: %w",
		dir, path, aesgcm.RegistryFile, interfaces.ErrIncompatible)
}

// RegisterEngine adds an in-process engine under name, for configurations
// to name. It panics when name is taken, as registering twice is a
// programming error.
func RegisterEngine(name string, f EngineFactory) { register(engines, "engine", name, f) }

// RegisterCache adds an in-process cache under name.
func RegisterCache(name string, f CacheFactory) { register(caches, "cache", name, f) }

// RegisterCodec adds an in-process codec under name; every registered
// codec can read old blocks, whichever one writes.
func RegisterCodec(name string, f CodecFactory) { register(codecs, "codec", name, f) }

// RegisterCipher adds an in-process cipher under name.
func RegisterCipher(name string, f CipherFactory) { register(ciphers, "cipher", name, f) }

func register[F any](m map[string]F, kind, name string, f F) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, ok := m[name]; ok || name == "" {
		panic(fmt.Sprintf("lightning/host: %s %q registered twice (or unnamed)", kind, name))
	}
	m[name] = f
}

func lookup[F any](m map[string]F, kind, name string) (F, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	f, ok := m[name]
	if !ok {
		return f, fmt.Errorf("lightning/host: no in-process %s %q in this build (have %v); name a plugin by path instead: %w",
			kind, name, slices.Sorted(maps.Keys(m)), interfaces.ErrInvalidArgument)
	}
	return f, nil
}

func names[F any](m map[string]F) []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return slices.Sorted(maps.Keys(m))
}

// Engines lists the in-process engines this build can open, sorted.
func Engines() []string { return names(engines) }

// Caches lists the in-process caches, sorted.
func Caches() []string { return names(caches) }

// Codecs lists the in-process codecs, sorted.
func Codecs() []string { return names(codecs) }

// Ciphers lists the in-process ciphers, sorted.
func Ciphers() []string { return names(ciphers) }
