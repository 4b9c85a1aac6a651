package lsm

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
	"github.com/lightningdb/lightning/vfs"
)

func TestOptionsValidate(t *testing.T) {
	valid := func() Options { return *(&Options{Dir: "db"}).EnsureDefaults() }
	require.NoError(t, (func() *Options { o := valid(); return &o })().Validate())
	cases := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no dir", func(o *Options) { o.Dir = "" }, "Dir"},
		{"memtable too small", func(o *Options) { o.MemtableSize = MinMemtableSize - 1 }, "MemtableSize"},
		{"memtable too large", func(o *Options) { o.MemtableSize = MaxMemtableSize + 1 }, "MemtableSize"},
		{"no immutable memtables", func(o *Options) { o.MaxImmutableMemtables = -1 }, "MaxImmutableMemtables"},
		{"L0 trigger", func(o *Options) { o.L0CompactionTrigger = -1 }, "L0CompactionTrigger"},
		{"stop below trigger", func(o *Options) { o.L0StopWritesTrigger = o.L0CompactionTrigger }, "L0StopWritesTrigger"},
		{"base level", func(o *Options) { o.BaseLevelBytes = -1 }, "BaseLevelBytes"},
		{"multiplier", func(o *Options) { o.LevelMultiplier = 1 }, "LevelMultiplier"},
		{"target file", func(o *Options) { o.TargetFileSize = 1 }, "TargetFileSize"},
		{"block size", func(o *Options) { o.BlockSize = 1 }, "BlockSize"},
		{"bloom", func(o *Options) { o.BloomBitsPerKey = 1000 }, "BloomBitsPerKey"},
		{"concurrency", func(o *Options) { o.CompactionConcurrency = MaxCompactionConcurrency + 1 }, "CompactionConcurrency"},
		{"table cache", func(o *Options) { o.TableCacheSize = 2 }, "TableCacheSize"},
		{"manifest", func(o *Options) { o.MaxManifestSize = 10 }, "MaxManifestSize"},
	}
	for _, c := range cases {
		o := valid()
		c.edit(&o)
		err := o.Validate()
		require.ErrorIs(t, err, interfaces.ErrInvalidArgument, c.name)
		require.Contains(t, err.Error(), c.want, c.name)
	}
	// Defaults fill zero fields only, and a stop trigger follows a high
	// compaction trigger.
	o := (&Options{Dir: "db", L0CompactionTrigger: 30, MemtableSize: 1 << 20}).EnsureDefaults()
	require.Equal(t, 31, o.L0StopWritesTrigger)
	require.Equal(t, 1<<20, o.MemtableSize)
	require.NoError(t, o.Validate())
	_, err := New(Options{}, Deps{FS: vfs.NewMem()})
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}

func TestParseFileName(t *testing.T) {
	for _, c := range []struct {
		name string
		kind fileKind
		num  uint64
	}{
		{"000012.sst", kindTable, 12},
		{"12.sst", kindTable, 12},
		{"MANIFEST-000007", kindManifest, 7},
		{"CURRENT", kindCurrent, 0},
		{"CURRENT.tmp", kindTemp, 0},
		{"LOCK", kindLock, 0},
		{"000000.sst", kindUnknown, 0},
		{".sst", kindUnknown, 0},
		{"x1.sst", kindUnknown, 0},
		{"MANIFEST-", kindUnknown, 0},
		{"MANIFEST-1a", kindUnknown, 0},
		{"000012.sst.bak", kindUnknown, 0},
		{"99999999999999999999999.sst", kindUnknown, 0},
	} {
		kind, num := parseFileName(c.name)
		require.Equal(t, c.kind, kind, c.name)
		require.Equal(t, c.num, num, c.name)
	}
	require.Equal(t, "000012.sst", tableName(12))
	require.Equal(t, "MANIFEST-1234567", manifestName(1234567))
}

func set(k string, ts uint64, v string) interfaces.Entry {
	return interfaces.Entry{Key: []byte(k), Ts: ts, Kind: interfaces.KindSet, Value: []byte(v)}
}

func openTest(t *testing.T, fs vfs.FS, opts Options, deps Deps) *Engine {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = "db"
	}
	deps.FS = fs
	e, err := New(opts, deps)
	require.NoError(t, err)
	return e
}

func TestApplyRejects(t *testing.T) {
	e := openTest(t, vfs.NewMem(), modelOptions(), Deps{})
	defer e.Close()
	require.NoError(t, e.Apply([]interfaces.Entry{set("a", 1, "a")}))
	err := e.Apply([]interfaces.Entry{set("b", base.MaxTs+1, "b")})
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	require.ErrorIs(t, e.Apply([]interfaces.Entry{set("b", 1, "b")}), interfaces.ErrInvalidArgument, "ts not above the applied ts")
	require.NoError(t, e.Apply([]interfaces.Entry{set("b", base.MaxTs, "b")}), "the largest ts is accepted")

	// A duplicate (key, ts) in one call is found only after the entries
	// before it are in the memtable: the call fails, and the engine stops
	// writing so that the half-inserted call never becomes durable.
	e2 := openTest(t, vfs.NewMem(), modelOptions(), Deps{})
	defer e2.Close()
	require.NoError(t, e2.Apply([]interfaces.Entry{set("a", 1, "a")}))
	err = e2.Apply([]interfaces.Entry{set("x", 2, "x"), set("y", 2, "y"), set("x", 2, "again")})
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	require.ErrorIs(t, e2.Apply([]interfaces.Entry{set("z", 3, "z")}), interfaces.ErrFailStopped)
	_, err = e2.Flush()
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	// Reads keep working and do not see the half-inserted call.
	_, _, err = e2.Get([]byte("x"), interfaces.MaxTs)
	require.ErrorIs(t, err, interfaces.ErrNotFound)
	v, _, err := e2.Get([]byte("a"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "a", string(v))
}

// TestLargeBatch applies a call larger than a memtable: it gets a memtable
// of its own.
func TestLargeBatch(t *testing.T) {
	fs := vfs.NewMem()
	e := openTest(t, fs, modelOptions(), Deps{})
	var es []interfaces.Entry
	value := strings.Repeat("v", 1000)
	for i := range 500 {
		es = append(es, set(fmt.Sprintf("k%04d", i), 1, value))
	}
	require.NoError(t, e.Apply(es))
	require.NoError(t, e.Apply([]interfaces.Entry{set("after", 2, "x")}))
	for i := range 500 {
		v, ts, err := e.Get([]byte(fmt.Sprintf("k%04d", i)), interfaces.MaxTs)
		require.NoError(t, err)
		require.Equal(t, uint64(1), ts)
		require.Len(t, v, 1000)
	}
	d, err := e.Flush()
	require.NoError(t, err)
	require.Equal(t, uint64(2), d)
	require.NoError(t, e.Close())
	e = openTest(t, fs, modelOptions(), Deps{})
	defer e.Close()
	_, _, err = e.Get([]byte("k0499"), interfaces.MaxTs)
	require.NoError(t, err)
	require.NoError(t, e.Check())
}

// blockingInjector makes syncs of table files wait until released, so a
// test can hold flushes back.
type blockingInjector struct {
	mu      sync.Mutex
	blocked bool
	release chan struct{}
}

func (b *blockingInjector) MaybeError(op vfs.Op) error {
	if op.Kind == vfs.OpSync && strings.HasSuffix(op.Path, tableSuffix) {
		b.mu.Lock()
		ch, blocked := b.release, b.blocked
		b.mu.Unlock()
		if blocked {
			<-ch
		}
	}
	return nil
}

// TestWriteStall holds flushes back until Apply stalls, and checks that it
// resumes when they complete.
func TestWriteStall(t *testing.T) {
	inj := &blockingInjector{blocked: true, release: make(chan struct{})}
	opts := modelOptions()
	opts.MaxImmutableMemtables = 1
	e := openTest(t, vfs.NewErrorFS(vfs.NewMem(), inj), opts, Deps{})
	defer e.Close()
	value := strings.Repeat("s", 2000)
	applied := make(chan int, 1000)
	go func() {
		for i := range 400 {
			if err := e.Apply([]interfaces.Entry{set(fmt.Sprintf("k%04d", i), uint64(i+1), value)}); err != nil {
				break
			}
			applied <- i
		}
		close(applied)
	}()
	// The writer fills the mutable memtable and one immutable one, then
	// stalls.
	n := 0
	timeout := time.After(10 * time.Second)
	for stalled := false; !stalled; {
		select {
		case _, ok := <-applied:
			require.True(t, ok, "the writer finished without stalling")
			n++
		case <-time.After(200 * time.Millisecond):
			stalled = true
		case <-timeout:
			t.Fatal("no stall")
		}
	}
	require.Less(t, n, 400)
	st, err := e.Stats()
	require.NoError(t, err)
	require.Equal(t, int64(1), st.Metrics["lsm.stalls"])
	inj.mu.Lock()
	inj.blocked = false
	close(inj.release)
	inj.mu.Unlock()
	for range applied {
		n++
	}
	require.Equal(t, 400, n)
	st, err = e.Stats()
	require.NoError(t, err)
	require.Positive(t, st.Metrics["lsm.stall_nanos"])
}

// TestFlushFailure fails a table sync: the engine fail-stops, reads go on,
// and a reopen recovers what was durable.
func TestFlushFailure(t *testing.T) {
	mem := vfs.NewMem()
	inj := vfs.FailNth(2, vfs.OpSync, tableSuffix, false)
	e := openTest(t, vfs.NewErrorFS(mem, inj), modelOptions(), Deps{})
	require.NoError(t, e.Apply([]interfaces.Entry{set("a", 1, "a1")}))
	d, err := e.Flush()
	require.NoError(t, err)
	require.Equal(t, uint64(1), d)
	require.NoError(t, e.Apply([]interfaces.Entry{set("a", 2, "a2")}))
	_, err = e.Flush()
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	require.ErrorIs(t, err, vfs.ErrInjected)
	require.ErrorIs(t, e.Apply([]interfaces.Entry{set("b", 3, "b")}), interfaces.ErrFailStopped)
	require.ErrorIs(t, e.Compact(interfaces.KeyRange{}), interfaces.ErrFailStopped)
	v, ts, err := e.Get([]byte("a"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "a2", string(v))
	require.Equal(t, uint64(2), ts)
	st, err := e.Stats()
	require.NoError(t, err)
	require.Equal(t, int64(1), st.Metrics["lsm.fail_stopped"])
	require.NoError(t, e.Close())
	e = openTest(t, mem, modelOptions(), Deps{})
	defer e.Close()
	require.Equal(t, uint64(1), e.durableTs.Load())
	v, _, err = e.Get([]byte("a"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "a1", string(v))
	require.NoError(t, e.Check())
}

// TestCompactionRetry fails a compaction's read once: the compaction is
// logged and retried, and the engine keeps writing.
func TestCompactionRetry(t *testing.T) {
	defer func(d time.Duration) { compactionRetryDelay = d }(compactionRetryDelay)
	compactionRetryDelay = 10 * time.Millisecond
	mem := vfs.NewMem()
	efs := vfs.NewErrorFS(mem, nil)
	opts := modelOptions()
	opts.L0CompactionTrigger = 3
	e := openTest(t, efs, opts, Deps{})
	defer e.Close()
	// Fill L0 up to the trigger without a compaction: each flush adds a
	// table, and the first read of a table by a compaction fails.
	efs.SetInjector(vfs.FailNth(1, vfs.OpRead, tableSuffix, false))
	for i := range 3 {
		require.NoError(t, e.Apply([]interfaces.Entry{set(fmt.Sprintf("k%d", i), uint64(i+1), "v"), set("common", uint64(i+1), "c")}))
		_, err := e.Flush()
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		st, err := e.Stats()
		require.NoError(t, err)
		return st.Metrics["lsm.compactions"] > 0 && st.Metrics["lsm.l0.files"] == 0
	}, 10*time.Second, 5*time.Millisecond)
	st, err := e.Stats()
	require.NoError(t, err)
	require.Equal(t, int64(1), st.Metrics["lsm.compactions.errors"])
	require.Zero(t, st.Metrics["lsm.fail_stopped"])
	require.NoError(t, e.Apply([]interfaces.Entry{set("later", 10, "v")}))
	v, ts, err := e.Get([]byte("common"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "c", string(v))
	require.Equal(t, uint64(3), ts)
	require.NoError(t, e.Check())
}

// TestCodecChange writes tables with one codec, reopens with another that
// can still read the first, and checks that compaction rewrites every
// table with the new one.
// TestL0Compression: a flush whose keys meet no table of L0 or L1 (it will
// likely move down whole) is written with the codec; one that overlaps is
// stored raw, for the L0 compaction that will merge it, unless CompressL0
// is set. Compaction below L0 always uses the codec, and the data reads
// back the same either way.
func TestL0Compression(t *testing.T) {
	codec := rleCodec{id: 201, name: "rle"}
	for _, compressL0 := range []bool{false, true} {
		t.Run(fmt.Sprint("CompressL0=", compressL0), func(t *testing.T) {
			opts := modelOptions()
			opts.DisableAutoCompactions = true
			opts.CompressL0 = compressL0
			e := openTest(t, vfs.NewMem(), opts, Deps{Codec: codec})
			defer e.Close()
			ts := uint64(0)
			flush := func(keys ...int) {
				for _, k := range keys {
					ts++
					require.NoError(t, e.Apply([]interfaces.Entry{set(fmt.Sprintf("k%03d", k), ts, strings.Repeat("z", 300))}))
				}
				_, err := e.Flush()
				require.NoError(t, err)
			}
			var even, odd []int
			for k := 0; k < 40; k += 2 {
				even, odd = append(even, k), append(odd, k+1)
			}
			flush(even...)                 // meets nothing: compressed
			flush(odd...)                  // meets the first: raw
			flush(100, 101, 102, 103, 104) // meets nothing again: compressed

			codecOf := func(f *fileMeta) interfaces.CodecID {
				te, err := e.tc.get(f)
				require.NoError(t, err)
				defer te.unref()
				return te.r.Properties().Codec
			}
			l0 := e.current.levels[0] // newest first
			require.Len(t, l0, 3)
			middle := interfaces.CodecNone
			if compressL0 {
				middle = codec.ID()
			}
			require.Equal(t, []interfaces.CodecID{codec.ID(), middle, codec.ID()},
				[]interfaces.CodecID{codecOf(l0[0]), codecOf(l0[1]), codecOf(l0[2])})
			require.Equal(t, []bool{true, compressL0, true}, []bool{l0[0].compressed, l0[1].compressed, l0[2].compressed})
			raw := l0[1].size

			require.NoError(t, e.Compact(interfaces.KeyRange{}))
			require.Empty(t, e.current.levels[0])
			var total uint64
			for l := 1; l < NumLevels; l++ {
				for _, f := range e.current.levels[l] {
					require.Equal(t, codec.ID(), codecOf(f), "table %s in L%d", f, l)
					require.True(t, f.compressed)
					total += f.size
				}
			}
			if !compressL0 {
				require.Less(t, total, raw, "all 45 keys compressed take less than 20 raw")
			}
			for k := range 40 {
				v, _, err := e.Get([]byte(fmt.Sprintf("k%03d", k)), interfaces.MaxTs)
				require.NoError(t, err)
				require.Equal(t, strings.Repeat("z", 300), string(v))
			}
			require.NoError(t, e.Check())
		})
	}
}

func TestCodecChange(t *testing.T) {
	a := rleCodec{id: 201, name: "rle-a"}
	b := rleCodec{id: 202, name: "rle-b"}
	fs := vfs.NewMem()
	opts := modelOptions()
	opts.DisableAutoCompactions = true
	opts.CompressL0 = true // so that flushed tables carry codec a
	e := openTest(t, fs, opts, Deps{Codec: a})
	for i := range 50 {
		require.NoError(t, e.Apply([]interfaces.Entry{set(fmt.Sprintf("k%03d", i), uint64(i+1), strings.Repeat("z", 300))}))
		if i%10 == 9 {
			_, err := e.Flush()
			require.NoError(t, err)
		}
	}
	codecsOf := func(e *Engine) map[interfaces.CodecID]int {
		out := map[interfaces.CodecID]int{}
		for l := range e.current.levels {
			for _, f := range e.current.levels[l] {
				te, err := e.tc.get(f)
				require.NoError(t, err)
				out[te.r.Properties().Codec]++
				te.unref()
			}
		}
		return out
	}
	require.Equal(t, map[interfaces.CodecID]int{201: 5}, codecsOf(e))
	require.NoError(t, e.Close())

	// Without codec a the tables cannot be read.
	e = openTest(t, fs, opts, Deps{Codec: b})
	_, _, err := e.Get([]byte("k001"), interfaces.MaxTs)
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
	require.NoError(t, e.Close())

	e = openTest(t, fs, opts, Deps{Codec: b, Codecs: []interfaces.Codec{a, b}})
	v, _, err := e.Get([]byte("k001"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("z", 300), string(v))
	require.NoError(t, e.Compact(interfaces.KeyRange{}))
	codecs := codecsOf(e)
	require.Len(t, codecs, 1)
	require.Positive(t, codecs[202])
	require.NoError(t, e.Close())
	e = openTest(t, fs, opts, Deps{Codec: b})
	defer e.Close()
	require.NoError(t, e.Check())

	// Two formats under one ID are refused.
	_, err = New(Options{Dir: "other"}, Deps{FS: fs, Codec: a, Codecs: []interfaces.Codec{rleCodec{id: 201, name: "imposter"}}})
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}

func TestCipherMismatch(t *testing.T) {
	fs := vfs.NewMem()
	g := newTestCipher(5)
	e := openTest(t, fs, modelOptions(), Deps{Cipher: g})
	require.NoError(t, e.Apply([]interfaces.Entry{set("secret", 1, "value")}))
	_, err := e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.Close())
	_, err = New(modelOptions(), Deps{FS: fs})
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
	_, err = New(modelOptions(), Deps{FS: fs, Cipher: newTestCipher(6)})
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
	e = openTest(t, fs, modelOptions(), Deps{Cipher: g})
	defer e.Close()
	v, _, err := e.Get([]byte("secret"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "value", string(v))

	plain := vfs.NewMem()
	e2 := openTest(t, plain, modelOptions(), Deps{})
	require.NoError(t, e2.Close())
	_, err = New(modelOptions(), Deps{FS: plain, Cipher: g})
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
}

func TestLocked(t *testing.T) {
	fs := vfs.NewMem()
	e := openTest(t, fs, modelOptions(), Deps{})
	_, err := New(modelOptions(), Deps{FS: fs})
	require.ErrorIs(t, err, vfs.ErrLocked)
	require.NoError(t, e.Close())
	e = openTest(t, fs, modelOptions(), Deps{})
	require.NoError(t, e.Close())
	require.ErrorIs(t, e.Close(), interfaces.ErrClosed)
}

// TestOpenCleansUp checks what open deletes and keeps: orphan tables and
// old manifests go, file numbers stay above every name seen.
func TestOpenCleansUp(t *testing.T) {
	fs := vfs.NewMem()
	e := openTest(t, fs, modelOptions(), Deps{})
	require.NoError(t, e.Apply([]interfaces.Entry{set("a", 1, "a")}))
	_, err := e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.Close())
	for _, name := range []string{"000999.sst", "MANIFEST-000500", "CURRENT.tmp", "notes.txt"} {
		f, err := fs.Create(filepath.Join("db", name))
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	e = openTest(t, fs, modelOptions(), Deps{})
	defer e.Close()
	names, err := fs.List("db")
	require.NoError(t, err)
	require.NotContains(t, names, "000999.sst")
	require.NotContains(t, names, "MANIFEST-000500")
	require.NotContains(t, names, "CURRENT.tmp")
	require.Contains(t, names, "notes.txt", "files the engine did not make are left alone")
	require.Greater(t, e.nextFileNum, uint64(999))
	require.NoError(t, e.Check())
	v, _, err := e.Get([]byte("a"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "a", string(v))
}

func TestTablesWithoutCurrent(t *testing.T) {
	fs := vfs.NewMem()
	e := openTest(t, fs, modelOptions(), Deps{})
	require.NoError(t, e.Apply([]interfaces.Entry{set("a", 1, "a")}))
	_, err := e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.Close())
	require.NoError(t, fs.Remove(filepath.Join("db", currentName)))
	_, err = New(modelOptions(), Deps{FS: fs})
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
	// A missing table is corruption too.
	fs2 := vfs.NewMem()
	e = openTest(t, fs2, modelOptions(), Deps{})
	require.NoError(t, e.Apply([]interfaces.Entry{set("a", 1, "a")}))
	_, err = e.Flush()
	require.NoError(t, err)
	num := e.current.levels[0][0].num
	require.NoError(t, e.Close())
	require.NoError(t, fs2.Remove(filepath.Join("db", tableName(num))))
	_, err = New(modelOptions(), Deps{FS: fs2})
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
}

// TestManifestRotation makes enough edits to start new manifests, and
// reopens.
func TestManifestRotation(t *testing.T) {
	fs := vfs.NewMem()
	e := openTest(t, fs, modelOptions(), Deps{})
	first := e.manifest.num
	for i := range 60 {
		require.NoError(t, e.Apply([]interfaces.Entry{set(fmt.Sprintf("k%02d", i%20), uint64(i+1), strings.Repeat("m", 100))}))
		_, err := e.Flush()
		require.NoError(t, err)
	}
	require.NotEqual(t, first, e.manifest.num)
	require.NoError(t, e.Check())
	names, err := fs.List("db")
	require.NoError(t, err)
	manifests := 0
	for _, n := range names {
		if k, _ := parseFileName(n); k == kindManifest {
			manifests++
		}
	}
	require.Equal(t, 1, manifests, "old manifests are deleted: %v", names)
	require.NoError(t, e.Close())
	e = openTest(t, fs, modelOptions(), Deps{})
	defer e.Close()
	require.Equal(t, uint64(60), e.durableTs.Load())
	require.NoError(t, e.Check())
}

// TestObsoleteTablesWaitForReaders checks that a table a compaction
// replaced stays on disk while an iterator uses it.
func TestObsoleteTablesWaitForReaders(t *testing.T) {
	fs := vfs.NewMem()
	opts := modelOptions()
	opts.DisableAutoCompactions = true
	e := openTest(t, fs, opts, Deps{})
	defer e.Close()
	for i := range 3 {
		require.NoError(t, e.Apply([]interfaces.Entry{set("k", uint64(i+1), fmt.Sprint(i))}))
		_, err := e.Flush()
		require.NoError(t, err)
	}
	var old []string
	for _, f := range e.current.levels[0] {
		old = append(old, filepath.Join("db", tableName(f.num)))
	}
	it, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true})
	require.NoError(t, err)
	require.NoError(t, e.Compact(interfaces.KeyRange{}))
	for _, p := range old {
		_, err := fs.Stat(p)
		require.NoError(t, err, "%s deleted while an iterator uses it", p)
	}
	require.NoError(t, e.Check(), "pinned tables are not orphans")
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	require.Equal(t, 3, n)
	require.NoError(t, it.Close())
	require.Eventually(t, func() bool {
		for _, p := range old {
			if _, err := fs.Stat(p); !errors.Is(err, fs2ErrNotExist) {
				return false
			}
		}
		return true
	}, 5*time.Second, time.Millisecond)
	require.NoError(t, e.Check())
}

var fs2ErrNotExist = fs.ErrNotExist

// TestStatsMetrics checks the figures Stats reports.
func TestStatsMetrics(t *testing.T) {
	e := openTest(t, vfs.NewMem(), modelOptions(), Deps{})
	defer e.Close()
	for i := range 200 {
		require.NoError(t, e.Apply([]interfaces.Entry{set(fmt.Sprintf("k%03d", i%50), uint64(i+1), strings.Repeat("x", 500))}))
	}
	_, err := e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.SetDiscardTs(150))
	require.NoError(t, e.Compact(interfaces.KeyRange{}))
	st, err := e.Stats()
	require.NoError(t, err)
	require.Equal(t, uint64(200), st.AppliedTs)
	require.Equal(t, uint64(200), st.DurableTs)
	require.Equal(t, uint64(150), st.DiscardTs)
	require.Positive(t, st.DiskBytes)
	for _, name := range []string{"lsm.l0.files", "lsm.flushes", "lsm.compactions", "lsm.compaction.bytes_read",
		"lsm.compaction.bytes_written", "lsm.stalls", "lsm.stall_nanos", "lsm.table_cache.hits", "lsm.table_cache.misses",
		"lsm.write_amp_x100", "lsm.level.1.bytes", "lsm.level.6.files"} {
		_, ok := st.Metrics[name]
		require.True(t, ok, name)
	}
	require.Positive(t, st.Metrics["lsm.flushes"])
	require.Positive(t, st.Metrics["lsm.compactions"])
	require.GreaterOrEqual(t, st.Metrics["lsm.write_amp_x100"], int64(100))
	var levels int64
	for l := range NumLevels {
		levels += st.Metrics[fmt.Sprintf("lsm.level.%d.bytes", l)]
	}
	require.Equal(t, st.DiskBytes-st.Metrics["lsm.manifest.bytes"], levels)
}

// TestAllocs checks that a Get allocates only the returned value and that
// iterator steps allocate nothing.
func TestAllocs(t *testing.T) {
	e := openTest(t, vfs.NewMem(), modelOptions(), Deps{Cache: newMapCache()})
	defer e.Close()
	value := strings.Repeat("v", 100)
	for i := range 2000 {
		require.NoError(t, e.Apply([]interfaces.Entry{set(fmt.Sprintf("k%04d", i), uint64(i+1), value)}))
	}
	_, err := e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.Apply([]interfaces.Entry{set("inmem", 3000, value)}))
	for _, k := range []string{"inmem", "k0007", "k1999"} {
		key := []byte(k)
		allocs := testing.AllocsPerRun(200, func() {
			if _, _, err := e.Get(key, interfaces.MaxTs); err != nil {
				t.Fatal(err)
			}
		})
		require.LessOrEqual(t, allocs, 1.0, "Get(%s)", k)
	}
	missing := []byte("k0007x")
	allocs := testing.AllocsPerRun(200, func() { _, _, _ = e.Get(missing, interfaces.MaxTs) })
	require.Zero(t, allocs, "Get of a missing key")
	for _, reverse := range []bool{false, true} {
		it, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs, Reverse: reverse})
		require.NoError(t, err)
		// Warm up: a first walk fills the block cache (a block read on a
		// miss allocates the block) and grows the iterator's buffers.
		for ok := it.First(); ok; ok = it.Next() {
		}
		require.True(t, it.First())
		allocs := testing.AllocsPerRun(500, func() {
			if !it.Next() {
				it.First()
			}
		})
		require.Zero(t, allocs, "iterator step, reverse=%v", reverse)
		require.NoError(t, it.Close())
	}
}

// TestApplySortsLargeBatches applies a batch large enough to go into the
// memtable in key order, holding several versions of some keys at
// different ts: every version must read back at its own ts, and a
// duplicate (key, ts) deep in such a batch is named by its index.
func TestApplySortsLargeBatches(t *testing.T) {
	e := openTest(t, vfs.NewMem(), modelOptions(), Deps{})
	defer e.Close()
	var batch []interfaces.Entry
	for ts := uint64(1); ts <= 4; ts++ {
		for i := 0; i < 50; i++ {
			// Descending keys within each ts, so the batch is not sorted.
			k := fmt.Sprintf("key-%03d", 49-i)
			batch = append(batch, set(k, ts, fmt.Sprintf("%s@%d", k, ts)))
		}
	}
	require.GreaterOrEqual(t, len(batch), sortedInsertMin)
	require.NoError(t, e.Apply(batch))
	for ts := uint64(1); ts <= 4; ts++ {
		for i := 0; i < 50; i++ {
			k := fmt.Sprintf("key-%03d", i)
			v, gotTs, err := e.Get([]byte(k), ts)
			require.NoError(t, err)
			require.Equal(t, ts, gotTs)
			require.Equal(t, fmt.Sprintf("%s@%d", k, ts), string(v))
		}
	}

	dup := make([]interfaces.Entry, 0, 60)
	for i := 0; i < 60; i++ {
		dup = append(dup, set(fmt.Sprintf("d-%03d", 59-i), 10, "v"))
	}
	dup[45] = set("d-003", 10, "again") // the same (key, ts) as dup[56]
	err := e.Apply(dup)
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	require.Contains(t, err.Error(), "d-003")
}
