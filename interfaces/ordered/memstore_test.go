package ordered

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
)

// storeRef is a Store's reference model: a plain map.
type storeRef map[string]string

func (r storeRef) apply(ops []Op) {
	for _, op := range ops {
		if op.Delete {
			delete(r, string(op.Key))
		} else {
			r[string(op.Key)] = string(op.Value)
		}
	}
}

// inBounds returns the model's keys in [lower, upper), sorted.
func (r storeRef) inBounds(lower, upper []byte) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(r)) {
		if (lower == nil || k >= string(lower)) && (upper == nil || k < string(upper)) {
			out = append(out, k)
		}
	}
	return out
}

func genStoreKey() *rapid.Generator[[]byte] {
	return rapid.SliceOfN(rapid.SampledFrom([]byte{0x00, 0x01, 'a', 'b', 0xff}), 0, 4)
}

// TestMemStoreModel checks MemStore's Writes, Get and iterators (every
// positioning method, within random bounds) against a map, and that an
// iterator is a snapshot unaffected by later Writes.
func TestMemStoreModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := NewMemStore()
		ref := storeRef{}
		type snap struct {
			it   StoreIterator
			keys []string
			ref  storeRef
		}
		var snaps []snap
		for range rapid.IntRange(1, 50).Draw(rt, "steps") {
			switch rapid.IntRange(0, 4).Draw(rt, "op") {
			case 0, 1:
				var ops []Op
				for range rapid.IntRange(1, 5).Draw(rt, "ops") {
					ops = append(ops, Op{
						Key:    genStoreKey().Draw(rt, "key"),
						Value:  []byte(rapid.StringMatching(`[a-z]{0,2}`).Draw(rt, "value")),
						Delete: rapid.IntRange(0, 2).Draw(rt, "delete") == 0,
					})
				}
				require.NoError(rt, m.Write(ops))
				// The store copied what it keeps.
				for _, op := range ops {
					for i := range op.Key {
						op.Key[i] ^= 0x5a
					}
				}
				ref.apply(unscramble(ops))
			case 2:
				k := genStoreKey().Draw(rt, "getKey")
				v, err := m.Get(k)
				want, ok := ref[string(k)]
				if !ok {
					require.ErrorIs(rt, err, interfaces.ErrNotFound)
				} else {
					require.NoError(rt, err)
					require.Equal(rt, want, string(v))
				}
			case 3:
				lower, upper := drawStoreBounds(rt)
				it, err := m.NewIterator(lower, upper)
				require.NoError(rt, err)
				snaps = append(snaps, snap{it, ref.inBounds(lower, upper), maps.Clone(ref)})
			default:
				if len(snaps) == 0 {
					continue
				}
				sn := snaps[0]
				snaps = snaps[1:]
				checkStoreIter(rt, sn.it, sn.keys, sn.ref)
				require.NoError(rt, sn.it.Close())
			}
		}
		for _, sn := range snaps {
			checkStoreIter(rt, sn.it, sn.keys, sn.ref)
			require.NoError(rt, sn.it.Close())
		}
		_, mem, err := m.Size()
		require.NoError(rt, err)
		var want int64
		for k, v := range ref {
			want += int64(len(k) + len(v))
		}
		require.Equal(rt, want, mem)
	})
}

// unscramble undoes the key scribbling above, to feed the model.
func unscramble(ops []Op) []Op {
	out := make([]Op, len(ops))
	for i, op := range ops {
		k := bytes.Clone(op.Key)
		for j := range k {
			k[j] ^= 0x5a
		}
		out[i] = Op{Key: k, Value: op.Value, Delete: op.Delete}
	}
	return out
}

func drawStoreBounds(rt *rapid.T) (lower, upper []byte) {
	if rapid.Bool().Draw(rt, "hasLower") {
		lower = genStoreKey().Draw(rt, "lower")
	}
	if rapid.Bool().Draw(rt, "hasUpper") {
		upper = genStoreKey().Draw(rt, "upper")
	}
	return lower, upper
}

// checkStoreIter walks it every way the adapter does and compares with keys
// (the sorted keys in bounds) and their values in ref.
func checkStoreIter(rt *rapid.T, it StoreIterator, keys []string, ref storeRef) {
	var got []string
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, string(it.Key()))
		require.Equal(rt, ref[string(it.Key())], string(it.Value()))
	}
	require.Equal(rt, nilIfEmpty(keys), nilIfEmpty(got), "First/Next")
	got = got[:0]
	for ok := it.Last(); ok; ok = it.Prev() {
		got = append(got, string(it.Key()))
	}
	require.Equal(rt, reversed(keys), nilIfEmpty(got), "Last/Prev")
	for range 4 {
		target := string(genStoreKey().Draw(rt, "target"))
		i, _ := slices.BinarySearch(keys, target)
		got = got[:0]
		for ok := it.SeekGE([]byte(target)); ok; ok = it.Next() {
			got = append(got, string(it.Key()))
		}
		require.Equal(rt, nilIfEmpty(keys[i:]), nilIfEmpty(got), "SeekGE(%q)", target)
		got = got[:0]
		for ok := it.SeekLT([]byte(target)); ok; ok = it.Prev() {
			got = append(got, string(it.Key()))
		}
		require.Equal(rt, reversed(keys[:i]), nilIfEmpty(got), "SeekLT(%q)", target)
	}
	require.NoError(rt, it.Err())
}

func reversed(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestMemStoreLifecycle(t *testing.T) {
	m := NewMemStore()
	require.NoError(t, m.Write([]Op{{Key: []byte("k"), Value: []byte("v")}}))
	r := m.Reopen()
	require.NoError(t, m.Close())
	require.ErrorIs(t, m.Close(), interfaces.ErrClosed)
	require.ErrorIs(t, m.Write(nil), interfaces.ErrClosed)
	_, err := m.Get([]byte("k"))
	require.ErrorIs(t, err, interfaces.ErrClosed)
	_, err = m.NewIterator(nil, nil)
	require.ErrorIs(t, err, interfaces.ErrClosed)
	require.ErrorIs(t, m.Sync(), interfaces.ErrClosed)
	_, _, err = m.Size()
	require.ErrorIs(t, err, interfaces.ErrClosed)

	// The other handle still sees the contents.
	v, err := r.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	v[0] = 'x'
	v, err = r.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v), "Get returns a copy")

	it, err := r.NewIterator(nil, nil)
	require.NoError(t, err)
	require.True(t, it.First())
	require.NoError(t, it.Close())
	require.False(t, it.First())
	require.ErrorIs(t, it.Err(), interfaces.ErrClosed)
	require.ErrorIs(t, it.Close(), interfaces.ErrClosed)
}

func TestCrashStore(t *testing.T) {
	write := func(c *CrashStore, k, v string) {
		t.Helper()
		require.NoError(t, c.Write([]Op{{Key: []byte(k), Value: []byte(v)}, {Key: []byte(k + "/twin"), Value: []byte(v)}}))
	}
	contents := func(c *CrashStore) map[string]string {
		t.Helper()
		it, err := c.NewIterator(nil, nil)
		require.NoError(t, err)
		out := map[string]string{}
		for ok := it.First(); ok; ok = it.Next() {
			out[string(it.Key())] = string(it.Value())
		}
		require.NoError(t, it.Close())
		return out
	}

	c := NewCrashStore()
	write(c, "a", "1")
	require.NoError(t, c.Sync())
	require.Zero(t, c.Unsynced())
	write(c, "b", "2")
	write(c, "a", "3")
	require.Equal(t, 2, c.Unsynced())

	// A clean reopen keeps the unsynced Writes, and a later crash may
	// still lose them.
	r := c.Reopen()
	require.NoError(t, c.Close())
	require.Equal(t, "3", contents(r)["a"])

	none := r.Crash(0, 1)
	require.Equal(t, map[string]string{"a": "1", "a/twin": "1"}, contents(none))
	_, err := r.Get([]byte("a"))
	require.ErrorContains(t, err, "crashed")
	require.Error(t, r.Write(nil))
	require.Error(t, r.Sync())
	require.NoError(t, r.Close(), "releasing a crashed store cannot fail")

	// Crashing the survivor again without new writes changes nothing.
	require.Equal(t, contents(none), contents(none.Crash(0, 2)))
}

func TestCrashStoreSubsets(t *testing.T) {
	// Over many seeds, keep 0.5 produces different subsets, each Write
	// whole, and survivors applied in order.
	seen := map[string]bool{}
	for seed := range uint64(64) {
		c := NewCrashStore()
		for i := range 4 {
			k := string(rune('a' + i))
			require.NoError(t, c.Write([]Op{{Key: []byte(k), Value: []byte("x")}, {Key: []byte(k + "2"), Value: []byte("x")}, {Key: []byte("last"), Value: []byte(k)}}))
		}
		got := c.Crash(0.5, seed)
		var present string
		for i := range 4 {
			k := string(rune('a' + i))
			_, err1 := got.Get([]byte(k))
			_, err2 := got.Get([]byte(k + "2"))
			require.Equal(t, err1 == nil, err2 == nil, "a Write survived in part")
			if err1 == nil {
				present += k
			}
		}
		last, err := got.Get([]byte("last"))
		if present == "" {
			require.ErrorIs(t, err, interfaces.ErrNotFound)
		} else {
			require.NoError(t, err)
			require.Equal(t, present[len(present)-1:], string(last), "survivors applied out of order")
		}
		seen[present] = true
	}
	require.Greater(t, len(seen), 4, "keep 0.5 should produce varied subsets: %v", seen)

	all := NewCrashStore()
	require.NoError(t, all.Write([]Op{{Key: []byte("k"), Value: []byte("v")}}))
	v, err := all.Crash(1, 0).Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
}
