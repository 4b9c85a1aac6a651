package btree_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/vfs"
)

// TestConformance runs the Storage suite on the engine with its default
// options, and with small pages, a small write buffer (background flushes
// and write stalls), compression and encryption.
func TestConformance(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		conformance.TestStorage(t, conformance.MemHarness(func(fs vfs.FS, dir string) (interfaces.Storage, error) {
			return btree.New(btree.Options{Dir: dir}, btree.Deps{FS: fs})
		}))
	})
	t.Run("small pages, codec and cipher", func(t *testing.T) {
		conformance.TestStorage(t, conformance.MemHarness(func(fs vfs.FS, dir string) (interfaces.Storage, error) {
			return btree.New(
				btree.Options{Dir: dir, PageSize: btree.MinPageSize, WriteBufferSize: btree.MinWriteBufferSize, CompactBatch: 3},
				btree.Deps{FS: fs, Codec: newTestCodec(), Cipher: newTestCipher(1)},
			)
		}))
	})
}

// TestConformanceMapped runs the suite on the OS file system, so reads go
// through the memory map (zero-copy for uncompressed leaves) while
// flushes grow the file and compaction cuts it. A crash there is a process
// crash: every write the engine made survives, which the contract allows
// (the crash tests with dropped writes run on vfs.MemFS above).
func TestConformanceMapped(t *testing.T) {
	conformance.TestStorage(t, &osHarness{root: t.TempDir()})
}

// osHarness makes instances in directories of root on the OS file system.
type osHarness struct {
	root string
	mu   sync.Mutex
	n    int
	dirs map[interfaces.Storage]string
}

func (h *osHarness) open(dir string) (interfaces.Storage, error) {
	s, err := btree.New(btree.Options{Dir: dir, PageSize: btree.MinPageSize, WriteBufferSize: btree.MinWriteBufferSize}, btree.Deps{FS: vfs.Default})
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dirs == nil {
		h.dirs = map[interfaces.Storage]string{}
	}
	h.dirs[s] = dir
	return s, nil
}

func (h *osHarness) New(t conformance.T) (interfaces.Storage, error) {
	h.mu.Lock()
	h.n++
	dir := filepath.Join(h.root, fmt.Sprintf("db%d", h.n))
	h.mu.Unlock()
	return h.open(dir)
}

func (h *osHarness) take(s interfaces.Storage) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	dir := h.dirs[s]
	delete(h.dirs, s)
	return dir
}

func (h *osHarness) Crash(t conformance.T, s interfaces.Storage, keepUnsynced float64, seed uint64) (interfaces.Storage, error) {
	dir := h.take(s)
	// The process dies: its lock goes with it. Close does not flush.
	_ = s.Close()
	return h.open(dir)
}

func (h *osHarness) Reopen(t conformance.T, s interfaces.Storage) (interfaces.Storage, error) {
	dir := h.take(s)
	if err := s.Close(); err != nil {
		return nil, err
	}
	return h.open(dir)
}
