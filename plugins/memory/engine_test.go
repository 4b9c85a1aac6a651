package memory_test

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/memory"
	"github.com/lightningdb/lightning/vfs"
)

// TestConformance runs the Storage suite on the engine with its default
// options, and with everything switched on: tiny blocks (many per
// snapshot), one-version collection batches, compression and encryption.
func TestConformance(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		conformance.TestStorage(t, conformance.MemHarness(func(fs vfs.FS, dir string) (interfaces.Storage, error) {
			return memory.New(memory.Options{Dir: dir}, memory.Deps{FS: fs})
		}))
	})
	t.Run("small blocks, codec and cipher", func(t *testing.T) {
		conformance.TestStorage(t, conformance.MemHarness(func(fs vfs.FS, dir string) (interfaces.Storage, error) {
			return memory.New(
				memory.Options{Dir: dir, BlockSize: memory.MinBlockSize, CompactBatch: 1},
				memory.Deps{FS: fs, Codec: memory.NewRLECodec(), Cipher: memory.NewGCMCipher(1)},
			)
		}))
	})
}

// newEngine opens an engine in "db" on fs.
func newEngine(t *testing.T, fs vfs.FS, deps memory.Deps) *memory.Engine {
	t.Helper()
	deps.FS = fs
	e, err := memory.New(memory.Options{Dir: "db"}, deps)
	require.NoError(t, err)
	return e
}

func TestLockHeldWhileOpen(t *testing.T) {
	fs := vfs.NewMem()
	e := newEngine(t, fs, memory.Deps{})
	_, err := memory.New(memory.Options{Dir: "db"}, memory.Deps{FS: fs})
	require.ErrorIs(t, err, vfs.ErrLocked)
	require.NoError(t, e.Close())
	e2 := newEngine(t, fs, memory.Deps{})
	require.NoError(t, e2.Close())
}

func TestNestedDirectorySurvivesCrash(t *testing.T) {
	fs := vfs.NewMem()
	dir := filepath.Join("a", "b", "db")
	e, err := memory.New(memory.Options{Dir: dir}, memory.Deps{FS: fs})
	require.NoError(t, err)
	require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("v")}}))
	_, err = e.Flush()
	require.NoError(t, err)
	// Nothing unsynced survives: the directories must have been synced.
	clone := fs.CrashClone(vfs.CrashOptions{})
	require.NoError(t, e.Close())
	e2, err := memory.New(memory.Options{Dir: dir}, memory.Deps{FS: clone})
	require.NoError(t, err)
	defer e2.Close()
	v, ts, err := e2.Get([]byte("k"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.Equal(t, uint64(1), ts)
}

func TestOptions(t *testing.T) {
	cases := []struct {
		name string
		opts memory.Options
		ok   bool
	}{
		{"defaults", memory.Options{Dir: "d"}, true},
		{"no dir", memory.Options{}, false},
		{"smallest block", memory.Options{Dir: "d", BlockSize: memory.MinBlockSize}, true},
		{"block too small", memory.Options{Dir: "d", BlockSize: memory.MinBlockSize - 1}, false},
		{"largest block", memory.Options{Dir: "d", BlockSize: memory.MaxBlockSize}, true},
		{"block too large", memory.Options{Dir: "d", BlockSize: memory.MaxBlockSize + 1}, false},
		{"negative batch", memory.Options{Dir: "d", CompactBatch: -1}, false},
		{"batch too large", memory.Options{Dir: "d", CompactBatch: memory.MaxCompactBatch + 1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.opts
			err := o.EnsureDefaults().Validate()
			if c.ok {
				require.NoError(t, err)
				require.NotZero(t, o.BlockSize)
				require.NotZero(t, o.CompactBatch)
			} else {
				require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
				_, err := memory.New(c.opts, memory.Deps{FS: vfs.NewMem()})
				require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
			}
		})
	}
	require.Equal(t, memory.DefaultBlockSize, (&memory.Options{}).EnsureDefaults().BlockSize)
}

func TestCodecsSharingAnID(t *testing.T) {
	_, err := memory.New(memory.Options{Dir: "db"}, memory.Deps{
		FS:     vfs.NewMem(),
		Codec:  memory.NewRLECodec(),
		Codecs: []interfaces.Codec{otherCodec{}},
	})
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	// Two instances of one format are fine.
	e, err := memory.New(memory.Options{Dir: "db"}, memory.Deps{
		FS:     vfs.NewMem(),
		Codec:  memory.NewRLECodec(),
		Codecs: []interfaces.Codec{memory.NewRLECodec()},
	})
	require.NoError(t, err)
	require.NoError(t, e.Close())
}

// otherCodec claims the test codec's ID under another name.
type otherCodec struct{ interfaces.Codec }

func (otherCodec) ID() interfaces.CodecID { return memory.RLECodecID }
func (otherCodec) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCodec, Name: "other"}
}

// failingFS fails SyncDir of dir once armed.
type failingFS struct {
	vfs.FS
	dir   string
	armed bool
}

var errSync = errors.New("injected sync failure")

func (f *failingFS) SyncDir(dir string) error {
	if f.armed && dir == f.dir {
		return errSync
	}
	return f.FS.SyncDir(dir)
}

func TestFailStopAfterDirectorySyncFails(t *testing.T) {
	mem := vfs.NewMem()
	fs := &failingFS{FS: mem, dir: "db"}
	e := newEngine(t, fs, memory.Deps{})
	put := func(ts uint64) error {
		return e.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: ts, Kind: interfaces.KindSet, Value: []byte{byte(ts)}}})
	}
	require.NoError(t, put(1))
	d, err := e.Flush()
	require.NoError(t, err)
	require.Equal(t, uint64(1), d)
	require.NoError(t, put(2))
	fs.armed = true
	_, err = e.Flush()
	require.ErrorIs(t, err, errSync)
	// The durable state is unknown now: writes refuse, reads go on.
	_, err = e.Flush()
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	require.ErrorIs(t, put(3), interfaces.ErrFailStopped)
	v, _, err := e.Get([]byte("k"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, []byte{2}, v)
	d, err = e.DurableTs()
	require.NoError(t, err)
	require.Equal(t, uint64(1), d)
	require.NoError(t, e.Close())
	// A reopen recovers from whatever reached the disk.
	fs.armed = false
	e2 := newEngine(t, fs, memory.Deps{})
	defer e2.Close()
	d, err = e2.DurableTs()
	require.NoError(t, err)
	require.Contains(t, []uint64{1, 2}, d)
	require.NoError(t, e2.Check())
}

// failingCreateFS fails every Create.
type failingCreateFS struct{ vfs.FS }

func (failingCreateFS) Create(string) (vfs.File, error) { return nil, errSync }

func TestFlushFailureBeforeRenameIsRetryable(t *testing.T) {
	mem := vfs.NewMem()
	e := newEngine(t, mem, memory.Deps{})
	require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet}}))
	require.NoError(t, e.Close())
	e = newEngine(t, failingCreateFS{mem}, memory.Deps{})
	require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 2, Kind: interfaces.KindSet}}))
	_, err := e.Flush()
	require.ErrorIs(t, err, errSync)
	// Not fail-stopped: nothing on disk changed.
	require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 3, Kind: interfaces.KindSet}}))
	d, err := e.DurableTs()
	require.NoError(t, err)
	require.Zero(t, d)
	require.NoError(t, e.Close())
}

func TestEncryptedSnapshot(t *testing.T) {
	fs := vfs.NewMem()
	e := newEngine(t, fs, memory.Deps{Cipher: memory.NewGCMCipher(1), Codec: memory.NewRLECodec()})
	entries := []interfaces.Entry{
		{Key: []byte("secret-key"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("secret-value-secret-value")},
		{Key: []byte("zeros"), Ts: 1, Kind: interfaces.KindSet, Value: make([]byte, 4000)},
	}
	require.NoError(t, e.Apply(entries))
	_, err := e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.Close())
	data := readFile(t, fs, "db/SNAPSHOT")
	require.NotContains(t, string(data), "secret")

	_, err = memory.New(memory.Options{Dir: "db"}, memory.Deps{FS: fs, Codec: memory.NewRLECodec()})
	require.ErrorIs(t, err, interfaces.ErrIncompatible, "an encrypted snapshot opened without a cipher")
	_, err = memory.New(memory.Options{Dir: "db"}, memory.Deps{FS: fs, Cipher: memory.NewGCMCipher(2), Codec: memory.NewRLECodec()})
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch, "a snapshot opened with another key")
	_, err = memory.New(memory.Options{Dir: "db"}, memory.Deps{FS: fs, Cipher: memory.NewGCMCipher(1)})
	require.ErrorIs(t, err, interfaces.ErrIncompatible, "a compressed snapshot opened without its codec")
	e = newEngine(t, fs, memory.Deps{Cipher: memory.NewGCMCipher(1), Codecs: []interfaces.Codec{memory.NewRLECodec()}})
	v, _, err := e.Get([]byte("secret-key"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "secret-value-secret-value", string(v))
	require.NoError(t, e.Close())

	// A plaintext snapshot does not stand in for an encrypted one.
	plain := vfs.NewMem()
	e = newEngine(t, plain, memory.Deps{})
	require.NoError(t, e.Apply(entries))
	_, err = e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.Close())
	_, err = memory.New(memory.Options{Dir: "db"}, memory.Deps{FS: plain, Cipher: memory.NewGCMCipher(1)})
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
}

func TestCorruptSnapshotOnDisk(t *testing.T) {
	fs := vfs.NewMem()
	e := newEngine(t, fs, memory.Deps{})
	for ts := uint64(1); ts <= 50; ts++ {
		require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte{byte(ts % 7)}, Ts: ts, Kind: interfaces.KindSet, Value: []byte("value")}}))
	}
	_, err := e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.Check())

	// Damage the file under the running engine: Check finds it.
	data := readFile(t, fs, "db/SNAPSHOT")
	off := len(data) / 2
	data[off] ^= 0x40
	writeFile(t, fs, "db/SNAPSHOT", data)
	err = e.Check()
	var ce *interfaces.CorruptionError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, filepath.Join("db", "SNAPSHOT"), ce.File)
	require.True(t, interfaces.IsCorruption(err))
	require.NoError(t, e.Close())

	// And a reopen refuses it.
	_, err = memory.New(memory.Options{Dir: "db"}, memory.Deps{FS: fs})
	require.ErrorAs(t, err, &ce)
	require.Equal(t, filepath.Join("db", "SNAPSHOT"), ce.File)
	require.GreaterOrEqual(t, ce.Offset, int64(0))
	require.LessOrEqual(t, ce.Offset, int64(off))
}

func TestLeftoverTempSnapshotIsIgnored(t *testing.T) {
	fs := vfs.NewMem()
	e := newEngine(t, fs, memory.Deps{})
	require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("v1")}}))
	_, err := e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.Close())
	writeFile(t, fs, "db/SNAPSHOT.tmp", []byte("half a snapshot"))
	e = newEngine(t, fs, memory.Deps{})
	defer e.Close()
	v, _, err := e.Get([]byte("k"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "v1", string(v))
	names, err := fs.List("db")
	require.NoError(t, err)
	require.NotContains(t, names, "SNAPSHOT.tmp")
}

func TestStatsAndMetrics(t *testing.T) {
	fs := vfs.NewMem()
	e := newEngine(t, fs, memory.Deps{})
	defer e.Close()
	for ts := uint64(1); ts <= 10; ts++ {
		require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: ts, Kind: interfaces.KindSet, Value: make([]byte, 100)}}))
	}
	st, err := e.Stats()
	require.NoError(t, err)
	require.Equal(t, int64(10), st.Metrics["memory.versions"])
	require.Greater(t, st.MemBytes, int64(1000))
	require.Zero(t, st.DiskBytes)
	_, err = e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.SetDiscardTs(10))
	require.NoError(t, e.Compact(interfaces.KeyRange{}))
	st, err = e.Stats()
	require.NoError(t, err)
	require.Equal(t, int64(1), st.Metrics["memory.versions"])
	require.Equal(t, int64(9), st.Metrics["memory.gc_dropped"])
	require.Equal(t, int64(1), st.Metrics["memory.flushes"])
	info, err := fs.Stat("db/SNAPSHOT")
	require.NoError(t, err)
	require.Equal(t, info.Size(), st.DiskBytes)
}

func readFile(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(name)
	require.NoError(t, err)
	defer f.Close()
	size, err := f.Size()
	require.NoError(t, err)
	data := make([]byte, size)
	_, err = f.ReadAt(data, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		require.NoError(t, err)
	}
	return data
}

func writeFile(t *testing.T, fs vfs.FS, name string, data []byte) {
	t.Helper()
	f, err := fs.Create(name)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}
