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
		for off, i := 0, 0; i < n; i++ {
			var e interfaces.Entry
			size := EntrySize(&entries[i])
			usual := entries[i].Ts < 1<<21 && len(entries[i].Key) < 1<<14 && len(entries[i].Value) < 1<<14
			if got := decodeShort(block[off:], &e); usual && got != size {
				t.Fatalf("entry %d: short path took %d bytes of %d", i, got, size)
			}
			off += size
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
// that re-encode to the same bytes (up to over-long varints, which the
// decoder reads as binary.Uvarint does), or fails with ErrCorrupt.
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
		if bytes.Equal(re, block) {
			return
		}
		again, err := DecodeEntries(nil, re, count)
		if err != nil || len(re) > len(block) || len(again) != len(got) {
			t.Fatalf("re-encoding %x of %x does not decode the same: %v", re, block, err)
		}
		for i := range got {
			a, g := again[i], got[i]
			if a.Kind != g.Kind || a.Ts != g.Ts || !bytes.Equal(a.Key, g.Key) || !bytes.Equal(a.Value, g.Value) {
				t.Fatalf("entry %d re-decodes as %+v, was %+v", i, a, g)
			}
		}
	})
}

// TestChunkReader: the reader yields the entries of a block one by one,
// and reports a block that does not hold exactly count entries where it
// shows: the entries before stay readable.
func TestChunkReader(t *testing.T) {
	a := interfaces.Entry{Key: []byte("a"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("x")}
	b := interfaces.Entry{Key: []byte("b"), Ts: 1 << 30, Kind: interfaces.KindDelete}
	c := interfaces.Entry{Key: bytes.Repeat([]byte("k"), 200), Ts: 3, Kind: interfaces.KindSet, Value: bytes.Repeat([]byte("v"), 20000)}
	block := AppendEntry(AppendEntry(AppendEntry(nil, &a), &b), &c)
	cases := []struct {
		name  string
		block []byte
		count uint32
		good  int // entries read before the end or the error
		fails bool
	}{
		{"exact", block, 3, 3, false},
		{"empty", nil, 0, 0, false},
		{"count short of the block", block, 2, 2, true},
		{"count beyond the block", block, 4, 3, true},
		{"truncated", block[:len(block)-1], 3, 2, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r ChunkReader
			r.Reset(tc.block, tc.count)
			var e interfaces.Entry
			n := 0
			var err error
			for {
				var ok bool
				ok, err = r.Next(&e)
				if !ok {
					break
				}
				want := []interfaces.Entry{a, b, c}[n]
				require.Equal(t, string(want.Key), string(e.Key))
				require.Equal(t, want.Ts, e.Ts)
				require.Equal(t, want.Kind, e.Kind)
				require.Equal(t, string(want.Value), string(e.Value))
				n++
			}
			require.Equal(t, tc.good, n)
			if tc.fails {
				require.ErrorIs(t, err, interfaces.ErrCorrupt)
			} else {
				require.NoError(t, err)
			}
		})
	}
}

// FuzzDecodeShort: the short path of the decoder agrees with the general
// one on every entry it accepts, and accepts the usual entries.
func FuzzDecodeShort(f *testing.F) {
	f.Add(AppendEntry(nil, &interfaces.Entry{Key: []byte("key-000000000001"), Ts: 12345, Kind: interfaces.KindSet, Value: make([]byte, 100)}))
	f.Add(AppendEntry(nil, &interfaces.Entry{Key: []byte("k"), Ts: 1 << 20, Kind: interfaces.KindDelete}))
	f.Add(AppendEntry(nil, &interfaces.Entry{Key: []byte{}, Ts: 1 << 40, Kind: interfaces.KindSet, Value: make([]byte, 300)}))
	f.Add([]byte{2, 1, 1, 'k', 1, 'v'})
	f.Add([]byte{1, 0x81, 0x00, 0x01, 'k', 0x80, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var short, full interfaces.Entry
		n := decodeShort(b, &short)
		m, err := decodeEntryInto(b, &full)
		if n == 0 {
			return
		}
		if err != nil || n != m {
			t.Fatalf("short path took %d bytes, general path %d, %v", n, m, err)
		}
		if short.Kind != full.Kind || short.Ts != full.Ts || !bytes.Equal(short.Key, full.Key) ||
			!bytes.Equal(short.Value, full.Value) || (short.Value == nil) != (full.Value == nil) ||
			(short.Key == nil) != (full.Key == nil) {
			t.Fatalf("short %+v, general %+v", short, full)
		}
	})
}
