package sstable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// seedTables returns the bytes of a few real tables, plain (unsealed,
// uncompressed, so their blocks can be cut out and re-checksummed).
func seedTables(t testing.TB) [][]byte {
	var out [][]byte
	rng := rand.New(rand.NewPCG(5, 5))
	for _, c := range []struct {
		n  int
		wo WriterOptions
	}{
		{1, WriterOptions{}},
		{12, WriterOptions{BlockSize: MinBlockSize, RestartInterval: 2}},
		{60, WriterOptions{BlockSize: MinBlockSize, RestartInterval: 4, BloomBitsPerKey: -1}},
		{40, WriterOptions{BlockSize: 512, RestartInterval: 1}},
	} {
		f, _ := buildTable(t, genEntries(rng, c.n, 3, 12), c.wo)
		out = append(out, f.bytes())
	}
	return out
}

// tableParts cuts a plain table into its footer and raw blocks.
func tableParts(data []byte) (ft footer, props, idx, filt []byte, blocks [][]byte) {
	ft, err := decodeFooter(data[len(data)-footerLen:], int64(len(data)), "", false)
	if err != nil {
		panic(err)
	}
	cut := func(h handle) []byte { return data[h.offset : h.offset+h.length] }
	props, idx = cut(ft.properties), cut(ft.index)
	if ft.hasFilter() {
		filt = cut(ft.filter)
	}
	x, reason := decodeIndex(idx, ft.dataEnd())
	if reason != "" {
		panic(reason)
	}
	for i := range x.entries {
		blocks = append(blocks, cut(x.handle(i)))
	}
	return ft, props, idx, filt, blocks
}

// blockWalk decodes the entries of b forward from offset 0 and reports
// whether each restart point is the start of an entry that shares nothing.
func blockWalk(b block) (keys, vals [][]byte, offs []int, aligned bool, reason string) {
	var key []byte
	starts := map[int]bool{}
	restartOK := true
	isRestart := map[int]bool{}
	for r := range b.numRestarts {
		isRestart[b.restart(r)] = true
	}
	for p := 0; p < len(b.data); {
		prevLen := len(key)
		shared, unshared, vlen, q, ok := decodeEntryHeader(b.data, p, prevLen)
		if !ok {
			return keys, vals, offs, false, "malformed"
		}
		if isRestart[p] && shared != 0 {
			restartOK = false
		}
		key = append(key[:shared], b.data[q:q+unshared]...)
		if len(key) < base.TrailerLen {
			return keys, vals, offs, false, "short key"
		}
		keys = append(keys, bytes.Clone(key))
		vals = append(vals, b.data[q+unshared:q+unshared+vlen])
		offs = append(offs, p)
		starts[p] = true
		p = q + unshared + vlen
	}
	for r := range b.numRestarts {
		if !starts[b.restart(r)] {
			restartOK = false
		}
	}
	return keys, vals, offs, restartOK, ""
}

func FuzzBlock(f *testing.F) {
	for _, data := range seedTables(f) {
		_, _, idx, _, blocks := tableParts(data)
		f.Add(idx, []byte("key"), uint64(0))
		for _, b := range blocks {
			f.Add(b, []byte("key-00000007"), uint64(3))
		}
	}
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0}, []byte{}, uint64(1))
	f.Fuzz(func(t *testing.T, raw []byte, seekKey []byte, ts uint64) {
		b, reason := validateBlock(raw)
		if reason != "" {
			return
		}
		keys, vals, _, aligned, reason := blockWalk(b)
		var it blockIter
		it.init(b, "fuzz", 0)
		// Forward: agrees with the walk as far as it gets.
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			require.Less(t, n, len(keys))
			require.Equal(t, keys[n], it.key)
			require.Equal(t, vals[n], it.val)
			n++
		}
		if reason == "" {
			require.NoError(t, it.err)
			require.Equal(t, len(keys), n)
		} else {
			require.Error(t, it.err)
		}
		// Backward: terminates; when the restart points are where the
		// walk finds entries, it yields the walk reversed.
		var back [][]byte
		for ok := it.Last(); ok; ok = it.Prev() {
			require.LessOrEqual(t, len(back), len(b.data))
			back = append(back, bytes.Clone(it.key))
		}
		if reason == "" && aligned {
			require.NoError(t, it.err)
			require.Equal(t, len(keys), len(back))
			for i := range back {
				require.Equal(t, keys[len(keys)-1-i], back[i])
			}
		}
		// Seeks: never panic; on an ordered, aligned block they agree
		// with a binary search.
		trailer := base.SeekTrailer(ts)
		okGE := it.SeekGE(seekKey, trailer)
		geKey := bytes.Clone(it.key)
		okLT := it.SeekLT(seekKey, trailer)
		ltKey := bytes.Clone(it.key)
		pk, _, preason := b.seekGE(seekKey, trailer, nil)
		sorted := sort.SliceIsSorted(keys, func(i, j int) bool { return base.CompareEncoded(keys[i], keys[j]) < 0 })
		for i := 1; i < len(keys) && sorted; i++ {
			sorted = base.CompareEncoded(keys[i-1], keys[i]) < 0
		}
		if reason == "" && aligned && sorted {
			j := sort.Search(len(keys), func(i int) bool { return compareKey(keys[i], seekKey, trailer) >= 0 })
			require.Empty(t, preason)
			require.Equal(t, j < len(keys), okGE)
			if okGE {
				require.Equal(t, keys[j], geKey)
				require.Equal(t, keys[j], pk)
			} else {
				require.Nil(t, pk)
			}
			require.Equal(t, j > 0, okLT)
			if okLT {
				require.Equal(t, keys[j-1], ltKey)
			}
		}
	})
}

func FuzzIndex(f *testing.F) {
	for _, data := range seedTables(f) {
		ft, _, idx, _, _ := tableParts(data)
		f.Add(idx, ft.dataEnd(), []byte("key-00000007"))
	}
	f.Fuzz(func(t *testing.T, raw []byte, dataEnd uint64, seekKey []byte) {
		x, reason := decodeIndex(raw, dataEnd)
		if reason != "" {
			return
		}
		require.NotEmpty(t, x.entries)
		next := uint64(0)
		for i := range x.entries {
			h := x.handle(i)
			require.Equal(t, next, h.offset)
			require.NotZero(t, h.length)
			next = h.end()
			if i > 0 {
				require.Negative(t, base.Compare(x.separator(i-1), x.separator(i)))
			}
		}
		require.Equal(t, dataEnd, next)
		i := x.seek(seekKey, base.SeekTrailer(7))
		k := base.InternalKey{UserKey: seekKey, Trailer: base.SeekTrailer(7)}
		if i < len(x.entries) {
			require.GreaterOrEqual(t, base.Compare(x.separator(i), k), 0)
		}
		if i > 0 {
			require.Negative(t, base.Compare(x.separator(i-1), k))
		}
	})
}

func FuzzFilter(f *testing.F) {
	for _, data := range seedTables(f) {
		if _, _, _, filt, _ := tableParts(data); filt != nil {
			f.Add(filt, []byte("key-00000007\x00k\x00"), uint8(10))
		}
	}
	f.Add([]byte{}, []byte("a\x00b\x00c"), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, keys []byte, bits uint8) {
		// Decoding arbitrary bytes never panics.
		if fl, reason := decodeFilter(raw); reason == "" {
			fl.mayContain(hash64(keys))
		}
		// A built filter holds every key it was built from.
		ks := bytes.Split(keys, []byte{0})
		hashes := make([]uint64, len(ks))
		for i, k := range ks {
			hashes[i] = hash64(k)
		}
		bpk := 1 + int(bits)%MaxBloomBitsPerKey
		fl, reason := decodeFilter(buildFilter(nil, hashes, bpk))
		require.Empty(t, reason)
		for _, h := range hashes {
			require.True(t, fl.mayContain(h))
		}
	})
}

func FuzzFooter(f *testing.F) {
	for _, data := range seedTables(f) {
		f.Add(data[len(data)-footerLen:], int64(len(data)), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, size int64, sealed bool) {
		ft, err := decodeFooter(raw, size, "fuzz", sealed)
		if err != nil {
			require.True(t, interfaces.IsCorruption(err) || errors.Is(err, interfaces.ErrIncompatible), "%v", err)
			return
		}
		require.Equal(t, raw, ft.encode(nil))
		require.Equal(t, uint64(size-footerLen), ft.properties.end())
		require.Equal(t, ft.properties.offset, ft.index.end())
		require.LessOrEqual(t, ft.dataEnd(), ft.index.offset)
	})
}

func FuzzProperties(f *testing.F) {
	for _, data := range seedTables(f) {
		_, props, _, _, _ := tableParts(data)
		f.Add(props)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, s, l, reason := decodeProperties(raw)
		if reason != "" {
			return
		}
		p2, s2, l2, reason := decodeProperties(encodeProperties(nil, &p, s.Append(nil), l.Append(nil)))
		require.Empty(t, reason)
		require.Equal(t, p, p2)
		require.Equal(t, s.String(), s2.String())
		require.Equal(t, l.String(), l2.String())
	})
}

// refreshChecksums recomputes, in place, the CRCs of every block a plain
// table's footer and index point at, and the footer's, so damage reaches
// the structural checks behind the checksums. It does what it can with
// damaged handles and skips the rest.
func refreshChecksums(data []byte) {
	if len(data) < footerLen {
		return
	}
	size := uint64(len(data))
	fb := data[len(data)-footerLen:]
	fix := func(off, length uint64) {
		if off > size || length > size || off+length+blockTrailerLen > size-footerLen {
			return
		}
		tr := data[off+length:]
		binary.LittleEndian.PutUint32(tr[1:], blockCRC(data[off:off+length], interfaces.CodecID(tr[0])))
	}
	for i := range 3 {
		off, length := binary.LittleEndian.Uint64(fb[16*i:]), binary.LittleEndian.Uint64(fb[16*i+8:])
		fix(off, length)
		if i == 0 && off <= size && length <= size && off+length <= size {
			if b, reason := validateBlock(data[off : off+length]); reason == "" {
				var it blockIter
				it.init(b, "", 0)
				for ok := it.First(); ok; ok = it.Next() {
					o, n := binary.Uvarint(it.val)
					if n > 0 {
						if l, m := binary.Uvarint(it.val[n:]); m > 0 {
							fix(o, l)
						}
					}
				}
			}
		}
	}
	binary.LittleEndian.PutUint32(fb[64:], crc32.Checksum(fb[:64], castagnoli))
}

func FuzzTable(f *testing.F) {
	for _, data := range seedTables(f) {
		f.Add(data, false)
		f.Add(data, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		data = bytes.Clone(data)
		if fix {
			refreshChecksums(data)
		}
		fuzzReadTable(t, data)
	})
}

// fuzzReadTable reads a possibly damaged table every way. Nothing may
// panic, and every error must be corruption or incompatibility. When Verify
// passes, the table must be self-consistent: forward and backward
// iteration agree, and Get agrees with iteration.
func fuzzReadTable(t *testing.T, data []byte) {
	expected := func(err error) {
		if err != nil {
			require.True(t, interfaces.IsCorruption(err) || errors.Is(err, interfaces.ErrIncompatible), "%v", err)
		}
	}
	r, err := Open(newMemFile("fuzz.sst", data), int64(len(data)), ReaderOptions{FileName: "fuzz.sst", Cache: newTestCache()})
	if err != nil {
		expected(err)
		return
	}
	defer r.Close()
	verr := r.Verify()
	expected(verr)
	var es []entry
	it := r.NewIter(IterOptions{})
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		es = append(es, entry{string(k.UserKey), k.Ts(), k.Kind(), string(it.Value())})
		require.LessOrEqual(t, len(es), len(data))
	}
	expected(it.Error())
	var back []entry
	for ok := it.Last(); ok; ok = it.Prev() {
		k := it.Key()
		back = append(back, entry{string(k.UserKey), k.Ts(), k.Kind(), string(it.Value())})
		require.LessOrEqual(t, len(back), len(data))
	}
	expected(it.Close())
	for _, e := range es {
		_, _, _, _, err := r.Get([]byte(e.key), e.ts, nil)
		expected(err)
	}
	if verr != nil {
		return
	}
	require.Equal(t, len(es), len(back))
	for i := range es {
		require.Equal(t, es[i], back[len(back)-1-i])
	}
	for _, e := range es {
		for _, ts := range []uint64{e.ts, e.ts + 1, interfaces.MaxTs} {
			want, wantOK := modelGet(es, e.key, ts)
			v, gts, kind, ok, err := r.Get([]byte(e.key), ts, nil)
			require.NoError(t, err)
			require.Equal(t, wantOK, ok, fmt.Sprintf("Get(%q, %d)", e.key, ts))
			if ok {
				require.Equal(t, want, entry{e.key, gts, kind, string(v)})
			}
		}
	}
}

// TestRechecksummedDamage flips each byte of a small table and then
// recomputes every checksum, so the damage reaches the structural checks:
// nothing panics, every error is corruption, and whatever Verify accepts
// reads consistently.
func TestRechecksummedDamage(t *testing.T) {
	_, data := smallTable(t, WriterOptions{})
	step := 1
	if testing.Short() || raceEnabled {
		step = 5
	}
	for pos := 0; pos < len(data); pos += step {
		for _, mask := range []byte{0x01, 0x10, 0xff} {
			bad := bytes.Clone(data)
			bad[pos] ^= mask
			refreshChecksums(bad)
			fuzzReadTable(t, bad)
		}
	}
}
