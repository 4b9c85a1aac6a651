package lsm

import (
	"encoding/binary"
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// versionEdit is one change of the tree, as the manifest records it: the
// tables a flush or compaction added and deleted, and the engine's
// counters. Replaying every edit of a manifest in order rebuilds the
// version.
type versionEdit struct {
	hasNextFileNum bool
	// nextFileNum is above the number of every file the engine made so far.
	nextFileNum  uint64
	hasDurableTs bool
	// durableTs is the highest ts flushed: every version at or below it is
	// in a table of the version, none above.
	durableTs uint64
	hasLogNum bool
	// logNum is the number of the last memtable whose contents are in the
	// tables (memtables are numbered from 1 for the life of the database).
	logNum  uint64
	deleted []deletedFileEntry
	added   []newFileEntry
}

type deletedFileEntry struct {
	level int
	num   uint64
}

type newFileEntry struct {
	level int
	meta  *fileMeta
}

// The tags of an edit's fields. The numbers are part of the manifest
// format.
const (
	tagNextFileNum = 1
	tagDurableTs   = 2
	tagLogNum      = 3
	tagDeletedFile = 4
	tagNewFile     = 5
)

// maxEditFiles bounds the tables one decoded edit may name, so that
// hostile bytes cannot make the decoder allocate without bound.
const maxEditFiles = 1 << 20

// encode appends the edit's encoding to dst.
func (ve *versionEdit) encode(dst []byte) []byte {
	if ve.hasNextFileNum {
		dst = binary.AppendUvarint(dst, tagNextFileNum)
		dst = binary.AppendUvarint(dst, ve.nextFileNum)
	}
	if ve.hasDurableTs {
		dst = binary.AppendUvarint(dst, tagDurableTs)
		dst = binary.AppendUvarint(dst, ve.durableTs)
	}
	if ve.hasLogNum {
		dst = binary.AppendUvarint(dst, tagLogNum)
		dst = binary.AppendUvarint(dst, ve.logNum)
	}
	for _, d := range ve.deleted {
		dst = binary.AppendUvarint(dst, tagDeletedFile)
		dst = binary.AppendUvarint(dst, uint64(d.level))
		dst = binary.AppendUvarint(dst, d.num)
	}
	for _, a := range ve.added {
		f := a.meta
		dst = binary.AppendUvarint(dst, tagNewFile)
		dst = binary.AppendUvarint(dst, uint64(a.level))
		dst = binary.AppendUvarint(dst, f.num)
		dst = binary.AppendUvarint(dst, f.size)
		dst = binary.AppendUvarint(dst, uint64(f.smallest.Size()))
		dst = f.smallest.Append(dst)
		dst = binary.AppendUvarint(dst, uint64(f.largest.Size()))
		dst = f.largest.Append(dst)
		dst = binary.AppendUvarint(dst, f.minTs)
		dst = binary.AppendUvarint(dst, f.maxTs)
		dst = binary.AppendUvarint(dst, f.entries)
		dst = binary.AppendUvarint(dst, f.deletions)
		dst = binary.AppendUvarint(dst, f.userKeys)
	}
	return dst
}

// editDecoder reads an edit's fields, remembering the first failure.
type editDecoder struct {
	b   []byte
	err string
}

func (d *editDecoder) uvarint(what string) uint64 {
	if d.err != "" {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = "malformed " + what
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *editDecoder) level() int {
	l := d.uvarint("level")
	if d.err == "" && l >= NumLevels {
		d.err = fmt.Sprintf("level %d out of range", l)
	}
	return int(l)
}

// key reads a length-prefixed internal key, copying it.
func (d *editDecoder) key(what string) base.InternalKey {
	n := d.uvarint(what + " length")
	if d.err != "" {
		return base.InternalKey{}
	}
	if n < base.TrailerLen || n > interfaces.MaxKeySize+base.TrailerLen || n > uint64(len(d.b)) {
		d.err = fmt.Sprintf("%s of %d bytes", what, n)
		return base.InternalKey{}
	}
	k, _ := base.DecodeInternalKey(d.b[:n])
	d.b = d.b[n:]
	if kind := k.Kind(); kind != base.KindSet && kind != base.KindDelete {
		d.err = fmt.Sprintf("%s has unknown kind %d", what, kind)
	}
	return k.Clone()
}

// decodeEdit decodes an edit, checking each field on its own (whether the
// edit fits the version it applies to is applyEdit's business). It returns
// a reason when the bytes are malformed.
func decodeEdit(b []byte) (*versionEdit, string) {
	ve := &versionEdit{}
	d := editDecoder{b: b}
	seen := map[uint64]bool{}
	once := func(tag uint64, name string) bool {
		if seen[tag] {
			d.err = name + " appears twice"
			return false
		}
		seen[tag] = true
		return true
	}
	for d.err == "" && len(d.b) > 0 {
		tag := d.uvarint("tag")
		if d.err != "" {
			break
		}
		switch tag {
		case tagNextFileNum:
			if once(tag, "next file number") {
				ve.hasNextFileNum, ve.nextFileNum = true, d.uvarint("next file number")
			}
		case tagDurableTs:
			if once(tag, "durable ts") {
				ve.hasDurableTs, ve.durableTs = true, d.uvarint("durable ts")
				if d.err == "" && ve.durableTs > base.MaxTs {
					d.err = fmt.Sprintf("durable ts %d above the largest ts", ve.durableTs)
				}
			}
		case tagLogNum:
			if once(tag, "log number") {
				ve.hasLogNum, ve.logNum = true, d.uvarint("log number")
			}
		case tagDeletedFile:
			level := d.level()
			num := d.uvarint("file number")
			if d.err == "" && num == 0 {
				d.err = "deleted table number 0"
			}
			if len(ve.deleted) >= maxEditFiles {
				d.err = "too many deleted tables"
			}
			ve.deleted = append(ve.deleted, deletedFileEntry{level: level, num: num})
		case tagNewFile:
			f, level := decodeNewFile(&d)
			if len(ve.added) >= maxEditFiles {
				d.err = "too many new tables"
			}
			if d.err == "" {
				ve.added = append(ve.added, newFileEntry{level: level, meta: f})
			}
		default:
			d.err = fmt.Sprintf("unknown tag %d", tag)
		}
	}
	if d.err != "" {
		return nil, d.err
	}
	return ve, ""
}

// decodeNewFile reads the fields of a tagNewFile entry and checks them.
func decodeNewFile(d *editDecoder) (*fileMeta, int) {
	level := d.level()
	f := &fileMeta{}
	f.num = d.uvarint("file number")
	f.size = d.uvarint("file size")
	f.smallest = d.key("smallest key")
	f.largest = d.key("largest key")
	f.minTs = d.uvarint("min ts")
	f.maxTs = d.uvarint("max ts")
	f.entries = d.uvarint("entry count")
	f.deletions = d.uvarint("tombstone count")
	f.userKeys = d.uvarint("user key count")
	if d.err != "" {
		return nil, 0
	}
	switch {
	case f.num == 0:
		d.err = "new table number 0"
	case f.size == 0:
		d.err = fmt.Sprintf("table %06d of 0 bytes", f.num)
	case base.Compare(f.smallest, f.largest) > 0:
		d.err = fmt.Sprintf("table %06d: smallest key %s above largest %s", f.num, f.smallest, f.largest)
	case f.minTs == 0 || f.minTs > f.maxTs || f.maxTs > base.MaxTs:
		d.err = fmt.Sprintf("table %06d: ts range [%d, %d] invalid", f.num, f.minTs, f.maxTs)
	case f.entries == 0 || f.deletions > f.entries || f.userKeys == 0 || f.userKeys > f.entries:
		d.err = fmt.Sprintf("table %06d: %d entries, %d tombstones, %d user keys", f.num, f.entries, f.deletions, f.userKeys)
	case f.smallest.Ts() < f.minTs || f.smallest.Ts() > f.maxTs || f.largest.Ts() < f.minTs || f.largest.Ts() > f.maxTs:
		d.err = fmt.Sprintf("table %06d: bound keys outside the ts range [%d, %d]", f.num, f.minTs, f.maxTs)
	}
	return f, level
}
