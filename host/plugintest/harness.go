package plugintest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/host"
	"github.com/lightningdb/lightning/interfaces"
)

// StorageHarness returns a conformance.StorageHarness for the storage of
// the plugin binary at path. Each instance runs in a process of its own on
// a fresh directory under a temporary root (removed when the test that
// made the instance ends). Crash kills the instance's process with
// SIGKILL — unsynced writes survive in the operating system, so
// keepUnsynced is always 1 in effect — and opens the storage again in a
// new process; Reopen closes it gracefully and does the same.
func StorageHarness(path string, opts host.PluginOptions) conformance.StorageHarness {
	return &storageHarness{path: path, opts: opts}
}

type storageHarness struct {
	path string
	opts host.PluginOptions
	n    atomic.Int64
}

func (h *storageHarness) New(t conformance.T) (interfaces.Storage, error) {
	dir, err := os.MkdirTemp("", "lightning-plugintest-")
	if err != nil {
		return nil, fmt.Errorf("plugintest: temporary directory: %w", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return host.OpenStoragePlugin(h.path, filepath.Join(dir, fmt.Sprintf("db%d", h.n.Add(1))), h.opts)
}

func remote(s interfaces.Storage) (*host.RemoteStorage, error) {
	rs, ok := s.(*host.RemoteStorage)
	if !ok {
		return nil, fmt.Errorf("plugintest: storage %T was not made by this harness", s)
	}
	return rs, nil
}

func (h *storageHarness) Crash(t conformance.T, s interfaces.Storage, _ float64, _ uint64) (interfaces.Storage, error) {
	rs, err := remote(s)
	if err != nil {
		return nil, err
	}
	if err := rs.Plugin().Kill(); err != nil {
		return nil, err
	}
	return host.OpenStoragePlugin(h.path, rs.Dir(), h.opts)
}

func (h *storageHarness) Reopen(t conformance.T, s interfaces.Storage) (interfaces.Storage, error) {
	rs, err := remote(s)
	if err != nil {
		return nil, err
	}
	if err := rs.Close(); err != nil {
		return nil, fmt.Errorf("close before reopen: %w", err)
	}
	return host.OpenStoragePlugin(h.path, rs.Dir(), h.opts)
}
