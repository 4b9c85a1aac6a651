package conformance

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// StorageHarness makes the Storage instances a suite tests.
type StorageHarness interface {
	// New returns a fresh, empty instance, independent of every other.
	// The suite closes it (or hands it to Crash or Reopen).
	New(t T) (interfaces.Storage, error)
	// Crash simulates a crash of s — its process and machine dying at
	// once — and returns a new instance opened on what survived. s is
	// abandoned: the suite makes no further call on it, and the harness
	// releases it. Where the harness controls the disk, keepUnsynced (0 to
	// 1) is the share of unsynced writes that survive the crash.
	Crash(t T, s interfaces.Storage, keepUnsynced float64, seed uint64) (interfaces.Storage, error)
	// Reopen closes s and opens it again on the same files.
	Reopen(t T, s interfaces.Storage) (interfaces.Storage, error)
}

// OpenFunc opens a Storage stored in dir on fs, creating it when dir is
// empty or missing.
type OpenFunc func(fs vfs.FS, dir string) (interfaces.Storage, error)

// MemHarness returns a StorageHarness for an in-process engine: each
// instance lives on its own crash-simulating vfs.MemFS, and Crash opens the
// engine again on the MemFS's CrashClone.
func MemHarness(open OpenFunc) StorageHarness {
	return &memHarness{open: open, fss: map[interfaces.Storage]*vfs.MemFS{}}
}

type memHarness struct {
	open OpenFunc
	mu   sync.Mutex
	fss  map[interfaces.Storage]*vfs.MemFS // INVARIANT: every live instance has its FS here
}

const memHarnessDir = "db"

func (h *memHarness) New(t T) (interfaces.Storage, error) {
	return h.openOn(vfs.NewMem())
}

func (h *memHarness) openOn(fs *vfs.MemFS) (interfaces.Storage, error) {
	s, err := h.open(fs, memHarnessDir)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.fss[s] = fs
	h.mu.Unlock()
	return s, nil
}

func (h *memHarness) take(s interfaces.Storage) (*vfs.MemFS, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fs, ok := h.fss[s]
	if !ok {
		return nil, fmt.Errorf("conformance: storage %p was not made by this harness", s)
	}
	delete(h.fss, s)
	return fs, nil
}

func (h *memHarness) Crash(t T, s interfaces.Storage, keepUnsynced float64, seed uint64) (interfaces.Storage, error) {
	fs, err := h.take(s)
	if err != nil {
		return nil, err
	}
	clone := fs.CrashClone(vfs.CrashOptions{
		KeepUnsynced: keepUnsynced,
		Rand:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	})
	// The old instance dies with its machine: release it, but what it does
	// on the way out lands on the old FS, not on the clone.
	_ = s.Close()
	return h.openOn(clone)
}

func (h *memHarness) Reopen(t T, s interfaces.Storage) (interfaces.Storage, error) {
	fs, err := h.take(s)
	if err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("close before reopen: %w", err)
	}
	return h.openOn(fs)
}

// CacheFactory makes a fresh, empty cache with the given capacity.
type CacheFactory func(capacity int64) (interfaces.Cache, error)

// CodecFactory makes a codec.
type CodecFactory func() (interfaces.Codec, error)

// CipherFactory makes a cipher holding key number key. Ciphers made with
// the same number share key material (one seals, the other opens); ciphers
// made with different numbers must not open each other's blocks. The suite
// uses keys 0 and 1.
type CipherFactory func(key int) (interfaces.Cipher, error)
