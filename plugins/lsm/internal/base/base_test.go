package base

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

func TestCompare(t *testing.T) {
	cases := []struct {
		a, b InternalKey
		want int
	}{
		{MakeInternalKey([]byte("a"), 5, KindSet), MakeInternalKey([]byte("b"), 1, KindSet), -1},
		{MakeInternalKey([]byte("a"), 5, KindSet), MakeInternalKey([]byte("a"), 4, KindSet), -1},
		{MakeInternalKey([]byte("a"), 4, KindSet), MakeInternalKey([]byte("a"), 5, KindDelete), 1},
		{MakeInternalKey([]byte("a"), 5, KindSet), MakeInternalKey([]byte("a"), 5, KindSet), 0},
		{MakeInternalKey(nil, 1, KindSet), MakeInternalKey([]byte{0}, 9, KindSet), -1},
		{MakeInternalKey([]byte("ab"), 9, KindSet), MakeInternalKey([]byte("a"), 1, KindSet), 1},
		// A search key at readTs sorts before every version <= readTs and
		// after every newer one.
		{InternalKey{[]byte("k"), SeekTrailer(7)}, MakeInternalKey([]byte("k"), 7, KindDelete), -1},
		{InternalKey{[]byte("k"), SeekTrailer(7)}, MakeInternalKey([]byte("k"), 8, KindSet), 1},
		{InternalKey{[]byte("k"), SeekTrailer(interfaces.MaxTs)}, MakeInternalKey([]byte("k"), MaxTs, KindSet), -1},
	}
	for _, c := range cases {
		require.Equal(t, c.want, Compare(c.a, c.b), "%s vs %s", c.a, c.b)
		require.Equal(t, c.want, CompareEncoded(c.a.Append(nil), c.b.Append(nil)), "encoded %s vs %s", c.a, c.b)
		require.Equal(t, -c.want, Compare(c.b, c.a))
	}
}

func TestTrailerAndDecode(t *testing.T) {
	k := MakeInternalKey([]byte("user"), 123456, KindDelete)
	require.Equal(t, uint64(123456), k.Ts())
	require.Equal(t, KindDelete, k.Kind())
	enc := k.Append([]byte("prefix-"))[len("prefix-"):]
	require.Len(t, enc, k.Size())
	d, ok := DecodeInternalKey(enc)
	require.True(t, ok)
	require.Equal(t, k.UserKey, d.UserKey)
	require.Equal(t, k.Trailer, d.Trailer)
	_, ok = DecodeInternalKey(make([]byte, TrailerLen-1))
	require.False(t, ok)
	require.Equal(t, MaxTs, MakeTrailer(interfaces.MaxTs, KindSet).Ts(), "ts clamps to MaxTs")
}
