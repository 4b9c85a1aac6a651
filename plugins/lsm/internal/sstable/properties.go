package sstable

import (
	"encoding/binary"
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// propertiesVersion is the version of the properties encoding this package
// writes. A later version may only append fields, so a reader takes the
// fields it knows from any version >= 1 and ignores the rest.
const propertiesVersion = 1

// Properties describe a table. The writer computes them; Verify checks them
// against the table's contents.
type Properties struct {
	// MinTs and MaxTs are the smallest and largest ts of the entries.
	MinTs, MaxTs uint64
	// NumEntries counts entries; NumDeletions counts the tombstones among
	// them.
	NumEntries, NumDeletions uint64
	// NumUserKeys counts distinct user keys: the keys in the filter.
	NumUserKeys uint64
	// RawKeyBytes sums the lengths of the entries' user keys (without
	// trailers); RawValueBytes sums the lengths of their values. Both are
	// before prefix compression and the codec.
	RawKeyBytes, RawValueBytes uint64
	// NumDataBlocks counts data blocks.
	NumDataBlocks uint64
	// IndexSize and FilterSize are the payload lengths of the index and
	// filter blocks in the file (FilterSize is 0 without a filter).
	IndexSize, FilterSize uint64
	// Codec is the codec the writer compressed with (CodecNone for none).
	// A block that did not shrink enough is stored uncompressed, with codec
	// ID 0 in its trailer.
	Codec interfaces.CodecID
	// RestartInterval is the number of entries between restart points in
	// data blocks.
	RestartInterval uint32
	// FileNum is the file number the table was written for. A sealed
	// table opens only under that number; the field is informative.
	FileNum uint64
	// CreationUnixNano is when the writer was made, in Unix nanoseconds.
	CreationUnixNano int64
}

// encodeProperties appends the properties block for p, smallest and
// largest to dst.
func encodeProperties(dst []byte, p *Properties, smallest, largest []byte) []byte {
	dst = binary.AppendUvarint(dst, propertiesVersion)
	for _, v := range [...]uint64{p.MinTs, p.MaxTs, p.NumEntries, p.NumDeletions, p.NumUserKeys,
		p.RawKeyBytes, p.RawValueBytes, p.NumDataBlocks, p.IndexSize, p.FilterSize} {
		dst = binary.AppendUvarint(dst, v)
	}
	dst = append(dst, byte(p.Codec))
	dst = binary.AppendUvarint(dst, uint64(p.RestartInterval))
	dst = binary.AppendUvarint(dst, p.FileNum)
	dst = binary.AppendVarint(dst, p.CreationUnixNano)
	dst = binary.AppendUvarint(dst, uint64(len(smallest)))
	dst = append(dst, smallest...)
	dst = binary.AppendUvarint(dst, uint64(len(largest)))
	return append(dst, largest...)
}

// propDecoder reads the fields of a properties block, remembering the first
// failure.
type propDecoder struct {
	b      []byte
	reason string
}

func (d *propDecoder) uvarint() uint64 {
	if d.reason != "" {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.reason = "malformed properties field"
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *propDecoder) varint() int64 {
	if d.reason != "" {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.reason = "malformed properties field"
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *propDecoder) u8() byte {
	if d.reason != "" {
		return 0
	}
	if len(d.b) == 0 {
		d.reason = "properties block truncated"
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// key reads a length-prefixed internal key, copying it.
func (d *propDecoder) key() base.InternalKey {
	n := d.uvarint()
	if d.reason != "" {
		return base.InternalKey{}
	}
	if n < base.TrailerLen || n > interfaces.MaxKeySize+base.TrailerLen || n > uint64(len(d.b)) {
		d.reason = "bad key length in properties"
		return base.InternalKey{}
	}
	k, _ := base.DecodeInternalKey(d.b[:n])
	d.b = d.b[n:]
	return k.Clone()
}

// decodeProperties decodes a properties block and checks that it is
// self-consistent, returning a reason when it is not.
func decodeProperties(b []byte) (p Properties, smallest, largest base.InternalKey, reason string) {
	d := propDecoder{b: b}
	version := d.uvarint()
	if d.reason == "" && version == 0 {
		return p, smallest, largest, "properties version 0"
	}
	fields := [...]*uint64{&p.MinTs, &p.MaxTs, &p.NumEntries, &p.NumDeletions, &p.NumUserKeys,
		&p.RawKeyBytes, &p.RawValueBytes, &p.NumDataBlocks, &p.IndexSize, &p.FilterSize}
	for _, f := range fields {
		*f = d.uvarint()
	}
	p.Codec = interfaces.CodecID(d.u8())
	ri := d.uvarint()
	p.FileNum = d.uvarint()
	p.CreationUnixNano = d.varint()
	smallest = d.key()
	largest = d.key()
	if d.reason != "" {
		return p, smallest, largest, d.reason
	}
	switch {
	case version == propertiesVersion && len(d.b) != 0:
		return p, smallest, largest, "bytes after the properties"
	case ri == 0 || ri > maxRestartInterval:
		return p, smallest, largest, "restart interval out of range"
	case p.NumEntries == 0:
		return p, smallest, largest, "table has no entries"
	case p.NumDeletions > p.NumEntries:
		return p, smallest, largest, "more tombstones than entries"
	case p.NumUserKeys == 0 || p.NumUserKeys > p.NumEntries:
		return p, smallest, largest, "user key count out of range"
	case p.NumDataBlocks == 0 || p.NumDataBlocks > p.NumEntries:
		return p, smallest, largest, "data block count out of range"
	case p.MinTs > p.MaxTs:
		return p, smallest, largest, "min ts above max ts"
	case base.Compare(smallest, largest) > 0:
		return p, smallest, largest, "smallest key above largest key"
	}
	p.RestartInterval = uint32(ri)
	return p, smallest, largest, ""
}

// String formats p for logs and tools.
func (p Properties) String() string {
	return fmt.Sprintf("entries=%d deletions=%d userkeys=%d ts=[%d,%d] raw=%d+%d blocks=%d index=%d filter=%d codec=%d restart=%d file=%d",
		p.NumEntries, p.NumDeletions, p.NumUserKeys, p.MinTs, p.MaxTs, p.RawKeyBytes, p.RawValueBytes,
		p.NumDataBlocks, p.IndexSize, p.FilterSize, p.Codec, p.RestartInterval, p.FileNum)
}
