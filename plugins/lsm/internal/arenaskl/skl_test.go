package arenaskl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

func ikey(ukey string, ts uint64) base.InternalKey {
	return base.MakeInternalKey([]byte(ukey), ts, base.KindSet)
}

// collect returns the keys of l, walking forward, as strings "ukey#ts".
func collect(t testing.TB, l *Skiplist) []string {
	t.Helper()
	var out []string
	it := l.NewIter()
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, fmt.Sprintf("%s#%d", it.Key().UserKey, it.Key().Ts()))
	}
	return out
}

// collectReverse returns the keys of l walking backward, reversed back
// into ascending order, so it can be compared with collect.
func collectReverse(t testing.TB, l *Skiplist) []string {
	t.Helper()
	var out []string
	it := l.NewIter()
	for ok := it.Last(); ok; ok = it.Prev() {
		out = append(out, fmt.Sprintf("%s#%d", it.Key().UserKey, it.Key().Ts()))
	}
	slices.Reverse(out)
	return out
}

func TestEmptyList(t *testing.T) {
	l := New(1 << 16)
	require.Equal(t, 0, l.Len())
	require.Equal(t, maxNodeSize, l.Size())
	require.Equal(t, 1<<16, l.Capacity())
	require.Equal(t, 1, l.Height())
	require.NoError(t, l.Check())

	var it Iterator
	it.Init(l)
	require.False(t, it.Valid())
	require.False(t, it.Next(), "Next on an unpositioned iterator")
	require.False(t, it.Prev(), "Prev on an unpositioned iterator")
	require.False(t, it.First())
	require.False(t, it.Last())
	require.False(t, it.SeekGE(ikey("a", 1)))
	require.False(t, it.SeekLT(ikey("a", 1)))
	require.False(t, it.SeekGE(base.InternalKey{}))
	require.False(t, it.Valid())
	require.Nil(t, it.Key().UserKey)
	require.NoError(t, it.Error())
	require.NoError(t, it.Close())
}

func TestAddOrders(t *testing.T) {
	sorted := []base.InternalKey{
		ikey("", 3), ikey("", 1),
		ikey("\x00", 1),
		ikey("a", 9), ikey("a", 2),
		ikey("a\x00", 5),
		ikey("abcdefg", 1),
		ikey("abcdefgh", 1),
		ikey("abcdefgh\x00", 1),
		ikey("abcdefghi", 7), ikey("abcdefghi", 6),
		ikey("abcdefgi", 1),
		ikey("b", 1),
		ikey("\xff\xff\xff\xff\xff\xff\xff\xff\xff", 1),
	}
	want := make([]string, len(sorted))
	for i, k := range sorted {
		want[i] = fmt.Sprintf("%s#%d", k.UserKey, k.Ts())
	}
	orders := map[string]func([]base.InternalKey) []base.InternalKey{
		"ascending": func(ks []base.InternalKey) []base.InternalKey { return ks },
		"descending": func(ks []base.InternalKey) []base.InternalKey {
			ks = slices.Clone(ks)
			slices.Reverse(ks)
			return ks
		},
		"shuffled": func(ks []base.InternalKey) []base.InternalKey {
			ks = slices.Clone(ks)
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(ks), func(i, j int) { ks[i], ks[j] = ks[j], ks[i] })
			return ks
		},
		"interleaved": func(ks []base.InternalKey) []base.InternalKey {
			var out []base.InternalKey
			for i := 0; i < len(ks); i += 2 {
				out = append(out, ks[i])
			}
			for i := 1; i < len(ks); i += 2 {
				out = append(out, ks[i])
			}
			return out
		},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			l := New(1 << 16)
			for _, k := range order(sorted) {
				require.NoError(t, l.Add(k, []byte("v:"+string(k.UserKey))))
			}
			require.Equal(t, len(sorted), l.Len())
			require.Equal(t, want, collect(t, l))
			require.Equal(t, want, collectReverse(t, l))
			require.NoError(t, l.Check())

			it := l.NewIter()
			for ok := it.First(); ok; ok = it.Next() {
				require.Equal(t, "v:"+string(it.Key().UserKey), string(it.Value()))
				require.Equal(t, base.KindSet, it.Key().Kind())
			}
		})
	}
}

func TestDuplicateKey(t *testing.T) {
	l := New(1 << 16)
	require.NoError(t, l.Add(ikey("b", 5), []byte("first")))
	// Immediately after the insert, the cached splice starts at the key.
	require.ErrorIs(t, l.Add(ikey("b", 5), []byte("second")), ErrRecordExists)
	require.NoError(t, l.Add(ikey("a", 1), nil))
	require.NoError(t, l.Add(ikey("c", 1), nil))
	require.NoError(t, l.Add(ikey("b", 6), nil))
	require.NoError(t, l.Add(ikey("b", 4), nil))
	size := l.Size()
	// Found by a search from the top, now that the splice is elsewhere.
	require.ErrorIs(t, l.Add(ikey("b", 5), []byte("third")), ErrRecordExists)
	require.ErrorIs(t, l.Add(ikey("a", 1), nil), ErrRecordExists)
	require.ErrorIs(t, l.Add(ikey("c", 1), nil), ErrRecordExists)
	require.Equal(t, size, l.Size(), "a refused Add takes no room")
	require.Equal(t, 5, l.Len())
	// Same user key and ts but another kind is another internal key.
	require.NoError(t, l.Add(base.MakeInternalKey([]byte("b"), 5, base.KindDelete), nil))

	it := l.NewIter()
	require.True(t, it.SeekGE(ikey("b", 5)))
	require.Equal(t, "first", string(it.Value()))
	require.Equal(t, []string{"a#1", "b#6", "b#5", "b#5", "b#4", "c#1"}, collect(t, l))
	require.NoError(t, l.Check())
}

// TestDuplicateKeepsSplice is a regression test: a refused duplicate must
// leave the insert position cache consistent across levels, or the next
// ascending insert links its upper levels next to the duplicate.
func TestDuplicateKeepsSplice(t *testing.T) {
	for seed := range uint64(20) {
		l := New(1 << 20)
		l.rng = seed
		for i := range 100 {
			require.NoError(t, l.Add(ikey(fmt.Sprintf("k%03d", i), 1), nil))
		}
		// A key of height 1, far from where the inserts below go: its
		// duplicate is found at level 0, after the search has recomputed
		// the cached position of every level above.
		var shortKey base.InternalKey
		it := l.NewIter()
		for ok := it.First(); ok && shortKey.UserKey == nil; ok = it.Next() {
			if l.arena.nodeHeight(it.nd) == 1 {
				shortKey = it.Key().Clone()
			}
		}
		require.NotNil(t, shortKey.UserKey)
		for r := range 30 {
			require.NoError(t, l.Add(ikey(fmt.Sprintf("k050/%02d", r), 1), nil))
			require.ErrorIs(t, l.Add(shortKey, nil), ErrRecordExists)
		}
		require.NoError(t, l.Check(), "seed %d", seed)
	}
}

// TestPointLookup is the engine's Get: SeekGE to (ukey, SeekTrailer(ts)),
// then check the user key.
func TestPointLookup(t *testing.T) {
	l := New(1 << 16)
	for _, k := range []base.InternalKey{
		ikey("apple", 3), ikey("apple", 7), ikey("banana", 5),
		base.MakeInternalKey([]byte("apple"), 9, base.KindDelete),
		ikey("cherry", 1), ikey("applesauce", 4),
	} {
		require.NoError(t, l.Add(k, []byte(fmt.Sprintf("%s@%d", k.UserKey, k.Ts()))))
	}
	cases := []struct {
		ukey   string
		readTs uint64
		wantTs uint64 // 0: not found
		kind   base.Kind
	}{
		{"apple", 2, 0, 0},
		{"apple", 3, 3, base.KindSet},
		{"apple", 6, 3, base.KindSet},
		{"apple", 7, 7, base.KindSet},
		{"apple", 8, 7, base.KindSet},
		{"apple", 9, 9, base.KindDelete},
		{"apple", interfaces.MaxTs, 9, base.KindDelete},
		{"applesauce", 3, 0, 0},
		{"applesauce", 4, 4, base.KindSet},
		{"appl", 100, 0, 0},
		{"banana", 100, 5, base.KindSet},
		{"blueberry", 100, 0, 0},
		{"cherry", 1, 1, base.KindSet},
		{"zucchini", 1, 0, 0},
		{"", 1, 0, 0},
	}
	it := l.NewIter()
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s@%d", c.ukey, c.readTs), func(t *testing.T) {
			ok := it.SeekGE(base.InternalKey{UserKey: []byte(c.ukey), Trailer: base.SeekTrailer(c.readTs)})
			found := ok && string(it.Key().UserKey) == c.ukey
			if c.wantTs == 0 {
				require.False(t, found)
				return
			}
			require.True(t, found)
			require.Equal(t, c.wantTs, it.Key().Ts())
			require.Equal(t, c.kind, it.Key().Kind())
			require.Equal(t, fmt.Sprintf("%s@%d", c.ukey, c.wantTs), string(it.Value()))
		})
	}
}

func TestSeekLTAndTurnAround(t *testing.T) {
	l := New(1 << 16)
	for i := 0; i < 100; i += 2 {
		require.NoError(t, l.Add(ikey(fmt.Sprintf("k%03d", i), 1), nil))
	}
	it := l.NewIter()
	require.True(t, it.SeekLT(ikey("k051", 1)))
	require.Equal(t, "k050", string(it.Key().UserKey))
	require.True(t, it.SeekLT(ikey("k050", 1)))
	require.Equal(t, "k048", string(it.Key().UserKey))
	// (k050, ts 2) sorts before (k050, ts 1).
	require.True(t, it.SeekLT(ikey("k050", 2)))
	require.Equal(t, "k048", string(it.Key().UserKey))
	require.True(t, it.SeekLT(ikey("k050", 0)))
	require.Equal(t, "k050", string(it.Key().UserKey))
	require.False(t, it.SeekLT(ikey("k000", 1)))
	require.True(t, it.SeekLT(ikey("z", 1)))
	require.Equal(t, "k098", string(it.Key().UserKey))

	require.True(t, it.SeekGE(ikey("k051", 1)))
	require.Equal(t, "k052", string(it.Key().UserKey))
	require.True(t, it.Prev())
	require.Equal(t, "k050", string(it.Key().UserKey))
	require.True(t, it.Next())
	require.Equal(t, "k052", string(it.Key().UserKey))
	require.False(t, it.SeekGE(ikey("k099", 1)))

	require.True(t, it.First())
	require.False(t, it.Prev(), "Prev before the first entry")
	require.False(t, it.Valid())
	require.True(t, it.Last())
	require.False(t, it.Next(), "Next after the last entry")
	require.False(t, it.Next(), "an exhausted iterator stays exhausted")
	require.NoError(t, it.Close())
	require.False(t, it.Valid())
}

func TestEmptyKeyAndValue(t *testing.T) {
	l := New(1 << 16)
	require.NoError(t, l.Add(base.InternalKey{Trailer: base.MakeTrailer(1, base.KindSet)}, nil))
	require.NoError(t, l.Add(ikey("", 2), []byte{}))
	it := l.NewIter()
	require.True(t, it.First())
	require.Empty(t, it.Key().UserKey)
	require.Equal(t, uint64(2), it.Key().Ts())
	require.Empty(t, it.Value())
	require.True(t, it.Next())
	require.Equal(t, uint64(1), it.Key().Ts())
	require.False(t, it.Next())
	require.NoError(t, l.Check())
}

// TestReturnedSlicesAreCapped checks that appending to a returned key or
// value cannot overwrite the arena.
func TestReturnedSlicesAreCapped(t *testing.T) {
	l := New(1 << 16)
	require.NoError(t, l.Add(ikey("a", 1), []byte("x")))
	require.NoError(t, l.Add(ikey("b", 1), []byte("y")))
	it := l.NewIter()
	require.True(t, it.First())
	_ = append(it.Key().UserKey, 'Z')
	_ = append(it.Value(), 'Z')
	require.Equal(t, []string{"a#1", "b#1"}, collect(t, l))
	require.True(t, it.First())
	require.Equal(t, "x", string(it.Value()))
	require.True(t, it.Next())
	require.Equal(t, "y", string(it.Value()))
}

func TestArenaFull(t *testing.T) {
	l := New(4 << 10)
	val := bytes.Repeat([]byte("v"), 100)
	var added []base.InternalKey
	for i := 0; ; i++ {
		k := ikey(fmt.Sprintf("key%05d", (i*7919)%10007), 1)
		fits := l.Fits(len(k.UserKey), len(val))
		size, n := l.Size(), l.Len()
		err := l.Add(k, val)
		if !fits {
			require.ErrorIs(t, err, ErrArenaFull)
			require.Equal(t, size, l.Size(), "a refused Add takes no room")
			require.Equal(t, n, l.Len())
			break
		}
		require.NoError(t, err)
		require.LessOrEqual(t, l.Size(), l.Capacity())
		added = append(added, k)
	}
	require.NotEmpty(t, added)
	// Fits checks room for the tallest node, so the arena ends less than
	// one full entry short of capacity.
	require.Greater(t, l.Size()+EntrySize(8, 100)+nodeAlign, l.Capacity())
	// A smaller entry may still fit after a larger one failed.
	for ts := uint64(1); l.Fits(0, 0); ts++ {
		k := ikey("", ts)
		require.NoError(t, l.Add(k, nil))
		added = append(added, k)
	}
	require.ErrorIs(t, l.Add(ikey("", 1<<40), nil), ErrArenaFull)
	slices.SortFunc(added, base.Compare)
	want := make([]string, len(added))
	for i, k := range added {
		want[i] = fmt.Sprintf("%s#%d", k.UserKey, k.Ts())
	}
	require.Equal(t, want, collect(t, l))
	require.Equal(t, want, collectReverse(t, l))
	require.NoError(t, l.Check())
}

// TestBatchFits checks the batch rule of EntrySize: entries whose sizes
// add up to at most Available all fit, whatever heights they draw, and
// Fits agrees with EntrySize and Available at every step.
func TestBatchFits(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 200 {
		l := New(200 + rng.IntN(5000)) // capacities not a multiple of 8 too
		l.rng = uint64(round)
		budget := l.Available()
		var batch [][2]int
		for {
			k, v := rng.IntN(40), rng.IntN(300)
			if EntrySize(k, v) > budget {
				break
			}
			budget -= EntrySize(k, v)
			batch = append(batch, [2]int{k, v})
		}
		for i, e := range batch {
			require.Equal(t, EntrySize(e[0], e[1]) <= l.Available(), l.Fits(e[0], e[1]))
			key := base.MakeInternalKey(bytes.Repeat([]byte{'k'}, e[0]), uint64(i+1), base.KindSet)
			require.NoError(t, l.Add(key, make([]byte, e[1])), "round %d entry %d", round, i)
		}
		require.LessOrEqual(t, l.Size(), l.Capacity())
		require.GreaterOrEqual(t, l.Available(), 0)
		require.Equal(t, len(batch), l.Len())
		require.NoError(t, l.Check())
	}
}

func TestHugeEntry(t *testing.T) {
	key := bytes.Repeat([]byte("k"), interfaces.MaxKeySize)
	val := bytes.Repeat([]byte("v"), interfaces.MaxValueSize)

	// A default-sized memtable refuses it: the caller rotates.
	small := New(1 << 20)
	require.False(t, small.Fits(len(key), len(val)))
	require.ErrorIs(t, small.Add(ikey(string(key), 1), val), ErrArenaFull)

	// One byte short of CapacityFor is not enough.
	short := New(CapacityFor(len(key), len(val)) - 1)
	require.ErrorIs(t, short.Add(ikey(string(key), 1), val), ErrArenaFull)

	l := NewForEntry(len(key), len(val))
	require.Equal(t, CapacityFor(len(key), len(val)), l.Capacity())
	require.True(t, l.Fits(len(key), len(val)))
	require.NoError(t, l.Add(ikey(string(key), 1), val))
	require.False(t, l.Fits(0, 0), "the arena holds exactly one such entry")
	require.ErrorIs(t, l.Add(ikey("", 2), nil), ErrArenaFull)

	it := l.NewIter()
	require.True(t, it.SeekGE(base.InternalKey{UserKey: key, Trailer: base.SeekTrailer(5)}))
	require.Equal(t, key, it.Key().UserKey)
	require.Equal(t, val, it.Value())
	require.NoError(t, l.Check())
}

func TestNewCapacityBounds(t *testing.T) {
	l := New(0)
	require.Equal(t, maxNodeSize, l.Capacity(), "too small a capacity is raised to hold the head")
	require.Equal(t, l.Capacity(), l.Size())
	require.False(t, l.Fits(0, 0))
	require.ErrorIs(t, l.Add(ikey("a", 1), nil), ErrArenaFull)
	require.False(t, l.NewIter().First())
	require.NoError(t, l.Check())

	require.Panics(t, func() { New(MaxCapacity + 1) })
	require.Equal(t, 2*maxNodeSize+16, CapacityFor(3, 5))
	require.Equal(t, maxNodeSize+16, EntrySize(3, 5), "node and key rounded up, then the value")
	require.Equal(t, maxNodeSize, EntrySize(0, 0))
	require.Equal(t, maxNodeSize+8, EntrySize(0, 1), "rounded up to the node alignment")
	require.Equal(t, 0, l.Available())
}

func TestReset(t *testing.T) {
	l := New(1 << 16)
	for i := range 200 {
		require.NoError(t, l.Add(ikey(fmt.Sprintf("k%d", i), 1), nil))
	}
	require.Greater(t, l.Height(), 1)
	l.Reset()
	require.Equal(t, 0, l.Len())
	require.Equal(t, maxNodeSize, l.Size())
	require.Equal(t, 1, l.Height())
	require.False(t, l.NewIter().First())
	require.NoError(t, l.Check())
	require.NoError(t, l.Add(ikey("k5", 1), []byte("again")))
	require.NoError(t, l.Add(ikey("k4", 1), nil))
	require.Equal(t, []string{"k4#1", "k5#1"}, collect(t, l))
	require.Equal(t, collect(t, l), collectReverse(t, l))
	require.NoError(t, l.Check())
}

func TestKeyPrefixOrder(t *testing.T) {
	cases := [][]byte{
		nil, {0}, {0, 0}, {1}, {0, 1}, []byte("a"), []byte("a\x00"), []byte("a\x01"),
		[]byte("abcdefg"), []byte("abcdefg\x00"), []byte("abcdefgh"), []byte("abcdefgh\x00"),
		[]byte("abcdefgha"), []byte("abcdefgi"), {0xff}, bytes.Repeat([]byte{0xff}, 9),
		[]byte("abcdefgh\x00\x00"), []byte("abcdefghabcdefg"), []byte("abcdefghabcdefg\x00"),
		[]byte("abcdefghabcdefgh"), []byte("abcdefghabcdefgh\x00"), []byte("abcdefghabcdefgi"),
		[]byte("abcdefghb"), bytes.Repeat([]byte{0xff}, 17),
	}
	for _, a := range cases {
		for _, b := range cases {
			pa, pb := base.KeyPrefix(a), base.KeyPrefix(b)
			qa, qb := base.KeyPrefix2(a), base.KeyPrefix2(b)
			c := bytes.Compare(a, b)
			switch {
			case pa < pb:
				require.Equal(t, -1, c, "%q < %q by prefix", a, b)
			case pa > pb:
				require.Equal(t, 1, c, "%q > %q by prefix", a, b)
			case qa < qb:
				require.Equal(t, -1, c, "%q < %q by second word", a, b)
			case qa > qb:
				require.Equal(t, 1, c, "%q > %q by second word", a, b)
			case len(a) >= 16 && len(b) >= 16:
				require.Equal(t, a[:16], b[:16])
			case len(a) >= 8 && len(b) >= 8:
				require.Equal(t, a[:8], b[:8])
			}
		}
	}
	require.Equal(t, uint64(0), base.KeyPrefix2([]byte("abcdefgh")))
	require.Equal(t, uint64(0x6100000000000000), base.KeyPrefix2([]byte("abcdefgha")))
	require.Equal(t, uint64(0x6100000000000000), base.KeyPrefix([]byte("a")))
	require.Equal(t, binary.BigEndian.Uint64([]byte("abcdefgh")), base.KeyPrefix([]byte("abcdefghXYZ")))
}

// TestCompareCachedWords checks the node comparison, which decides by the
// two cached key words before reading key bytes, against base.Compare on
// keys that end inside, at and past each word and differ in each.
func TestCompareCachedWords(t *testing.T) {
	words := []string{"", "a", "abcdefg", "abcdefgh", "abcdefgh\x00", "abcdefgha",
		"abcdefghabcdefg", "abcdefghabcdefg\x00", "abcdefghabcdefgh", "abcdefghabcdefgh\x00",
		"abcdefghabcdefgha", "abcdefghabcdefgi", "abcdefghabcdefhh", "abcdefgi", "0000000000123456",
		"0000000000123457", "00000000001234560", "\xff\xff\xff\xff\xff\xff\xff\xff\xff"}
	for _, x := range words {
		l := New(1 << 16)
		for ts := uint64(1); ts <= 3; ts++ {
			require.NoError(t, l.Add(ikey(x, ts), nil))
		}
		require.NoError(t, l.Check())
		for _, y := range words {
			for ts := uint64(0); ts <= 4; ts++ {
				k := makeSearchKey(ikey(y, ts))
				for i := 0; i < 3; i++ {
					nd := l.arena.node(nth(l, i))
					want := base.Compare(ikey(y, ts), ikey(x, 3-uint64(i)))
					require.Equal(t, want, l.arena.compare(&k, nd), "%q#%d against %q#%d", y, ts, x, 3-i)
				}
			}
		}
	}
}

// nth returns the offset of the i-th node at level 0.
func nth(l *Skiplist, i int) uint32 {
	off := l.arena.node(headOffset).next(0)
	for ; i > 0; i-- {
		off = l.arena.node(off).next(0)
	}
	return off
}

func TestRandomHeightDistribution(t *testing.T) {
	l := New(0)
	const draws = 1 << 20
	var counts [maxHeight + 1]int
	for range draws {
		h := l.randomHeight()
		require.True(t, h >= 1 && h <= maxHeight)
		counts[h]++
	}
	// P(h = k) = 2^-k.
	for h, want := range map[int]float64{1: 0.5, 2: 0.25, 3: 0.125, 4: 0.0625} {
		got := float64(counts[h]) / draws
		require.InDelta(t, want, got, 0.005, "height %d", h)
	}
}

func TestCheckDetectsCorruption(t *testing.T) {
	build := func() *Skiplist {
		l := New(1 << 16)
		for i := range 64 {
			require.NoError(t, l.Add(ikey(fmt.Sprintf("key%03d", i), 1), []byte("value")))
		}
		require.NoError(t, l.Check())
		return l
	}
	// nth returns the offset of the i-th node at level 0.
	// tall returns a node of height > 1 whose level-0 successor has
	// height 1.
	tall := func(l *Skiplist) (off, next uint32) {
		a := &l.arena
		for off := a.node(headOffset).next(0); off != 0; off = a.node(off).next(0) {
			next := a.node(off).next(0)
			if next != 0 && a.nodeHeight(off) > 1 && a.nodeHeight(next) == 1 {
				return off, next
			}
		}
		t.Fatal("no tall node followed by a short one")
		return 0, 0
	}
	cases := map[string]func(l *Skiplist){
		"key order": func(l *Skiplist) {
			n := l.arena.node(nth(l, 10))
			l.arena.bytes(n.keyOffset, n.keySize)[5] = '9'
			n.prefix = base.KeyPrefix(l.arena.bytes(n.keyOffset, n.keySize))
		},
		"prefix":  func(l *Skiplist) { l.arena.node(nth(l, 3)).prefix++ },
		"prefix2": func(l *Skiplist) { l.arena.node(nth(l, 5)).prefix2 ^= 1 << 40 },
		"backward link": func(l *Skiplist) {
			l.arena.node(nth(l, 7)).prev = nth(l, 2)
		},
		"offset out of range": func(l *Skiplist) {
			l.arena.node(nth(l, 4)).tower[0] = uint32(l.Capacity() - 8)
		},
		"misaligned": func(l *Skiplist) {
			l.arena.node(nth(l, 4)).tower[0] = nth(l, 6) + 4
		},
		"value past end": func(l *Skiplist) {
			l.arena.node(nth(l, 63)).valueSize = 1 << 20
		},
		"value among the nodes": func(l *Skiplist) {
			l.arena.node(nth(l, 12)).valueOffset = nth(l, 13)
		},
		"key past the nodes": func(l *Skiplist) {
			l.arena.node(nth(l, 50)).keySize = uint32(l.Capacity())
		},
		"regions overlap": func(l *Skiplist) { l.arena.top = l.arena.used - 8 },
		"size":            func(l *Skiplist) { l.stats.Add(8) },
		"cycle": func(l *Skiplist) {
			l.arena.node(nth(l, 40)).tower[0] = nth(l, 20)
		},
		"count": func(l *Skiplist) { l.stats.Add(1 << 32) },
		"upper level out of order": func(l *Skiplist) {
			off, _ := tall(l)
			l.arena.node(off).tower[1] = nth(l, 0)
		},
		"upper level links short node": func(l *Skiplist) {
			off, next := tall(l)
			l.arena.node(off).tower[1] = next
		},
		"level above height": func(l *Skiplist) {
			l.arena.node(headOffset).tower[maxHeight-1] = nth(l, 1)
		},
	}
	for name, corrupt := range cases {
		t.Run(name, func(t *testing.T) {
			l := build()
			corrupt(l)
			err := l.Check()
			require.Error(t, err)
			require.True(t, interfaces.IsCorruption(err), "%v", err)
			var ce *interfaces.CorruptionError
			require.True(t, errors.As(err, &ce))
			require.Contains(t, ce.Reason, "arenaskl: ")
		})
	}
}

// nodeHeight returns the height of a well-formed node, for tests.
func (a *arena) nodeHeight(off uint32) int {
	return (int(a.node(off).keyOffset-off) - nodeHeaderSize) / towerLinkSize
}

func TestZeroAllocations(t *testing.T) {
	l := New(64 << 20)
	rng := rand.New(rand.NewPCG(3, 4))
	keys := make([][]byte, 10000)
	for i := range keys {
		keys[i] = binary.BigEndian.AppendUint64(nil, rng.Uint64())
	}
	val := make([]byte, 100)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		if err := l.Add(base.MakeInternalKey(keys[i%len(keys)], uint64(i+1), base.KindSet), val); err != nil {
			panic(err)
		}
		i++
	})
	require.Zero(t, allocs, "Add")

	var it Iterator
	allocs = testing.AllocsPerRun(1000, func() {
		it.Init(l)
		k := base.InternalKey{UserKey: keys[i%len(keys)], Trailer: base.SeekTrailer(uint64(i))}
		i++
		it.SeekGE(k)
		it.Next()
		it.SeekLT(k)
		it.Prev()
		it.First()
		it.Last()
		_ = it.Key()
		_ = it.Value()
	})
	require.Zero(t, allocs, "iterator")
}

// TestSortedRuns adds random keys in sorted runs with gaps between them,
// as the engine adds a sorted batch: each insert starts from the lowest
// cached splice that brackets it, and a run's first key lands before the
// last run's splices. The list must hold exactly the keys, in order, with
// duplicates refused.
func TestSortedRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	l := New(8 << 20)
	model := map[string]bool{}
	for run := 0; run < 200; run++ {
		batch := make([]string, 100)
		for i := range batch {
			batch[i] = fmt.Sprintf("%08x", rng.Uint32()%50000)
		}
		slices.Sort(batch)
		for _, k := range batch {
			err := l.Add(ikey(k, 1), []byte(k))
			if model[k] {
				require.ErrorIs(t, err, ErrRecordExists, k)
				continue
			}
			require.NoError(t, err, k)
			model[k] = true
		}
	}
	want := make([]string, 0, len(model))
	for k := range model {
		want = append(want, k+"#1")
	}
	slices.Sort(want)
	require.Equal(t, want, collect(t, l))
	require.Equal(t, want, collectReverse(t, l))
	require.NoError(t, l.Check())
}
