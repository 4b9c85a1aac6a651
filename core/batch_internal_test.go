package core

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

func TestBatchEncodingRoundTrip(t *testing.T) {
	b := newBatch(limits{maxEntries: 100, maxBytes: 1 << 20})
	require.NoError(t, b.Put([]byte("a"), []byte("1")))
	require.NoError(t, b.Delete([]byte("b")))
	require.NoError(t, b.Put(nil, nil))
	require.NoError(t, b.Put([]byte("big"), make([]byte, 1000)))
	entries, err := decodeBatch(nil, b.rep, 42)
	require.NoError(t, err)
	require.Len(t, entries, 4)
	require.Equal(t, interfaces.Entry{Key: []byte("a"), Ts: 42, Kind: interfaces.KindSet, Value: []byte("1")}, entries[0])
	require.Equal(t, interfaces.KindDelete, entries[1].Kind)
	require.Empty(t, entries[2].Key)
	require.Len(t, entries[3].Value, 1000)
}

func TestDecodeBatchRejectsDamage(t *testing.T) {
	b := newBatch(limits{maxEntries: 100, maxBytes: 1 << 20})
	for i := 0; i < 10; i++ {
		require.NoError(t, b.Put([]byte(fmt.Sprint(i)), []byte("value")))
	}
	// Every truncation is refused.
	for n := 0; n < len(b.rep); n++ {
		_, err := decodeBatch(nil, b.rep[:n], 1)
		require.ErrorIs(t, err, interfaces.ErrCorrupt, "truncated to %d", n)
	}
	// A count that the bytes cannot hold is refused before any allocation.
	lie := append([]byte(nil), b.rep...)
	lie[3] = 0x7F
	_, err := decodeBatch(nil, lie, 1)
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
	// A bad kind.
	bad := append([]byte(nil), b.rep...)
	bad[batchHeaderLen] = 9
	_, err = decodeBatch(nil, bad, 1)
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
}

func FuzzDecodeBatch(f *testing.F) {
	b := newBatch(limits{maxEntries: 100, maxBytes: 1 << 20})
	f.Add(append([]byte(nil), b.rep...))
	_ = b.Put([]byte("key"), []byte("value"))
	_ = b.Delete([]byte("gone"))
	f.Add(append([]byte(nil), b.rep...))
	f.Add([]byte{1, 0, 0, 0, 1, 3, 'a', 'b', 'c', 1, 'v'})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, rep []byte) {
		entries, err := decodeBatch(nil, rep, 7)
		if err != nil {
			require.ErrorIs(t, err, interfaces.ErrCorrupt)
			return
		}
		// A payload that decodes re-encodes to the same bytes.
		re := newBatch(limits{maxEntries: len(entries) + 1, maxBytes: 1 << 40})
		for _, e := range entries {
			require.Equal(t, uint64(7), e.Ts)
			require.NoError(t, re.add(e.Kind, e.Key, e.Value))
		}
		if len(entries) > 0 {
			require.Equal(t, rep, re.rep)
		}
	})
}

func TestDedupKeepsLastWrite(t *testing.T) {
	d := newDeduper()
	for _, n := range []int{0, 1, 5, 16, 17, 100, 1000} {
		var entries []interfaces.Entry
		for i := 0; i < n; i++ {
			entries = append(entries, interfaces.Entry{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))})
		}
		got := d.dedup(append([]interfaces.Entry(nil), entries...))
		want := map[string]string{}
		for _, e := range entries {
			want[string(e.Key)] = string(e.Value)
		}
		require.Len(t, got, len(want), "n=%d", n)
		seen := map[string]bool{}
		for _, e := range got {
			require.False(t, seen[string(e.Key)], "duplicate key survived")
			seen[string(e.Key)] = true
			require.Equal(t, want[string(e.Key)], string(e.Value))
		}
	}
	// Unique keys: nothing removed, order kept.
	uniq := []interfaces.Entry{{Key: []byte("b")}, {Key: []byte("a")}, {Key: []byte("c")}}
	for i := 0; i < 30; i++ {
		uniq = append(uniq, interfaces.Entry{Key: []byte(fmt.Sprintf("u%d", i))})
	}
	require.Equal(t, uniq, d.dedup(append([]interfaces.Entry(nil), uniq...)))
	require.Equal(t, uniq, dedupExact(append([]interfaces.Entry(nil), uniq...)))
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	require.Zero(t, h.quantile(0.5))
	for i := 1; i <= 1000; i++ {
		h.observe(time.Duration(i) * time.Microsecond)
	}
	p50, p99 := h.quantile(0.5), h.quantile(0.99)
	require.InDelta(t, float64(500*time.Microsecond), float64(p50), float64(120*time.Microsecond))
	require.InDelta(t, float64(990*time.Microsecond), float64(p99), float64(250*time.Microsecond))
	require.GreaterOrEqual(t, p99, p50)
	for ns := int64(0); ns < 1<<20; ns = ns*3 + 1 {
		b := bucketOf(ns)
		require.GreaterOrEqual(t, int64(bucketUpper(b)), ns, "bucket %d upper bound below %d", b, ns)
	}
}

func TestIdentityRoundTrip(t *testing.T) {
	id := identity{fields: map[string]string{"format": "1", "engine": "lsm", "codec": "zstd", "cipher": "none", "extra": "kept"}}
	data := id.encode()
	got, err := decodeIdentity(data, "LIGHTNING")
	require.NoError(t, err)
	require.Equal(t, id.fields, got.fields)
	for i := range data {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x01
		_, err := decodeIdentity(bad, "LIGHTNING")
		require.Error(t, err, "flip at %d", i)
	}
}
