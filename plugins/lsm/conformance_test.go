package lsm

import (
	"testing"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// smallOptions shape an engine so that the conformance suite's small
// workloads reach flushes, several levels and compactions.
func smallOptions(dir string) Options {
	return Options{
		Dir:             dir,
		MemtableSize:    MinMemtableSize,
		TargetFileSize:  MinTargetFileSize,
		BaseLevelBytes:  64 << 10,
		BlockSize:       512,
		MaxManifestSize: MinManifestSize,
	}
}

func TestConformance(t *testing.T) {
	conformance.TestStorage(t, conformance.MemHarness(func(fs vfs.FS, dir string) (interfaces.Storage, error) {
		return New(smallOptions(dir), Deps{FS: fs})
	}))
}

// TestConformanceSealed runs the suite again with every block and record
// compressed, sealed and cached, and with the default sizes.
func TestConformanceSealed(t *testing.T) {
	if testing.Short() {
		t.Skip("the suite runs once in -short mode")
	}
	codec := rleCodec{id: 201, name: "rle"}
	cipher := newTestCipher(9)
	cache := newMapCache()
	conformance.TestStorage(t, conformance.MemHarness(func(fs vfs.FS, dir string) (interfaces.Storage, error) {
		return New(Options{Dir: dir}, Deps{FS: fs, Codec: codec, Cipher: cipher, Cache: cache})
	}))
}
