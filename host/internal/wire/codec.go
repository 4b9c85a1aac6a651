package wire

import (
	"fmt"
	"sync"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/interfaces"
)

// CodecName is the gRPC content-subtype of Codec. The plugin registers
// Codec under it; the host selects it per call (grpc.ForceCodecV2), so
// the host's process-wide codec registry is left alone.
const CodecName = "lightning-v1"

// Codec is the gRPC codec of the iterator calls. The bytes on the wire
// are protobuf, exactly what the proto codec reads and writes (either end
// may use the plain proto codec and the other still understands it), but
// iterator chunks skip the proto codec's copies:
//
//   - Marshal of an *OutChunk hands its pooled block to gRPC as it is;
//     gRPC returns it to the pool once the frames carrying it are
//     written. The proto codec copies the block into a new buffer.
//   - Unmarshal into an *InChunk copies the message once, into the
//     InChunk's own reusable buffer, and points Block into it. The proto
//     codec gathers the frames into one buffer and then copies the block
//     out again into a fresh allocation, which for a 256 KiB chunk costs
//     page faults as well as the copy.
//
// Every other message goes to the proto codec.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// protoCodec is the codec Codec defers to. Importing grpc's proto codec
// package registers it before this package's variables initialise.
var protoCodec = encoding.GetCodecV2(grpcproto.Name)

// Name returns CodecName.
func (Codec) Name() string { return CodecName }

// Marshal encodes v. An *OutChunk's block passes to gRPC (see OutChunk).
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if c, ok := v.(*OutChunk); ok {
		return c.marshal()
	}
	return protoCodec.Marshal(v)
}

// Unmarshal decodes data into v. An *InChunk is filled without copying
// the block a second time.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if c, ok := v.(*InChunk); ok {
		return c.unmarshal(data)
	}
	return protoCodec.Unmarshal(data, v)
}

// Field numbers of pluginv1.IterChunk (storage.proto).
const (
	chunkFieldError protowire.Number = 1
	chunkFieldCount protowire.Number = 2
	chunkFieldBlock protowire.Number = 3
	chunkFieldDone  protowire.Number = 4
)

// OutChunk is a pluginv1.IterChunk to send through Codec: its block is a
// buffer of Blocks, handed to gRPC without a copy. Send an OutChunk once
// (SendMsg); the block belongs to gRPC from then on. Release returns the
// block of a chunk that is not sent.
type OutChunk struct {
	Error *pluginv1.Error
	Count uint32
	Done  bool
	// Block holds the Count entries, and comes from Blocks.Take (or is
	// nil).
	Block *[]byte
}

// Release returns the chunk's block to Blocks, for a chunk that will not
// be sent.
func (c *OutChunk) Release() {
	if c.Block != nil {
		Blocks.Put(c.Block)
		c.Block = nil
	}
}

// marshal writes the fields in the order error, count, done, block, so
// that the header is one small buffer and the block follows it untouched.
// Protobuf accepts fields in any order, and zero fields are left out as
// proto3 does.
func (c *OutChunk) marshal() (mem.BufferSlice, error) {
	var errBytes []byte
	if c.Error != nil {
		var err error
		if errBytes, err = proto.Marshal(c.Error); err != nil {
			c.Release()
			return nil, fmt.Errorf("lightning/host: marshal chunk error: %w", err)
		}
	}
	var block []byte
	if c.Block != nil {
		block = *c.Block
	}
	hdr := make([]byte, 0, 24+len(errBytes))
	if c.Error != nil {
		hdr = protowire.AppendTag(hdr, chunkFieldError, protowire.BytesType)
		hdr = protowire.AppendBytes(hdr, errBytes)
	}
	if c.Count != 0 {
		hdr = protowire.AppendTag(hdr, chunkFieldCount, protowire.VarintType)
		hdr = protowire.AppendVarint(hdr, uint64(c.Count))
	}
	if c.Done {
		hdr = protowire.AppendTag(hdr, chunkFieldDone, protowire.VarintType)
		hdr = protowire.AppendVarint(hdr, 1)
	}
	if len(block) == 0 {
		c.Release()
		return mem.BufferSlice{mem.SliceBuffer(hdr)}, nil
	}
	hdr = protowire.AppendTag(hdr, chunkFieldBlock, protowire.BytesType)
	hdr = protowire.AppendVarint(hdr, uint64(len(block)))
	out := mem.BufferSlice{mem.SliceBuffer(hdr), mem.NewBuffer(c.Block, Blocks)}
	c.Block = nil
	return out, nil
}

// InChunk receives a pluginv1.IterChunk through Codec. Block aliases a
// buffer the InChunk owns and reuses: it is valid until the next
// Unmarshal into the same InChunk, or Release.
type InChunk struct {
	Error *pluginv1.Error
	Count uint32
	Done  bool
	Block []byte
	buf   *[]byte // from recvBuffers
	// malformed is the error of the last Unmarshal, kept because gRPC
	// turns a codec's error into a status message and drops its chain.
	malformed error
}

// TakeMalformed returns the error of the last Unmarshal into c, if it
// failed (it matches interfaces.ErrCorrupt), and forgets it. The receiver
// of a chunk calls it when the receive fails, to tell a malformed message
// from a broken connection.
func (c *InChunk) TakeMalformed() error {
	err := c.malformed
	c.malformed = nil
	return err
}

// retainLimit is the largest buffer kept for reuse: a chunk carrying one
// huge value must not pin its size for the rest of the scan, or in a
// pool.
const retainLimit = 2 * MaxChunkBytes

// recvBuffers recycles InChunk buffers between iterators, so that a scan
// neither grows its buffer chunk by chunk nor faults in fresh pages.
var recvBuffers = sync.Pool{New: func() any { b := make([]byte, 0, blockCap); return &b }}

// Release returns the InChunk's buffer for reuse; Block is invalid
// afterwards. The InChunk may receive again.
func (c *InChunk) Release() {
	if c.buf != nil && cap(*c.buf) <= retainLimit {
		recvBuffers.Put(c.buf)
	}
	*c = InChunk{}
}

func (c *InChunk) unmarshal(data mem.BufferSlice) error {
	n := data.Len()
	if c.buf == nil {
		c.buf = recvBuffers.Get().(*[]byte)
	}
	if cap(*c.buf) < n || (cap(*c.buf) > retainLimit && n <= retainLimit) {
		*c.buf = make([]byte, max(n, blockCap))
	}
	b := (*c.buf)[:n]
	data.CopyTo(b)
	c.malformed = c.parse(b)
	return c.malformed
}

// parse decodes an IterChunk message from b. Unknown fields are skipped;
// for a repeated scalar or bytes field the last one wins and repeated
// error messages merge, as proto.Unmarshal does.
func (c *InChunk) parse(b []byte) error {
	c.Error, c.Count, c.Done, c.Block = nil, 0, false, nil
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return chunkError(protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber {
			return chunkError(fmt.Errorf("field number %d out of range", num))
		}
		b = b[n:]
		switch {
		case num == chunkFieldError && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return chunkError(protowire.ParseError(n))
			}
			if c.Error == nil {
				c.Error = new(pluginv1.Error)
			}
			if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, c.Error); err != nil {
				return chunkError(err)
			}
			b = b[n:]
		case num == chunkFieldCount && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return chunkError(protowire.ParseError(n))
			}
			c.Count = uint32(v) // proto3 truncates a uint32 the same way
			b = b[n:]
		case num == chunkFieldDone && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return chunkError(protowire.ParseError(n))
			}
			c.Done = v != 0
			b = b[n:]
		case num == chunkFieldBlock && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return chunkError(protowire.ParseError(n))
			}
			c.Block = v[:len(v):len(v)]
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return chunkError(protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return nil
}

func chunkError(err error) error {
	return fmt.Errorf("lightning/host: malformed iterator chunk: %w: %w", interfaces.ErrCorrupt, err)
}

// Blocks is the pool of chunk blocks: the plugin takes a block for each
// chunk it builds, and gRPC puts it back once written (Codec hands it over
// with the pool attached).
var Blocks = &blockPool{}

// blockPool is a mem.BufferPool of append buffers sized for a default
// chunk. Buffers that grew far beyond that (a chunk carrying a huge
// value) are dropped rather than kept.
type blockPool struct {
	p sync.Pool
}

var _ mem.BufferPool = (*blockPool)(nil)

// blockCap is the capacity of a fresh block: a default chunk stops at the
// first entry that reaches DefaultChunkBytes, so most fit without growing.
const blockCap = DefaultChunkBytes + 16<<10

// Take returns an empty block with room for a default chunk.
func (bp *blockPool) Take() *[]byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, blockCap)
	return &b
}

// Get returns a buffer of length n (mem.BufferPool).
func (bp *blockPool) Get(n int) *[]byte {
	b := bp.Take()
	if cap(*b) < n {
		*b = make([]byte, n)
	}
	*b = (*b)[:n]
	return b
}

// Put returns a buffer to the pool (mem.BufferPool).
func (bp *blockPool) Put(b *[]byte) {
	if b == nil || cap(*b) > retainLimit || cap(*b) < blockCap {
		return
	}
	bp.p.Put(b)
}
