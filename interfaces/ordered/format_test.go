package ordered

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
)

func TestSplitVersionKey(t *testing.T) {
	tests := []struct {
		name string
		enc  []byte
		user string
		ts   uint64
		ok   bool
	}{
		{"plain", interfaces.AppendVersionKey(nil, []byte("ab"), 7), "ab\x00\x01", 7, true},
		{"empty key", interfaces.AppendVersionKey(nil, nil, 1), "\x00\x01", 1, true},
		{"escaped", interfaces.AppendVersionKey(nil, []byte("\x00"), interfaces.MaxTs), "\x00\xff\x00\x01", interfaces.MaxTs, true},
		{"ts 0 is malformed", interfaces.AppendVersionKey(nil, []byte("a"), 0), "", 0, false},
		{"short", []byte{0, 1, 2}, "", 0, false},
		{"no terminator", []byte("abcdefghijkl"), "", 0, false},
		{"metadata", keyApplied, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, ts, ok := splitVersionKey(tt.enc)
			require.Equal(t, tt.ok, ok)
			if ok {
				require.Equal(t, tt.user, string(user))
				require.Equal(t, tt.ts, ts)
			}
		})
	}
}

func TestDecodeUserKey(t *testing.T) {
	tests := []struct {
		name   string
		user   string // escaped key plus terminator
		want   string
		alias  bool
		broken bool
	}{
		{"empty", "\x00\x01", "", true, false},
		{"no zero aliases", "abc\xff\x00\x01", "abc\xff", true, false},
		{"one zero", "a\x00\xffb\x00\x01", "a\x00b", false, false},
		{"zeros only", "\x00\xff\x00\xff\x00\x01", "\x00\x00", false, false},
		{"trailing zero", "a\x00\xff\x00\x01", "a\x00", false, false},
		{"lone zero", "a\x00\x00\x01", "", false, true},
		{"zero then 0x01", "\x00\x01\x00\x01", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, 0, 16)
			key, newBuf, err := decodeUserKey(buf, []byte(tt.user))
			if tt.broken {
				require.ErrorIs(t, err, errBadEscape)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, string(key))
			if tt.alias {
				require.Equal(t, cap(buf), cap(newBuf), "the buffer is untouched")
			} else {
				require.Equal(t, &newBuf[:1][0], &key[:1][0], "the key lives in the buffer")
			}
		})
	}
}

func TestDecodeValue(t *testing.T) {
	kind, v, err := decodeValue([]byte{1, 'x', 'y'})
	require.NoError(t, err)
	require.Equal(t, interfaces.KindSet, kind)
	require.Equal(t, "xy", string(v))
	kind, v, err = decodeValue([]byte{1})
	require.NoError(t, err)
	require.Equal(t, interfaces.KindSet, kind)
	require.Empty(t, v)
	kind, v, err = decodeValue([]byte{2})
	require.NoError(t, err)
	require.Equal(t, interfaces.KindDelete, kind)
	require.Nil(t, v)
	for _, bad := range [][]byte{nil, {}, {0}, {3}, {2, 0}, {0xff, 1}} {
		_, _, err := decodeValue(bad)
		require.ErrorIs(t, err, errBadValue, "%x", bad)
	}
}

func TestPrefixSuccessor(t *testing.T) {
	tests := []struct{ p, want []byte }{
		{nil, nil},
		{[]byte{}, nil},
		{[]byte("a"), []byte("b")},
		{[]byte("a\xff"), []byte("b")},
		{[]byte("\xff\xff"), nil},
		{[]byte("a\x00"), []byte("a\x01")},
		{[]byte{0x00}, []byte{0x01}},
	}
	for _, tt := range tests {
		p := bytes.Clone(tt.p)
		require.Equal(t, tt.want, prefixSuccessor(p), "%x", tt.p)
		require.Equal(t, tt.p, p, "the prefix is not modified")
	}
}

func TestMetadataNeverCollides(t *testing.T) {
	// Every metadata key sorts below the version space, in the order Check
	// relies on.
	meta := [][]byte{keyFormat, keyDurable, keyDiscard, keyApplied}
	for i, k := range meta {
		require.True(t, bytes.HasPrefix(k, metaPrefix))
		require.Negative(t, bytes.Compare(k, versionSpaceStart))
		if i > 0 {
			require.Negative(t, bytes.Compare(meta[i-1], k))
		}
	}
	require.Equal(t, versionSpaceStart, interfaces.AppendUserKeyStart(nil, nil))

	// And no version key, of any user key, starts with the metadata prefix
	// or sorts below the version space.
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.SliceOfN(rapid.SampledFrom([]byte{0x00, 0x01, 0xff, 'm'}), 0, 6).Draw(t, "key")
		ts := rapid.Uint64().Draw(t, "ts")
		enc := interfaces.AppendVersionKey(nil, key, ts)
		if bytes.HasPrefix(enc, metaPrefix) || bytes.Compare(enc, versionSpaceStart) < 0 {
			t.Fatalf("version key %x of %x collides with the metadata space", enc, key)
		}
	})
}

func FuzzSplitVersionKey(f *testing.F) {
	for _, k := range []string{"", "a", "\x00", "a\x00b", "\xff\x00\xff"} {
		f.Add(interfaces.AppendVersionKey(nil, []byte(k), 1))
		f.Add(interfaces.AppendVersionKey(nil, []byte(k), interfaces.MaxTs))
	}
	f.Add([]byte{})
	f.Add(keyApplied)
	f.Add([]byte{0x00, 0x07, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, enc []byte) {
		// The adapter's fast path must agree with the reference decoder on
		// every input: same verdict, same key, same ts.
		refKey, refTs, refErr := interfaces.DecodeVersionKey(nil, enc)
		user, ts, ok := splitVersionKey(enc)
		var key []byte
		var err error
		if ok {
			key, _, err = decodeUserKey(nil, user)
		}
		if refErr != nil || refTs == 0 {
			require.False(t, ok && err == nil, "accepted %x, which the reference rejects (ts %d, %v)", enc, refTs, refErr)
			return
		}
		require.True(t, ok, "rejected %x", enc)
		require.NoError(t, err)
		require.Equal(t, refTs, ts)
		require.True(t, bytes.Equal(refKey, key), "key %x, reference %x", key, refKey)
		require.Equal(t, enc[:len(enc)-8], user)
	})
}

func FuzzDecodeValue(f *testing.F) {
	f.Add([]byte{1, 'v'})
	f.Add([]byte{2})
	f.Add([]byte{2, 2})
	f.Add([]byte{})
	f.Add([]byte{7})
	f.Fuzz(func(t *testing.T, v []byte) {
		kind, value, err := decodeValue(v)
		if err != nil {
			require.ErrorIs(t, err, errBadValue)
			return
		}
		// A value that decodes is canonical: it re-encodes to itself.
		require.Equal(t, v, appendValue(nil, kind, value))
	})
}

func FuzzDecodeMetaTs(f *testing.F) {
	f.Add(appendMetaTs(nil, 42))
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		ts, err := decodeMetaTs(keyDurable, v)
		if err != nil {
			require.True(t, interfaces.IsCorruption(err))
			return
		}
		require.Equal(t, v, appendMetaTs(nil, ts))
	})
}
