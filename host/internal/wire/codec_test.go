package wire

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/interfaces"
)

// split cuts b into a BufferSlice at the given offsets, as gRPC hands a
// message over in frame-sized pieces.
func split(b []byte, cuts []int) mem.BufferSlice {
	var out mem.BufferSlice
	prev := 0
	for _, c := range cuts {
		if c <= prev || c >= len(b) {
			continue
		}
		out = append(out, mem.SliceBuffer(b[prev:c]))
		prev = c
	}
	return append(out, mem.SliceBuffer(b[prev:]))
}

func sameChunk(t require.TestingT, want *pluginv1.IterChunk, got *InChunk) {
	require.True(t, proto.Equal(want.Error, got.Error), "error: want %v, got %v", want.Error, got.Error)
	require.Equal(t, want.Count, got.Count)
	require.Equal(t, want.Done, got.Done)
	require.Equal(t, len(want.Block), len(got.Block))
	require.True(t, bytes.Equal(want.Block, got.Block))
}

func blockOf(entries ...interfaces.Entry) []byte {
	var b []byte
	for i := range entries {
		b = AppendEntry(b, &entries[i])
	}
	return b
}

func TestOutChunkMarshalsProto(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // above gRPC's pooling threshold
	cases := []struct {
		name  string
		err   *pluginv1.Error
		count uint32
		done  bool
		block []byte
	}{
		{"empty", nil, 0, false, nil},
		{"done and empty", nil, 0, true, nil},
		{"small block", nil, 1, false, blockOf(interfaces.Entry{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("v")})},
		{"big block", nil, 7, true, big},
		{"error", ErrorToProto(interfaces.ErrClosed), 0, true, nil},
		{"error after versions", ErrorToProto(&interfaces.CorruptionError{File: "f", Offset: 9, Reason: "r"}), 2, true, big[:100]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := &OutChunk{Error: c.err, Count: c.count, Done: c.done}
			if c.block != nil {
				out.Block = Blocks.Take()
				*out.Block = append(*out.Block, c.block...)
			}
			data, err := Codec{}.Marshal(out)
			require.NoError(t, err)
			require.Nil(t, out.Block, "the block passes to gRPC")
			var got pluginv1.IterChunk
			require.NoError(t, proto.Unmarshal(data.Materialize(), &got))
			data.Free()
			want := &pluginv1.IterChunk{Error: c.err, Count: c.count, Done: c.done, Block: c.block}
			require.True(t, proto.Equal(want, &got), "want %v\n got %v", want, &got)
		})
	}
}

// TestInChunkReadsProto: whatever the proto codec would write for an
// IterChunk, cut into any pieces, with unknown fields and repeated fields
// mixed in, InChunk reads as proto.Unmarshal does.
func TestInChunkReadsProto(t *testing.T) {
	var in InChunk
	defer in.Release()
	rapid.Check(t, func(t *rapid.T) {
		msg := &pluginv1.IterChunk{
			Count: rapid.Uint32().Draw(t, "count"),
			Done:  rapid.Bool().Draw(t, "done"),
			Block: rapid.SliceOfN(rapid.Byte(), 0, 3000).Draw(t, "block"),
		}
		if rapid.Bool().Draw(t, "error") {
			msg.Error = &pluginv1.Error{Code: rapid.Uint32().Draw(t, "code"), Message: rapid.StringN(0, 20, -1).Draw(t, "message")}
		}
		b, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		// Unknown fields of each wire type, and a repeated count (the
		// last one wins).
		for range rapid.IntRange(0, 3).Draw(t, "unknown") {
			num := protowire.Number(rapid.IntRange(5, 1000).Draw(t, "num"))
			switch rapid.IntRange(0, 3).Draw(t, "type") {
			case 0:
				b = protowire.AppendTag(b, num, protowire.VarintType)
				b = protowire.AppendVarint(b, rapid.Uint64().Draw(t, "v"))
			case 1:
				b = protowire.AppendTag(b, num, protowire.BytesType)
				b = protowire.AppendBytes(b, rapid.SliceOfN(rapid.Byte(), 0, 50).Draw(t, "bytes"))
			case 2:
				b = protowire.AppendTag(b, num, protowire.Fixed32Type)
				b = protowire.AppendFixed32(b, 7)
			case 3:
				b = protowire.AppendTag(b, num, protowire.Fixed64Type)
				b = protowire.AppendFixed64(b, 7)
			}
		}
		if rapid.Bool().Draw(t, "recount") {
			b = protowire.AppendTag(b, chunkFieldCount, protowire.VarintType)
			b = protowire.AppendVarint(b, 42)
		}
		var want pluginv1.IterChunk
		if err := proto.Unmarshal(b, &want); err != nil {
			t.Fatalf("proto: %v", err)
		}
		cuts := rapid.SliceOfN(rapid.IntRange(0, len(b)), 0, 6).Draw(t, "cuts")
		slices.Sort(cuts)
		if err := (Codec{}).Unmarshal(split(b, cuts), &in); err != nil {
			t.Fatalf("InChunk: %v", err)
		}
		sameChunk(t, &want, &in)
	})
}

func TestInChunkRefusesMalformed(t *testing.T) {
	good, err := proto.Marshal(&pluginv1.IterChunk{Count: 1, Block: []byte("abcdef"), Done: true})
	require.NoError(t, err)
	for name, b := range map[string][]byte{
		"truncated block":   good[:len(good)-3],
		"truncated tag":     {0x80},
		"field number zero": {0x00, 0x01},
		"bad count varint":  {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"bad error message": {0x0a, 0x02, 0x08},
	} {
		t.Run(name, func(t *testing.T) {
			var in InChunk
			err := Codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &in)
			require.ErrorIs(t, err, interfaces.ErrCorrupt)
			require.Error(t, proto.Unmarshal(b, new(pluginv1.IterChunk)), "proto refuses it too")
		})
	}
}

// TestInChunkReusesBuffer: receiving chunk after chunk reuses one buffer,
// and Block aliases it (the iterator's Key and Value alias the chunk).
func TestInChunkReusesBuffer(t *testing.T) {
	var in InChunk
	defer in.Release()
	recv := func(block []byte) {
		b, err := proto.Marshal(&pluginv1.IterChunk{Count: 1, Block: block})
		require.NoError(t, err)
		require.NoError(t, Codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &in))
		require.Equal(t, block, in.Block)
	}
	recv(bytes.Repeat([]byte{1}, 1000))
	first := unsafe.SliceData(*in.buf)
	recv(bytes.Repeat([]byte{2}, 2000))
	require.Same(t, first, unsafe.SliceData(*in.buf), "the buffer is reused")
	// A huge chunk gets a buffer of its own, which is not kept for the
	// next, small one.
	recv(bytes.Repeat([]byte{3}, retainLimit+1))
	recv([]byte{4})
	require.LessOrEqual(t, cap(*in.buf), retainLimit)
}

// TestCodecDefersToProto: messages other than chunks go through the proto
// codec unchanged.
func TestCodecDefersToProto(t *testing.T) {
	req := &pluginv1.IterScanRequest{Handle: 3, Iterator: 4, Key: []byte("k"), Credit: 2,
		Limits: &pluginv1.ChunkLimits{MaxEntries: 5, MaxBytes: 6}}
	data, err := Codec{}.Marshal(req)
	require.NoError(t, err)
	var got pluginv1.IterScanRequest
	require.NoError(t, Codec{}.Unmarshal(data, &got))
	require.True(t, proto.Equal(req, &got))
	require.Equal(t, CodecName, Codec{}.Name())
	_, err = Codec{}.Marshal(struct{}{})
	require.Error(t, err)
}

// FuzzInChunk: on any bytes, InChunk agrees with proto.Unmarshal: both
// refuse, or both accept with the same fields.
func FuzzInChunk(f *testing.F) {
	for _, m := range []*pluginv1.IterChunk{
		{},
		{Count: 2, Block: []byte{1, 1, 1, 'a', 1, 'x', 2, 1, 1, 'b', 0}, Done: true},
		{Error: &pluginv1.Error{Code: 5, Message: "closed"}, Done: true},
	} {
		b, err := proto.Marshal(m)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{0x80})
	f.Add([]byte{0x1a, 0x05, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		var want pluginv1.IterChunk
		perr := proto.Unmarshal(b, &want)
		var in InChunk
		err := Codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &in)
		if (perr == nil) != (err == nil) {
			t.Fatalf("proto says %v, InChunk says %v", perr, err)
		}
		if err != nil {
			if !errors.Is(err, interfaces.ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		sameChunk(t, &want, &in)
	})
}
