package sstable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// compressible returns sorted entries whose values compress well under
// the run-length test codec.
func compressible(n int) []entry {
	es := make([]entry, n)
	for i := range es {
		es[i] = entry{key: string(binary.BigEndian.AppendUint32([]byte("k"), uint32(i))), ts: 1, kind: base.KindSet,
			value: strings.Repeat(string(rune('a'+i%26)), 100)}
	}
	return es
}

// dataBlockCodecs returns the codec ID in each data block's trailer.
func dataBlockCodecs(r *Reader, data []byte) []interfaces.CodecID {
	var ids []interfaces.CodecID
	for _, e := range r.index.entries {
		ids = append(ids, interfaces.CodecID(data[e.offset+e.length]))
	}
	return ids
}

func TestCodecs(t *testing.T) {
	es := compressible(2000)
	plain, pm := buildTable(t, es, WriterOptions{})
	f1, m1 := buildTable(t, es, WriterOptions{Codec: rle1})
	f2, m2 := buildTable(t, es, WriterOptions{Codec: rle2})
	require.Equal(t, interfaces.CodecID(200), m1.Codec)
	require.Equal(t, interfaces.CodecID(201), m2.Codec)
	require.Less(t, m1.Size, pm.Size/3, "the codec was used")
	both := []interfaces.Codec{rle1, rle2}
	for _, c := range []struct {
		data []byte
		m    Meta
		id   interfaces.CodecID
	}{{f1.bytes(), m1, 200}, {f2.bytes(), m2, 201}, {plain.bytes(), pm, 0}} {
		r := openTable(t, c.data, ReaderOptions{Codecs: both})
		for _, id := range dataBlockCodecs(r, c.data) {
			require.Equal(t, c.id, id)
		}
		checkTable(t, r, es, c.m)
		require.NoError(t, r.Close())
	}
	// A table whose codec is not configured does not open.
	_, err := Open(newMemFile("t", f1.bytes()), int64(m1.Size), ReaderOptions{Codecs: []interfaces.Codec{rle2}})
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
	require.False(t, interfaces.IsCorruption(err))

	// Blocks that do not shrink by an eighth are stored plain, with ID 0,
	// in a table that names the codec.
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]entry, 500)
	for i := range random {
		v := make([]byte, 100)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		random[i] = entry{key: string(binary.BigEndian.AppendUint32(nil, uint32(i))), ts: 1, kind: base.KindSet, value: string(v)}
	}
	f3, m3 := buildTable(t, random, WriterOptions{Codec: rle1})
	require.Equal(t, interfaces.CodecID(200), m3.Codec)
	r := openTable(t, f3.bytes(), ReaderOptions{Codecs: both})
	for _, id := range dataBlockCodecs(r, f3.bytes()) {
		require.Equal(t, interfaces.CodecNone, id)
	}
	checkTable(t, r, random, m3)
	require.NoError(t, r.Close())
}

func TestCipher(t *testing.T) {
	g := newGCM(t, 1)
	es := compressible(600)
	wo := WriterOptions{Cipher: g, FileNum: 42, BlockSize: 1024}
	f, m := buildTable(t, es, wo)
	data := f.bytes()
	// Values are not in the clear.
	require.NotContains(t, string(data), strings.Repeat("a", 50))
	r := openTable(t, data, ReaderOptions{Cipher: g, FileNum: 42})
	checkTable(t, r, es, m)
	require.NoError(t, r.Close())

	// Sealed and configuration must agree.
	_, err := Open(newMemFile("t", data), int64(len(data)), ReaderOptions{FileNum: 42})
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
	pf, _ := buildTable(t, es, WriterOptions{FileNum: 42})
	_, err = Open(newMemFile("t", pf.bytes()), int64(len(pf.data)), ReaderOptions{Cipher: g, FileNum: 42})
	require.ErrorIs(t, err, interfaces.ErrIncompatible)

	// Another cipher key: the envelope names an unknown key.
	_, err = Open(newMemFile("t", data), int64(len(data)), ReaderOptions{Cipher: newGCM(t, 2), FileNum: 42})
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	// Same id, other key: authentication fails, which is corruption.
	_, err = Open(newMemFile("t", data), int64(len(data)), ReaderOptions{Cipher: newGCM(t, 1), FileNum: 42})
	requireCorrupt(t, err)
	require.ErrorIs(t, err, interfaces.ErrDecrypt)

	// The table under another file number: moved into another file.
	_, err = Open(newMemFile("t", data), int64(len(data)), ReaderOptions{Cipher: g, FileNum: 43})
	requireCorrupt(t, err)
	require.ErrorIs(t, err, interfaces.ErrDecrypt)

	// Two data blocks of equal length swapped within the file.
	r = openTable(t, data, ReaderOptions{Cipher: g, FileNum: 42})
	x := r.index.entries
	require.Equal(t, x[0].length, x[1].length, "uniform entries make equal blocks")
	swapped := append([]byte(nil), data...)
	n := x[0].length + blockTrailerLen
	copy(swapped[x[0].offset:], data[x[1].offset:x[1].offset+n])
	copy(swapped[x[1].offset:], data[x[0].offset:x[0].offset+n])
	r2 := openTable(t, swapped, ReaderOptions{Cipher: g, FileNum: 42})
	_, _, _, _, err = r2.Get([]byte(es[0].key), interfaces.MaxTs, nil)
	requireCorrupt(t, err)
	require.ErrorIs(t, err, interfaces.ErrDecrypt)
	it := r2.NewIter(IterOptions{})
	require.False(t, it.First())
	requireCorrupt(t, it.Error())
	requireCorrupt(t, r2.Verify())

	// A data block of table 43 at the same offset of table 42.
	f43, _ := buildTable(t, es, WriterOptions{Cipher: g, FileNum: 43, BlockSize: 1024})
	d43 := f43.bytes()
	mixed := append([]byte(nil), data...)
	copy(mixed[x[1].offset:], d43[x[1].offset:x[1].offset+n])
	r3 := openTable(t, mixed, ReaderOptions{Cipher: g, FileNum: 42})
	_, _, _, _, err = r3.Get([]byte(es[0].key), interfaces.MaxTs, nil)
	require.NoError(t, err, "block 0 is intact")
	requireCorrupt(t, r3.Verify())

	// A codec byte forged along with its CRC fails authentication, since
	// the codec ID is in the additional data.
	forged := append([]byte(nil), data...)
	tr := x[0].offset + x[0].length
	forged[tr] = byte(rle1.ID())
	binary.LittleEndian.PutUint32(forged[tr+1:], blockCRC(forged[x[0].offset:tr], rle1.ID()))
	r4 := openTable(t, forged, ReaderOptions{Cipher: g, FileNum: 42, Codecs: []interfaces.Codec{rle1}})
	_, _, _, _, err = r4.Get([]byte(es[0].key), interfaces.MaxTs, nil)
	require.ErrorIs(t, err, interfaces.ErrDecrypt)
}

func requireCorrupt(t testing.TB, err error) {
	t.Helper()
	var ce *interfaces.CorruptionError
	require.True(t, errors.As(err, &ce), "want a *CorruptionError, got %v", err)
	require.True(t, interfaces.IsCorruption(err))
}

func TestCache(t *testing.T) {
	es := genEntries(rand.New(rand.NewPCG(1, 9)), 3000, 2, 50)
	f, m := buildTable(t, es, WriterOptions{FileNum: 5})
	c := newTestCache()
	mf := newMemFile("c.sst", f.bytes())
	r, err := Open(mf, int64(m.Size), ReaderOptions{FileNum: 5, Cache: c, CacheNamespace: 77})
	require.NoError(t, err)
	defer r.Close()
	key := []byte(es[len(es)/2].key)

	reads := mf.reads.Load()
	_, _, _, ok, err := r.Get(key, interfaces.MaxTs, nil)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(1), c.misses.Load())
	require.Equal(t, int64(1), c.sets.Load())
	require.Equal(t, reads+1, mf.reads.Load())
	for k := range c.m {
		require.Equal(t, uint64(77), k.Namespace)
		require.Equal(t, uint64(5), k.File)
	}
	_, _, _, ok, err = r.Get(key, interfaces.MaxTs, nil)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(1), c.hits.Load())
	require.Equal(t, reads+1, mf.reads.Load(), "a hit reads nothing")

	// A compaction-style scan uses cached blocks but adds none.
	it := r.NewIter(IterOptions{NoCacheFill: true})
	require.Len(t, collect(t, it), len(es))
	require.NoError(t, it.Close())
	require.Equal(t, int64(1), c.sets.Load())
	require.Equal(t, 1, c.len())

	// An ordinary scan fills the cache with every block.
	it = r.NewIter(IterOptions{})
	require.Len(t, collect(t, it), len(es))
	require.NoError(t, it.Close())
	require.Equal(t, int(m.NumDataBlocks), c.len())
	reads = mf.reads.Load()
	it = r.NewIter(IterOptions{})
	require.Len(t, collect(t, it), len(es))
	require.Equal(t, reads, mf.reads.Load(), "a warm scan reads nothing")

	// Verify bypasses the cache.
	require.NoError(t, r.Verify())
	require.Greater(t, mf.reads.Load(), reads+int64(m.NumDataBlocks))

	r.EvictFromCache()
	require.Zero(t, c.len())
}

// TestIterBounds checks that bounds spare block reads without changing
// what is returned inside them.
func TestIterBounds(t *testing.T) {
	es := compressible(3000)
	f, m := buildTable(t, es, WriterOptions{BlockSize: 1024})
	mf := newMemFile("b.sst", f.bytes())
	r, err := Open(mf, int64(m.Size), ReaderOptions{})
	require.NoError(t, err)
	defer r.Close()
	lo, hi := es[1000].key, es[1010].key
	it := r.NewIter(IterOptions{LowerBound: []byte(lo), UpperBound: []byte(hi)})
	defer it.Close()

	reads := mf.reads.Load()
	var got []string
	for ok := it.SeekGE(base.InternalKey{UserKey: []byte(lo), Trailer: base.SeekTrailer(interfaces.MaxTs)}); ok && string(it.Key().UserKey) < hi; ok = it.Next() {
		got = append(got, string(it.Key().UserKey))
	}
	require.NoError(t, it.Error())
	require.Len(t, got, 10)
	require.LessOrEqual(t, mf.reads.Load()-reads, int64(2), "no block past the upper bound")
	// Next past the bound stops at the block boundary.
	for it.Next() {
		require.GreaterOrEqual(t, string(it.Key().UserKey), hi)
	}
	require.NoError(t, it.Error())
	require.Less(t, mf.reads.Load()-reads, int64(4))

	reads = mf.reads.Load()
	got = got[:0]
	for ok := it.SeekLT(base.InternalKey{UserKey: []byte(hi), Trailer: base.SeekTrailer(interfaces.MaxTs)}); ok && string(it.Key().UserKey) >= lo; ok = it.Prev() {
		got = append(got, string(it.Key().UserKey))
	}
	require.Len(t, got, 10)
	for it.Prev() {
		require.Less(t, string(it.Key().UserKey), lo)
	}
	require.NoError(t, it.Error())
	require.Less(t, mf.reads.Load()-reads, int64(4))

	// Whole-table walks within the bounds return at least the bounded
	// entries.
	require.True(t, it.First() || it.Error() == nil)
	require.True(t, it.Last() || it.Error() == nil)
}

// TestZeroAlloc checks that warm point reads and iterator steps do not
// allocate.
func TestZeroAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	es := genEntries(rand.New(rand.NewPCG(2, 9)), 5000, 3, 100)
	f, _ := buildTable(t, es, WriterOptions{})
	c := newTestCache()
	r := openTable(t, f.bytes(), ReaderOptions{Cache: c})
	defer r.Close()
	it := r.NewIter(IterOptions{})
	collect(t, it) // warm the cache
	dst := make([]byte, 0, 1024)
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		e := es[i%len(es)]
		i += 7
		if _, _, _, _, err := r.Get([]byte(e.key), e.ts, dst[:0]); err != nil {
			t.Fatal(err)
		}
		if _, _, _, _, err := r.Get([]byte(e.key+"absent"), e.ts, dst[:0]); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs, "Get")
	it.First()
	allocs = testing.AllocsPerRun(2000, func() {
		if !it.Next() {
			it.First()
		}
	})
	require.Zero(t, allocs, "Next")
	it.Last()
	allocs = testing.AllocsPerRun(2000, func() {
		if !it.Prev() {
			it.Last()
		}
	})
	require.Zero(t, allocs, "Prev")
	allocs = testing.AllocsPerRun(500, func() {
		e := es[i%len(es)]
		i += 13
		it.SeekGE(e.ikey())
		it.SeekLT(e.ikey())
	})
	require.Zero(t, allocs, "Seek")

	// Without a cache, steps within a block and block reads into the
	// iterator's buffers allocate nothing either, once warm.
	r2 := openTable(t, f.bytes(), ReaderOptions{})
	defer r2.Close()
	it2 := r2.NewIter(IterOptions{})
	collect(t, it2)
	it2.First()
	allocs = testing.AllocsPerRun(2000, func() {
		if !it2.Next() {
			it2.First()
		}
	})
	require.Zero(t, allocs, "Next without cache")
}

func TestGetHashed(t *testing.T) {
	es := genEntries(rand.New(rand.NewPCG(3, 3)), 2000, 3, 20)
	f, _ := buildTable(t, es, WriterOptions{})
	r := openTable(t, f.bytes(), ReaderOptions{})
	defer r.Close()
	for _, e := range es {
		for _, k := range []string{e.key, e.key + "-"} {
			h := KeyHash([]byte(k))
			require.Equal(t, r.MayContain([]byte(k)), r.MayContainHash(h))
			v1, ts1, k1, ok1, err1 := r.Get([]byte(k), e.ts, nil)
			v2, ts2, k2, ok2, err2 := r.GetHashed([]byte(k), h, e.ts, nil)
			require.Equal(t, []any{v1, ts1, k1, ok1, err1}, []any{v2, ts2, k2, ok2, err2})
		}
	}
}

// TestConcurrentReads runs Gets and iterators on one Reader from several
// goroutines (meaningful under -race), with and without a cache.
func TestConcurrentReads(t *testing.T) {
	es := genEntries(rand.New(rand.NewPCG(4, 4)), 4000, 3, 40)
	f, _ := buildTable(t, es, WriterOptions{BlockSize: 1024})
	for _, cache := range []interfaces.Cache{nil, newTestCache()} {
		r := openTable(t, f.bytes(), ReaderOptions{Cache: cache})
		errs := make(chan error, 4)
		for g := range 4 {
			go func() {
				rng := rand.New(rand.NewPCG(uint64(g), 1))
				it := r.NewIter(IterOptions{NoCacheFill: g%2 == 0})
				defer it.Close()
				for range 300 {
					e := es[rng.IntN(len(es))]
					want, _ := modelGet(es, e.key, e.ts)
					v, ts, _, ok, err := r.Get([]byte(e.key), e.ts, nil)
					if err != nil || !ok || ts != want.ts || string(v) != want.value {
						errs <- fmt.Errorf("Get(%q, %d) = %q %d %v %v", e.key, e.ts, v, ts, ok, err)
						return
					}
					if !it.SeekGE(e.ikey()) || base.Compare(it.Key(), e.ikey()) != 0 {
						errs <- fmt.Errorf("SeekGE(%s) = %s %v", e.ikey(), it.Key(), it.Error())
						return
					}
					for range 20 {
						it.Next()
					}
				}
				errs <- nil
			}()
		}
		for range 4 {
			require.NoError(t, <-errs)
		}
		require.NoError(t, r.Close())
	}
}
