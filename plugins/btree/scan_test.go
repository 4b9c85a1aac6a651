package btree_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/vfs"
)

// TestTreeScans checks iterators over a tree alone, its write buffers
// flushed: the state every settled database reads, where a forward walk
// runs straight on the cursor (forwardTree) and the core steps it with
// NextKV. Keys share long prefixes, so leaves store the prefix once and
// scans build keys from prefix and suffix; keys have many versions, so
// versions of one key run across leaf boundaries; some are tombstones and
// some values are out of line. Pages are small, so every walk crosses many
// leaves. The tree is read from the cache and, after a reopen, cold from
// the file, with and without a codec (compressed leaves are chains of
// pages), and every walk, with random options, is compared with the model.
func TestTreeScans(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		deps := btree.Deps{FS: vfs.NewMem()}
		if rapid.Bool().Draw(rt, "codec") {
			deps.Codec = newTestCodec()
		}
		opts := btree.Options{Dir: "db", PageSize: btree.MinPageSize, WriteBufferSize: btree.MinWriteBufferSize}
		e, err := btree.New(opts, deps)
		require.NoError(rt, err)
		defer func() { require.NoError(rt, e.Close()) }()

		// Keys: families under long shared prefixes, a few short keys
		// (leaves holding them have no prefix), a long one.
		var keys []string
		for f := range rapid.IntRange(1, 3).Draw(rt, "families") {
			for i := range rapid.IntRange(1, 40).Draw(rt, "familySize") {
				keys = append(keys, fmt.Sprintf("tenant-%04d/user-%06d", f*37, i*i))
			}
		}
		keys = append(keys, "", "a", "b\xff", strings.Repeat("z", 300))
		slices.Sort(keys)
		keys = slices.Compact(keys)

		m := newModel()
		ts := uint64(0)
		for range rapid.IntRange(1, 8).Draw(rt, "batches") {
			ts++
			var es []interfaces.Entry
			for _, k := range keys {
				if !rapid.Bool().Draw(rt, "write") {
					continue
				}
				en := interfaces.Entry{Key: []byte(k), Ts: ts, Kind: interfaces.KindSet}
				switch rapid.IntRange(0, 9).Draw(rt, "kind") {
				case 0, 1:
					en.Kind = interfaces.KindDelete
				case 2:
					en.Value = bytes.Repeat([]byte{byte(ts)}, 700)
				default:
					en.Value = fmt.Appendf(nil, "%s@%d", k, ts)
				}
				es = append(es, en)
			}
			if len(es) > 0 {
				require.NoError(rt, e.Apply(es))
				m.apply(es)
			}
		}
		// One hot key with many versions: they span leaves.
		hot := keys[rapid.IntRange(0, len(keys)-1).Draw(rt, "hot")]
		for range rapid.IntRange(0, 60).Draw(rt, "hotVersions") {
			ts++
			es := []interfaces.Entry{{Key: []byte(hot), Ts: ts, Kind: interfaces.KindSet, Value: fmt.Appendf(nil, "hot@%d", ts)}}
			require.NoError(rt, e.Apply(es))
			m.apply(es)
		}
		_, err = e.Flush()
		require.NoError(rt, err)
		if rapid.Bool().Draw(rt, "reopen") {
			// Cold: every leaf is read from the file again.
			require.NoError(rt, e.Close())
			e, err = btree.New(opts, deps)
			require.NoError(rt, err)
		}

		for range 20 {
			checkScan(rt, e, m, keys, ts)
		}
	})
}

// checkScan walks e with random options and compares with the model.
func checkScan(t *rapid.T, e *btree.Engine, m *model, keys []string, maxTs uint64) {
	opts := interfaces.IterOptions{
		ReadTs:      rapid.Uint64Range(1, maxTs+1).Draw(t, "readTs"),
		Reverse:     rapid.Bool().Draw(t, "reverse"),
		AllVersions: rapid.Bool().Draw(t, "allVersions"),
	}
	pick := func(label string) []byte {
		k := rapid.SampledFrom(keys).Draw(t, label)
		// A key from the set, or a prefix of one, or one just past it.
		switch rapid.IntRange(0, 2).Draw(t, label+"Form") {
		case 1:
			return []byte(k[:rapid.IntRange(0, len(k)).Draw(t, label+"Cut")])
		case 2:
			return []byte(k + "\x00")
		}
		return []byte(k)
	}
	if rapid.Bool().Draw(t, "lower") {
		opts.LowerBound = pick("lower")
	}
	if rapid.Bool().Draw(t, "upper") {
		opts.UpperBound = pick("upper")
	}
	if opts.LowerBound != nil && opts.UpperBound != nil && bytes.Compare(opts.LowerBound, opts.UpperBound) > 0 {
		opts.LowerBound, opts.UpperBound = opts.UpperBound, opts.LowerBound
	}
	if rapid.IntRange(0, 3).Draw(t, "prefix") == 0 {
		k := rapid.SampledFrom(keys).Draw(t, "prefixKey")
		opts.Prefix = []byte(k[:rapid.IntRange(0, len(k)).Draw(t, "prefixLen")])
	}
	var seek []byte
	if rapid.Bool().Draw(t, "seek") {
		seek = pick("seek")
	}

	var want []item
	for _, k := range m.sortedKeys() {
		kb := []byte(k)
		if (opts.LowerBound != nil && bytes.Compare(kb, opts.LowerBound) < 0) ||
			(opts.UpperBound != nil && bytes.Compare(kb, opts.UpperBound) >= 0) ||
			(opts.Prefix != nil && !bytes.HasPrefix(kb, opts.Prefix)) {
			continue
		}
		if seek != nil && ((!opts.Reverse && bytes.Compare(kb, seek) < 0) || (opts.Reverse && bytes.Compare(kb, seek) > 0)) {
			continue
		}
		if !opts.AllVersions {
			if v, ok := m.visible(k, opts.ReadTs, interfaces.MaxTs); ok {
				want = append(want, item{key: k, version: v})
			}
			continue
		}
		for _, v := range m.keys[k] {
			if v.ts <= opts.ReadTs {
				want = append(want, item{key: k, version: v})
			}
		}
	}
	if opts.Reverse {
		slices.Reverse(want)
	}

	it, err := e.NewIterator(opts)
	require.NoError(t, err)
	kv, hasKV := it.(interfaces.KVStepper)
	require.True(t, hasKV, "the engine's iterators offer NextKV")
	var got []item
	var ok bool
	if seek != nil {
		ok = it.Seek(seek)
	} else {
		ok = it.First()
	}
	for ok {
		got = append(got, item{key: string(it.Key()), version: version{ts: it.Ts(), kind: it.Kind(), value: string(it.Value())}})
		// Step with Next or NextKV at random: they move alike.
		if rapid.Bool().Draw(t, "nextKV") {
			var k, v []byte
			k, v, ok = kv.NextKV()
			if ok {
				require.Equal(t, it.Key(), k, "NextKV key")
				require.Equal(t, it.Value(), v, "NextKV value")
			}
		} else {
			ok = it.Next()
		}
	}
	require.False(t, it.Valid())
	require.False(t, it.Next(), "an exhausted iterator stays exhausted")
	require.NoError(t, it.Close())
	require.Equal(t, want, got, "walk %+v seek %q", opts, seek)
}

// TestTreeScanKeysStayValid checks the key contract on the path that
// builds keys in a reused buffer: a key stays unchanged until the next
// move, and the next move may reuse its memory only then.
func TestTreeScanKeysStayValid(t *testing.T) {
	e := openEngine(t, vfs.NewMem(), btree.Options{PageSize: btree.MinPageSize, WriteBufferSize: btree.MinWriteBufferSize}, btree.Deps{})
	var es []interfaces.Entry
	for i := range 500 {
		es = append(es, interfaces.Entry{Key: fmt.Appendf(nil, "shared-prefix/%05d", i), Ts: 1, Kind: interfaces.KindSet, Value: fmt.Appendf(nil, "v%d", i)})
	}
	require.NoError(t, e.Apply(es))
	_, err := e.Flush()
	require.NoError(t, err)
	it, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
	require.NoError(t, err)
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		want := fmt.Sprintf("shared-prefix/%05d", n)
		require.Equal(t, want, string(k))
		// Reading the value, Ts and Valid does not move the iterator.
		require.Equal(t, fmt.Sprintf("v%d", n), string(it.Value()))
		require.True(t, it.Valid())
		require.Equal(t, want, string(k), "key changed without a move")
		n++
	}
	require.Equal(t, 500, n)
	require.NoError(t, it.Err())
}

// TestIteratorHandleAfterClose checks that iterator states, which are
// pooled, are never reached through a closed handle: a closed iterator
// does not move, and closing it again changes nothing, while another
// iterator, which may have taken its state, goes on undisturbed.
func TestIteratorHandleAfterClose(t *testing.T) {
	e := openEngine(t, vfs.NewMem(), btree.Options{}, btree.Deps{})
	var es []interfaces.Entry
	for i := range 50 {
		es = append(es, interfaces.Entry{Key: fmt.Appendf(nil, "key-%03d", i), Ts: 1, Kind: interfaces.KindSet, Value: []byte("v")})
	}
	require.NoError(t, e.Apply(es))
	_, err := e.Flush()
	require.NoError(t, err)
	opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs}

	a, err := e.NewIterator(opts)
	require.NoError(t, err)
	require.True(t, a.First())
	require.NoError(t, a.Close())
	b, err := e.NewIterator(opts)
	require.NoError(t, err)
	defer b.Close()
	require.True(t, b.Seek([]byte("key-010")))

	require.False(t, a.Valid())
	require.Nil(t, a.Key())
	require.Nil(t, a.Value())
	require.False(t, a.First())
	require.False(t, a.Seek([]byte("key-000")))
	require.False(t, a.Next())
	_, _, ok := a.(interfaces.KVStepper).NextKV()
	require.False(t, ok)
	require.NoError(t, a.Err())
	require.NoError(t, a.Close(), "a second Close")

	require.True(t, b.Valid(), "the other iterator is undisturbed")
	require.Equal(t, "key-010", string(b.Key()))
	require.True(t, b.Next())
	require.Equal(t, "key-011", string(b.Key()))
}
