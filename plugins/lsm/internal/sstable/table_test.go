package sstable

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
	"github.com/lightningdb/lightning/vfs"
)

// genEntries returns n sorted entries over about n/versions user keys, each
// with several versions, some tombstones.
func genEntries(rng *rand.Rand, n, versions, valueLen int) []entry {
	es := make([]entry, 0, n)
	for i := 0; len(es) < n; i++ {
		key := fmt.Sprintf("key-%08d", i*7)
		nv := 1 + rng.IntN(versions)
		ts := uint64(1 + rng.IntN(5))
		for v := 0; v < nv && len(es) < n; v++ {
			ts += uint64(1 + rng.IntN(3))
			e := entry{key: key, ts: ts, kind: base.KindSet, value: strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(valueLen+1))}
			if rng.IntN(5) == 0 {
				e.kind, e.value = base.KindDelete, ""
			}
			es = append(es, e)
		}
	}
	return sortEntries(es)
}

// checkTable checks every read path of r against es.
func checkTable(t *testing.T, r *Reader, es []entry, m Meta) {
	t.Helper()
	require.NoError(t, r.Verify())
	p := r.Properties()
	require.Equal(t, m.Properties, p)
	require.Equal(t, uint64(len(es)), p.NumEntries)
	require.Equal(t, es[0].ikey().String(), r.Smallest().String())
	require.Equal(t, es[len(es)-1].ikey().String(), r.Largest().String())
	require.Equal(t, 0, base.Compare(m.Smallest, r.Smallest()))
	require.Equal(t, 0, base.Compare(m.Largest, r.Largest()))

	// Every entry through iteration, both directions.
	it := r.NewIter(IterOptions{})
	got := collect(t, it)
	require.Equal(t, len(es), len(got))
	for i := range es {
		require.Equal(t, es[i], got[i], "entry %d", i)
	}
	require.NoError(t, it.Close())

	// Get at every interesting ts of every key: each version's ts, one
	// below it, and the extremes. Very large tables check a sample.
	stride := 1
	if len(es) > 20000 {
		stride = 7
	}
	for i, e := range es {
		if i%stride != 0 {
			continue
		}
		if i > 0 && es[i-1].key == e.key {
			checkGet(t, r, es, e.key, e.ts)
			checkGet(t, r, es, e.key, e.ts-1)
			continue
		}
		for _, ts := range []uint64{0, e.ts, e.ts - 1, e.ts + 1, interfaces.MaxTs} {
			checkGet(t, r, es, e.key, ts)
		}
		require.True(t, r.MayContain([]byte(e.key)))
		// Absent keys just around this one.
		checkGet(t, r, es, e.key+"\x00", interfaces.MaxTs)
		checkGet(t, r, es, e.key[:len(e.key)-1], interfaces.MaxTs)
	}
}

func TestRoundTripSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 2, 3, 15, 16, 17, 100, 1000, 100_000}
	if testing.Short() || raceEnabled {
		// The race detector makes the 100k-entry table take half a
		// minute; the plain run covers it.
		sizes = sizes[:len(sizes)-1]
	}
	for _, n := range sizes {
		for _, bs := range []int{MinBlockSize, 4096} {
			t.Run(fmt.Sprintf("n=%d/block=%d", n, bs), func(t *testing.T) {
				es := genEntries(rng, n, 4, 40)
				f, m := buildTable(t, es, WriterOptions{BlockSize: bs, FileNum: 7})
				r := openTable(t, f.bytes(), ReaderOptions{FileNum: 7})
				defer r.Close()
				checkTable(t, r, es, m)
			})
		}
	}
}

func TestRoundTripOptions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	es := genEntries(rng, 3000, 5, 120)
	cases := []struct {
		name string
		w    WriterOptions
		r    ReaderOptions
	}{
		{"defaults", WriterOptions{}, ReaderOptions{}},
		{"restart=1", WriterOptions{RestartInterval: 1, BlockSize: 512}, ReaderOptions{}},
		{"restart=1024", WriterOptions{RestartInterval: 1024, BlockSize: 64 << 10}, ReaderOptions{}},
		{"no-filter", WriterOptions{BloomBitsPerKey: -1}, ReaderOptions{}},
		{"bloom=1", WriterOptions{BloomBitsPerKey: 1}, ReaderOptions{}},
		{"codec", WriterOptions{Codec: rle1, BlockSize: 1024}, ReaderOptions{Codecs: []interfaces.Codec{rle2, rle1}}},
		{"cache", WriterOptions{BlockSize: 1024}, ReaderOptions{Cache: newTestCache(), CacheNamespace: 9}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, m := buildTable(t, es, c.w)
			r := openTable(t, f.bytes(), c.r)
			defer r.Close()
			checkTable(t, r, es, m)
			if c.w.BloomBitsPerKey < 0 {
				require.Zero(t, m.FilterSize)
				require.True(t, r.MayContain([]byte("absent")))
			}
		})
	}
}

func TestHugeKeysAndValues(t *testing.T) {
	big := strings.Repeat("v", interfaces.MaxValueSize)
	longKey := strings.Repeat("k", interfaces.MaxKeySize)
	es := sortEntries([]entry{
		{key: "a", ts: 1, kind: base.KindSet, value: "small"},
		{key: "b", ts: 5, kind: base.KindSet, value: big},
		{key: "b", ts: 4, kind: base.KindSet, value: big[:1<<20]},
		{key: longKey, ts: 3, kind: base.KindSet, value: "x"},
		{key: longKey, ts: 2, kind: base.KindDelete},
		{key: longKey + "", ts: 1, kind: base.KindSet, value: big[:70000]},
		{key: strings.Repeat("k", interfaces.MaxKeySize-1) + "l", ts: 9, kind: base.KindSet, value: "y"},
		{key: "z", ts: 1, kind: base.KindSet, value: big},
	})
	for _, c := range []struct {
		name string
		w    WriterOptions
		r    ReaderOptions
	}{
		{"plain", WriterOptions{}, ReaderOptions{}},
		{"codec+cipher", WriterOptions{Codec: rle1, Cipher: nil}, ReaderOptions{Codecs: []interfaces.Codec{rle1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "codec+cipher" && raceEnabled {
				t.Skip("the test codec is byte-at-a-time: too slow on 16 MiB under the race detector")
			}
			if c.name == "codec+cipher" {
				g := newGCM(t, 1)
				c.w.Cipher, c.r.Cipher = g, g
			}
			f, m := buildTable(t, es, c.w)
			r := openTable(t, f.bytes(), c.r)
			defer r.Close()
			checkTable(t, r, es, m)
		})
	}
}

func TestManyVersionsSpanningBlocks(t *testing.T) {
	var es []entry
	for ts := uint64(1); ts <= 2000; ts++ {
		e := entry{key: "hot", ts: ts * 2, kind: base.KindSet, value: fmt.Sprintf("v%d", ts)}
		if ts%7 == 0 {
			e.kind, e.value = base.KindDelete, ""
		}
		es = append(es, e)
	}
	es = append(es, entry{key: "hos", ts: 3, kind: base.KindSet, value: "before"},
		entry{key: "hou", ts: 1, kind: base.KindSet, value: "after"})
	es = sortEntries(es)
	f, m := buildTable(t, es, WriterOptions{BlockSize: MinBlockSize, RestartInterval: 4})
	require.Greater(t, m.NumDataBlocks, uint64(50))
	r := openTable(t, f.bytes(), ReaderOptions{})
	defer r.Close()
	checkTable(t, r, es, m)
	for ts := uint64(0); ts <= 4002; ts++ {
		checkGet(t, r, es, "hot", ts)
	}
	// Seeks into the middle of the version run, both directions.
	it := r.NewIter(IterOptions{})
	defer it.Close()
	for ts := uint64(0); ts <= 4002; ts += 13 {
		k := base.InternalKey{UserKey: []byte("hot"), Trailer: base.SeekTrailer(ts)}
		i := modelSeekGE(es, k)
		if it.SeekGE(k) {
			require.Equal(t, es[i].ikey().String(), it.Key().String())
		} else {
			require.Equal(t, len(es), i)
		}
		if it.SeekLT(k) {
			require.Equal(t, es[i-1].ikey().String(), it.Key().String())
		} else {
			require.Equal(t, 0, i)
		}
	}
}

func TestEmptyTableRefused(t *testing.T) {
	f := newMemFile("e.sst", nil)
	w := NewWriter(f, WriterOptions{})
	_, err := w.Finish()
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}

func TestWriterRejects(t *testing.T) {
	k := func(s string, ts uint64, kind base.Kind) base.InternalKey {
		return base.MakeInternalKey([]byte(s), ts, kind)
	}
	w := NewWriter(newMemFile("w.sst", nil), WriterOptions{})
	require.NoError(t, w.Add(k("b", 5, base.KindSet), []byte("x")))
	for _, c := range []struct {
		name  string
		key   base.InternalKey
		value []byte
	}{
		{"same key", k("b", 5, base.KindSet), nil},
		{"same key other kind", k("b", 5, base.KindDelete), nil},
		{"older key first", k("b", 6, base.KindSet), nil},
		{"smaller user key", k("a", 9, base.KindSet), nil},
		{"unknown kind", k("c", 1, 7), nil},
		{"tombstone with value", k("c", 1, base.KindDelete), []byte("v")},
		{"key too long", k(strings.Repeat("x", interfaces.MaxKeySize+1), 1, base.KindSet), nil},
		{"value too long", k("c", 1, base.KindSet), make([]byte, interfaces.MaxValueSize+1)},
	} {
		require.ErrorIs(t, w.Add(c.key, c.value), interfaces.ErrInvalidArgument, c.name)
	}
	// Rejections changed nothing: the writer carries on.
	require.NoError(t, w.Add(k("b", 4, base.KindDelete), nil))
	m, err := w.Finish()
	require.NoError(t, err)
	require.Equal(t, uint64(2), m.NumEntries)
	require.Equal(t, uint64(1), m.NumDeletions)
	require.ErrorIs(t, w.Add(k("c", 1, base.KindSet), nil), interfaces.ErrInvalidArgument)
	_, err = w.Finish()
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}

func TestWriterOptionsValidate(t *testing.T) {
	for _, o := range []WriterOptions{
		{BlockSize: MinBlockSize - 1},
		{BlockSize: MaxBlockSize + 1},
		{RestartInterval: -1},
		{RestartInterval: maxRestartInterval + 1},
		{BloomBitsPerKey: MaxBloomBitsPerKey + 1},
	} {
		w := NewWriter(newMemFile("w.sst", nil), o)
		require.ErrorIs(t, w.Add(base.MakeInternalKey([]byte("a"), 1, base.KindSet), nil), interfaces.ErrInvalidArgument, "%+v", o)
		_, err := w.Finish()
		require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	}
	var o WriterOptions
	o.EnsureDefaults()
	require.NoError(t, o.Validate())
	require.Equal(t, WriterOptions{BlockSize: DefaultBlockSize, RestartInterval: DefaultRestartInterval, BloomBitsPerKey: DefaultBloomBitsPerKey}, o)
}

func TestWriterIOErrors(t *testing.T) {
	es := genEntries(rand.New(rand.NewPCG(5, 6)), 2000, 2, 50)
	// A failed write sticks, whenever it happens.
	f := newMemFile("w.sst", nil)
	w := NewWriter(f, WriterOptions{})
	f.failWrite.Store(true)
	var err error
	for _, e := range es {
		if err = w.Add(e.ikey(), []byte(e.value)); err != nil {
			break
		}
	}
	if err == nil {
		_, err = w.Finish()
	}
	require.ErrorIs(t, err, errTestIO)
	f.failWrite.Store(false)
	_, err = w.Finish()
	require.ErrorIs(t, err, errTestIO)

	// A failed sync fails Finish.
	f = newMemFile("w.sst", nil)
	f.failSync.Store(true)
	w = NewWriter(f, WriterOptions{})
	require.NoError(t, w.Add(es[0].ikey(), []byte(es[0].value)))
	_, err = w.Finish()
	require.ErrorIs(t, err, errTestIO)
}

func TestEstimatedSize(t *testing.T) {
	es := genEntries(rand.New(rand.NewPCG(7, 8)), 5000, 1, 100)
	f := newMemFile("w.sst", nil)
	w := NewWriter(f, WriterOptions{})
	prev := w.EstimatedSize()
	for _, e := range es {
		require.NoError(t, w.Add(e.ikey(), []byte(e.value)))
		cur := w.EstimatedSize()
		require.GreaterOrEqual(t, cur, prev)
		prev = cur
	}
	m, err := w.Finish()
	require.NoError(t, err)
	require.InEpsilon(t, float64(m.Size), float64(prev), 0.05)
}

func TestReaderIOErrorsAndClose(t *testing.T) {
	es := genEntries(rand.New(rand.NewPCG(9, 10)), 500, 2, 50)
	f, _ := buildTable(t, es, WriterOptions{BlockSize: 512})
	mf := newMemFile("r.sst", f.bytes())
	mf.failRead.Store(true)
	_, err := Open(mf, int64(len(mf.data)), ReaderOptions{})
	require.ErrorIs(t, err, errTestIO)
	require.False(t, interfaces.IsCorruption(err))

	mf.failRead.Store(false)
	r, err := Open(mf, int64(len(mf.data)), ReaderOptions{})
	require.NoError(t, err)
	mf.failRead.Store(true)
	_, _, _, _, err = r.Get([]byte(es[0].key), interfaces.MaxTs, nil)
	require.ErrorIs(t, err, errTestIO)
	it := r.NewIter(IterOptions{})
	require.False(t, it.First())
	require.ErrorIs(t, it.Error(), errTestIO)
	require.ErrorIs(t, it.Close(), errTestIO)
	require.ErrorIs(t, r.Verify(), errTestIO)
	mf.failRead.Store(false)

	require.NoError(t, r.Close())
	require.ErrorIs(t, r.Close(), interfaces.ErrClosed)
	_, _, _, _, err = r.Get([]byte(es[0].key), interfaces.MaxTs, nil)
	require.ErrorIs(t, err, interfaces.ErrClosed)
	require.ErrorIs(t, r.Verify(), interfaces.ErrClosed)
	it = r.NewIter(IterOptions{})
	require.False(t, it.First())
	require.ErrorIs(t, it.Error(), interfaces.ErrClosed)
}

// TestOnMemFS writes and reads a table through vfs.MemFS, as the engine
// does.
func TestOnMemFS(t *testing.T) {
	fs := vfs.NewMem()
	es := genEntries(rand.New(rand.NewPCG(11, 12)), 3000, 3, 64)
	f, err := fs.Create("000001.sst")
	require.NoError(t, err)
	w := NewWriter(f, WriterOptions{FileNum: 1})
	for _, e := range es {
		require.NoError(t, w.Add(e.ikey(), []byte(e.value)))
	}
	m, err := w.Finish()
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, fs.SyncDir(""))
	st, err := fs.Stat("000001.sst")
	require.NoError(t, err)
	require.Equal(t, int64(m.Size), st.Size())
	rf, err := fs.Open("000001.sst")
	require.NoError(t, err)
	r, err := Open(rf, st.Size(), ReaderOptions{FileNum: 1, FileName: "000001.sst", Cache: newTestCache()})
	require.NoError(t, err)
	checkTable(t, r, es, m)
	require.NoError(t, r.Close())
}

func TestGetAppendsToDst(t *testing.T) {
	es := []entry{{key: "a", ts: 2, kind: base.KindSet, value: "new"}, {key: "a", ts: 1, kind: base.KindSet, value: "old"},
		{key: "b", ts: 3, kind: base.KindDelete}}
	f, _ := buildTable(t, es, WriterOptions{})
	r := openTable(t, f.bytes(), ReaderOptions{})
	defer r.Close()
	v, ts, kind, ok, err := r.Get([]byte("a"), 1, []byte("prefix:"))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "prefix:old", string(v))
	require.Equal(t, uint64(1), ts)
	require.Equal(t, base.KindSet, kind)
	v, ts, kind, ok, err = r.Get([]byte("b"), 10, []byte("prefix:"))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "prefix:", string(v))
	require.Equal(t, uint64(3), ts)
	require.Equal(t, base.KindDelete, kind)
}

func TestNotATable(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("short"), bytes.Repeat([]byte{0}, 200)} {
		_, err := Open(newMemFile("x", data), int64(len(data)), ReaderOptions{FileName: "x"})
		var ce *interfaces.CorruptionError
		require.True(t, errors.As(err, &ce), "%v", err)
		require.Equal(t, "x", ce.File)
	}
}

// TestSeparatorBoundaries probes every index separator: the user key of
// the separator and the keys just around it, at the separator's trailer,
// the largest trailer and ordinary ones, through Get and both seeks.
func TestSeparatorBoundaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	var es []entry
	for range 3000 {
		k := make([]byte, 1+rng.IntN(12))
		for i := range k {
			k[i] = "abcdxyz\x00\xff"[rng.IntN(9)]
		}
		es = append(es, entry{key: string(k), ts: 1 + rng.Uint64N(3), kind: base.KindSet, value: "v" + string(k)})
	}
	es = sortEntries(es)
	f, m := buildTable(t, es, WriterOptions{BlockSize: MinBlockSize, RestartInterval: 3})
	r := openTable(t, f.bytes(), ReaderOptions{})
	defer r.Close()
	checkTable(t, r, es, m)
	shortened := 0
	it := r.NewIter(IterOptions{})
	defer it.Close()
	for i := range r.index.entries {
		sep := r.index.separator(i)
		if sep.Trailer == separatorTrailer {
			shortened++
		}
		for _, uk := range []string{string(sep.UserKey), string(sep.UserKey) + "\x00", string(sep.UserKey[:max(len(sep.UserKey)-1, 0)])} {
			for _, tr := range []base.Trailer{sep.Trailer, separatorTrailer, base.SeekTrailer(0), base.SeekTrailer(1), base.SeekTrailer(2), base.MakeTrailer(2, base.KindSet)} {
				k := base.InternalKey{UserKey: []byte(uk), Trailer: tr}
				checkGet(t, r, es, uk, tr.Ts())
				j := modelSeekGE(es, k)
				if it.SeekGE(k) {
					require.Equal(t, es[j].ikey().String(), it.Key().String())
				} else {
					require.NoError(t, it.Error())
					require.Equal(t, len(es), j)
				}
				if it.SeekLT(k) {
					require.Equal(t, es[j-1].ikey().String(), it.Key().String())
				} else {
					require.NoError(t, it.Error())
					require.Equal(t, 0, j)
				}
			}
		}
	}
	require.Greater(t, shortened, len(r.index.entries)/4, "the keys make shortened separators")
}
