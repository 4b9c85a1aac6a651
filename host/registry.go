package host

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

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

// CipherFactory makes an in-process cipher from key material.
type CipherFactory func(key []byte) (interfaces.Cipher, error)

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

// newAESGCM makes the in-process aesgcm cipher of the key a
// configuration's key source holds (32 bytes): aesgcm.New, one data key
// derived from it, as the plugin binary cmd/plugins/lightning-aesgcm
// makes, so a database written in process opens out of process and the
// other way round. aesgcm.New keeps no copy of key, so it is wiped here.
func newAESGCM(key []byte) (interfaces.Cipher, error) {
	defer clear(key)
	c, err := aesgcm.New(key)
	if err != nil {
		return nil, err
	}
	return c, nil
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
