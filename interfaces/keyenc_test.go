package interfaces_test

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
)

// unhex decodes a hex string written with spaces for readability.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)))
	require.NoError(t, err)
	return b
}

func TestAppendVersionKeyTable(t *testing.T) {
	tests := []struct {
		name string
		key  string
		ts   uint64
		want string // hex, spaces ignored
	}{
		{"empty key ts 1", "", 1, "0001 fffffffffffffffe"},
		{"empty key ts 0", "", 0, "0001 ffffffffffffffff"},
		{"empty key MaxTs", "", interfaces.MaxTs, "0001 0000000000000000"},
		{"plain", "ab", 2, "6162 0001 fffffffffffffffd"},
		{"single zero", "\x00", 1, "00ff 0001 fffffffffffffffe"},
		{"two zeros", "\x00\x00", 1, "00ff00ff 0001 fffffffffffffffe"},
		{"zero in middle", "a\x00b", 1, "6100ff62 0001 fffffffffffffffe"},
		{"zero then ff", "\x00\xff", 1, "00ffff 0001 fffffffffffffffe"},
		{"ff is not escaped", "\xff\xff", 1, "ffff 0001 fffffffffffffffe"},
		{"0x01 is not escaped", "\x01", 1, "01 0001 fffffffffffffffe"},
		{"trailing zero", "a\x00", 0x0102030405060708, "6100ff 0001 fefdfcfbfaf9f8f7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.want)
			got := interfaces.AppendVersionKey(nil, []byte(tt.key), tt.ts)
			require.Equal(t, want, got)

			// Appending keeps what dst held.
			got = interfaces.AppendVersionKey([]byte("pre"), []byte(tt.key), tt.ts)
			require.Equal(t, append([]byte("pre"), want...), got)

			// The bounds and the prefix share the escaped body.
			body := want[:len(want)-10]
			require.True(t, bytes.Equal(body, interfaces.AppendVersionKeyPrefix(nil, []byte(tt.key))))
			require.Equal(t, append(bytes.Clone(body), 0x00, 0x01), interfaces.AppendUserKeyStart(nil, []byte(tt.key)))
			require.Equal(t, append(bytes.Clone(body), 0x00, 0x02), interfaces.AppendUserKeyEnd(nil, []byte(tt.key)))

			// And it decodes back.
			key, ts, err := interfaces.DecodeVersionKey(nil, want)
			require.NoError(t, err)
			require.Equal(t, []byte(tt.key), append([]byte{}, key...))
			require.Equal(t, tt.ts, ts)
		})
	}
}

func TestDecodeVersionKeyErrors(t *testing.T) {
	tests := []struct {
		name string
		enc  string // hex
	}{
		{"empty", ""},
		{"nine bytes", "0001 ffffffffffffff"},
		{"no terminator", "6162 fffffffffffffffe"},
		{"wrong terminator byte", "61 0002 fffffffffffffffe"},
		{"terminator reversed", "61 0100 fffffffffffffffe"},
		{"lone zero before terminator", "6100 0001 fffffffffffffffe"},
		{"zero followed by 0x01 in body", "0001 0001 fffffffffffffffe"},
		{"zero followed by 0xfe", "00fe 0001 fffffffffffffffe"},
		{"double zero", "0000 0001 fffffffffffffffe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, ts, err := interfaces.DecodeVersionKey(dst, unhex(t, tt.enc))
			require.ErrorIs(t, err, interfaces.ErrCorrupt)
			require.True(t, interfaces.IsCorruption(err))
			require.Zero(t, ts)
			// What dst held is kept; the contract does not say whether
			// a partly decoded key is appended after it.
			require.True(t, bytes.HasPrefix(got, []byte("keep")))
		})
	}
}

func TestDecodeVersionKeyAppends(t *testing.T) {
	enc := interfaces.AppendVersionKey(nil, []byte("k\x00y"), 42)
	got, ts, err := interfaces.DecodeVersionKey([]byte("pre/"), enc)
	require.NoError(t, err)
	require.Equal(t, []byte("pre/k\x00y"), got)
	require.Equal(t, uint64(42), ts)
}

// genKey draws user keys biased toward the bytes the escaping treats
// specially (0x00, 0x01, 0xff) and toward shared prefixes, where ordering
// bugs hide.
func genKey() *rapid.Generator[[]byte] {
	special := rapid.SampledFrom([]byte{0x00, 0x00, 0x01, 0xff, 0xfe, 'a', 'b'})
	anyByte := rapid.Byte()
	b := rapid.OneOf(special, special, special, anyByte)
	return rapid.SliceOfN(b, 0, 8)
}

func genTs() *rapid.Generator[uint64] {
	return rapid.OneOf(
		rapid.SampledFrom([]uint64{0, 1, 2, 255, 256, interfaces.MaxTs - 1, interfaces.MaxTs}),
		rapid.Uint64(),
	)
}

// storageCompare is the Storage order: user key ascending, then ts
// descending.
func storageCompare(k1 []byte, t1 uint64, k2 []byte, t2 uint64) int {
	if c := bytes.Compare(k1, k2); c != 0 {
		return c
	}
	return cmp.Compare(t2, t1)
}

func TestVersionKeyOrderProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// A shared stem makes the interesting case (keys that differ late,
		// or where one is a prefix of the other) common.
		stem := genKey().Draw(t, "stem")
		k1 := append(bytes.Clone(stem), genKey().Draw(t, "suffix1")...)
		k2 := append(bytes.Clone(stem), genKey().Draw(t, "suffix2")...)
		t1, t2 := genTs().Draw(t, "ts1"), genTs().Draw(t, "ts2")

		e1 := interfaces.AppendVersionKey(nil, k1, t1)
		e2 := interfaces.AppendVersionKey(nil, k2, t2)
		want := storageCompare(k1, t1, k2, t2)
		if got := bytes.Compare(e1, e2); got != want {
			t.Fatalf("order of (%x,%d) vs (%x,%d): encodings compare %d, storage order %d\n%x\n%x",
				k1, t1, k2, t2, got, want, e1, e2)
		}
	})
}

func TestVersionKeyPrefixProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genKey().Draw(t, "prefix")
		var k []byte
		if rapid.Bool().Draw(t, "extend") {
			k = append(bytes.Clone(p), genKey().Draw(t, "rest")...)
		} else {
			k = genKey().Draw(t, "key")
		}
		ts := genTs().Draw(t, "ts")
		enc := interfaces.AppendVersionKey(nil, k, ts)
		ep := interfaces.AppendVersionKeyPrefix(nil, p)
		// Both directions: a version key starts with the escaped prefix
		// exactly when its user key starts with the prefix, so a prefix
		// scan over encodings yields neither more nor fewer keys.
		if bytes.HasPrefix(k, p) != bytes.HasPrefix(enc, ep) {
			t.Fatalf("key %x prefix %x: HasPrefix(key)=%v but HasPrefix(encoding)=%v",
				k, p, bytes.HasPrefix(k, p), bytes.HasPrefix(enc, ep))
		}
	})
}

func TestUserKeyBoundsBracketProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		stem := genKey().Draw(t, "stem")
		k := append(bytes.Clone(stem), genKey().Draw(t, "k")...)
		j := append(bytes.Clone(stem), genKey().Draw(t, "j")...)
		ts := genTs().Draw(t, "ts")
		start := interfaces.AppendUserKeyStart(nil, k)
		end := interfaces.AppendUserKeyEnd(nil, k)
		enc := interfaces.AppendVersionKey(nil, j, ts)
		switch c := bytes.Compare(j, k); {
		case c == 0:
			if bytes.Compare(start, enc) > 0 || bytes.Compare(enc, end) >= 0 {
				t.Fatalf("version (%x,%d) outside [start,end) of its own key", j, ts)
			}
		case c < 0:
			if bytes.Compare(enc, start) >= 0 {
				t.Fatalf("version of smaller key %x not below start of %x", j, k)
			}
		default:
			if bytes.Compare(enc, end) < 0 {
				t.Fatalf("version of larger key %x below end of %x", j, k)
			}
		}
	})
}

func TestVersionKeyRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := genKey().Draw(t, "key")
		ts := genTs().Draw(t, "ts")
		enc := interfaces.AppendVersionKey(nil, k, ts)
		got, gotTs, err := interfaces.DecodeVersionKey(nil, enc)
		if err != nil {
			t.Fatalf("decode %x: %v", enc, err)
		}
		if !bytes.Equal(got, k) || gotTs != ts {
			t.Fatalf("round trip of (%x,%d) gave (%x,%d)", k, ts, got, gotTs)
		}
	})
}

func FuzzDecodeVersionKey(f *testing.F) {
	for _, k := range []string{"", "a", "\x00", "\x00\x00", "\xff", "a\x00b\xff", "\x01\x00\x01"} {
		for _, ts := range []uint64{0, 1, interfaces.MaxTs} {
			f.Add(interfaces.AppendVersionKey(nil, []byte(k), ts))
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x00, 0x01})
	f.Add([]byte{0x00, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{0x61, 0x00, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{0x00, 0x01, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, enc []byte) {
		key, ts, err := interfaces.DecodeVersionKey(nil, enc)
		if err != nil {
			require.ErrorIs(t, err, interfaces.ErrCorrupt)
			return
		}
		// A decode that succeeds is canonical: re-encoding gives back the
		// same bytes, so no two encodings name one version.
		require.Equal(t, enc, interfaces.AppendVersionKey(nil, key, ts))
	})
}
