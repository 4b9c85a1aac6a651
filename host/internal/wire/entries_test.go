package wire

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
)

func TestEntryEncoding(t *testing.T) {
	cases := []struct {
		name string
		e    interfaces.Entry
		want []byte
	}{
		{"set", interfaces.Entry{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("v")},
			[]byte{1, 1, 1, 'k', 1, 'v'}},
		{"empty key and value", interfaces.Entry{Ts: 300, Kind: interfaces.KindSet},
			[]byte{1, 0xac, 0x02, 0, 0}},
		{"tombstone drops its value", interfaces.Entry{Key: []byte("k"), Ts: 2, Kind: interfaces.KindDelete, Value: []byte("ignored")},
			[]byte{2, 2, 1, 'k', 0}},
		{"bad kind is carried", interfaces.Entry{Key: []byte("k"), Ts: 0, Kind: 9, Value: []byte("v")},
			[]byte{9, 0, 1, 'k', 1, 'v'}},
		{"max ts", interfaces.Entry{Key: []byte{}, Ts: math.MaxUint64, Kind: interfaces.KindSet},
			[]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := AppendEntry(nil, &c.e)
			require.Equal(t, c.want, got)
			require.Equal(t, len(got), EntrySize(&c.e))
			dec, err := DecodeEntries(nil, got, 1)
			require.NoError(t, err)
			require.Len(t, dec, 1)
			require.Equal(t, c.e.Kind, dec[0].Kind)
			require.Equal(t, c.e.Ts, dec[0].Ts)
			require.Equal(t, string(c.e.Key), string(dec[0].Key))
			require.NotNil(t, dec[0].Key, "keys decode non-nil")
			if c.e.Kind == interfaces.KindDelete {
				require.Nil(t, dec[0].Value)
			} else {
				require.Equal(t, string(c.e.Value), string(dec[0].Value))
			}
		})
	}
}

func TestDecodeEntriesRefuses(t *testing.T) {
	valid := AppendEntry(nil, &interfaces.Entry{Key: []byte("key"), Ts: 7, Kind: interfaces.KindSet, Value: []byte("value")})
	cases := []struct {
		name  string
		block []byte
		count uint32
	}{
		{"count beyond block", valid, 2},
		{"count the block cannot hold", nil, 1},
		{"huge count", valid, math.MaxUint32},
		{"trailing bytes", append(append([]byte(nil), valid...), 0), 1},
		{"truncated value", valid[:len(valid)-1], 1},
		{"truncated key", valid[:4], 1},
		{"bad ts varint", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0}, 1},
		{"key length past end", []byte{1, 1, 0x7f, 'k'}, 1},
		{"tombstone with a value", []byte{2, 1, 1, 'k', 1, 'v'}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeEntries(nil, c.block, c.count)
			require.ErrorIs(t, err, interfaces.ErrCorrupt)
		})
	}
}

// TestEntriesRoundTrip: any entries survive encoding and decoding, and
// decoded values cannot be appended into their neighbours.
func TestEntriesRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 20).Draw(t, "n")
		entries := make([]interfaces.Entry, n)
		var block []byte
		for i := range entries {
			e := interfaces.Entry{
				Key:  rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "key"),
				Ts:   rapid.Uint64().Draw(t, "ts"),
				Kind: interfaces.EntryKind(rapid.SampledFrom([]uint8{1, 2, 0, 3, 255}).Draw(t, "kind")),
			}
			if e.Kind != interfaces.KindDelete {
				e.Value = rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "value")
			}
			entries[i] = e
			block = AppendEntry(block, &e)
		}
		got, err := DecodeEntries(nil, block, uint32(n))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(got) != n {
			t.Fatalf("decoded %d entries, want %d", len(got), n)
		}
		orig := bytes.Clone(block)
		for i := range got {
			w, g := entries[i], got[i]
			if g.Kind != w.Kind || g.Ts != w.Ts || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) {
				t.Fatalf("entry %d: got %+v, want %+v", i, g, w)
			}
			_ = append(g.Key, 0xee)
			_ = append(g.Value, 0xee)
		}
		if !bytes.Equal(block, orig) {
			t.Fatalf("appending to a decoded slice wrote into the block")
		}
	})
}

// FuzzDecodeEntries: any block either decodes into exactly count entries
// that re-encode to the same bytes, or fails with ErrCorrupt.
func FuzzDecodeEntries(f *testing.F) {
	var block []byte
	block = AppendEntry(block, &interfaces.Entry{Key: []byte("a"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("x")})
	block = AppendEntry(block, &interfaces.Entry{Key: []byte("b"), Ts: 1 << 40, Kind: interfaces.KindDelete})
	f.Add(block, uint32(2))
	f.Add(block, uint32(1))
	f.Add([]byte{}, uint32(0))
	f.Add([]byte{1, 0xff}, uint32(1))
	f.Add([]byte{2, 1, 1, 'k', 1, 'v'}, uint32(1))
	f.Fuzz(func(t *testing.T, block []byte, count uint32) {
		got, err := DecodeEntries(nil, block, count)
		if err != nil {
			if !errorsIsCorrupt(err) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		if uint32(len(got)) != count {
			t.Fatalf("decoded %d entries, count %d", len(got), count)
		}
		var re []byte
		for i := range got {
			re = AppendEntry(re, &got[i])
		}
		if !bytes.Equal(re, block) {
			t.Fatalf("re-encoding differs:\n got  %x\n want %x", re, block)
		}
	})
}
