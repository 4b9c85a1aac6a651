package sstable

import (
	"bytes"
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// Verify reads the whole table from the file, bypassing the cache, and
// checks everything the format promises: every block's checksum,
// authentication and decoding; the footer, properties, index and filter
// match what Open decoded; every entry decodes, restart points fall
// exactly every RestartInterval entries and share nothing; keys strictly
// increase within and across blocks; every separator bounds its block;
// kinds are known and tombstones empty; the filter holds every user key;
// and the properties match the entries. Because the blocks tile the file
// (Open checks it), every byte of the file is covered. Damage is a
// *interfaces.CorruptionError naming the block.
func (r *Reader) Verify() error {
	if r.closed.Load() {
		return errClosed
	}
	if err := r.verifyMeta(); err != nil {
		return err
	}
	v := verifier{r: r, ri: int(r.props.RestartInterval)}
	var bufs blockBufs
	for i := range r.index.entries {
		h := r.index.handle(i)
		raw, id, err := r.readBlockCodec(h, blockData, &bufs, true)
		if err != nil {
			return err
		}
		if id != interfaces.CodecNone && id != r.props.Codec {
			return interfaces.Corruptf(r.name, int64(h.offset), "data block compressed with codec %d, the table with %d", id, r.props.Codec)
		}
		if reason := v.block(raw, i); reason != "" {
			return interfaces.Corruptf(r.name, int64(h.offset), "data block %d: %s", i, reason)
		}
	}
	return v.finish()
}

// verifyMeta re-reads the footer and metadata blocks and checks that they
// decode to what Open pinned.
func (r *Reader) verifyMeta() error {
	fb := make([]byte, footerLen)
	if err := readFull(r.f, fb, r.size-footerLen); err != nil {
		return fmt.Errorf("lightning/lsm/sstable: read %s footer: %w", r.name, err)
	}
	ft, err := decodeFooter(fb, r.size, r.name, r.cipher != nil)
	if err != nil {
		return err
	}
	if ft != r.footer {
		return interfaces.Corruptf(r.name, r.size-footerLen, "footer changed since the table was opened")
	}
	var bufs blockBufs
	raw, err := r.readBlock(ft.properties, blockProperties, &bufs, false)
	if err != nil {
		return err
	}
	props, smallest, largest, reason := decodeProperties(raw)
	if reason == "" && (props != r.props || base.Compare(smallest, r.smallest) != 0 || base.Compare(largest, r.largest) != 0) {
		reason = "properties changed since the table was opened"
	}
	if reason != "" {
		return interfaces.Corruptf(r.name, int64(ft.properties.offset), "%s", reason)
	}
	if raw, err = r.readBlock(ft.index, blockIndex, &bufs, false); err != nil {
		return err
	}
	x, reason := decodeIndex(raw, ft.dataEnd())
	if reason == "" && !indexEqual(&x, &r.index) {
		reason = "index changed since the table was opened"
	}
	if reason != "" {
		return interfaces.Corruptf(r.name, int64(ft.index.offset), "index block: %s", reason)
	}
	if ft.hasFilter() {
		if raw, err = r.readBlock(ft.filter, blockFilter, &bufs, false); err != nil {
			return err
		}
		f, reason := decodeFilter(raw)
		if reason == "" && (f.lines != r.filter.lines || f.probes != r.filter.probes || !bytes.Equal(f.bits, r.filter.bits)) {
			reason = "filter changed since the table was opened"
		}
		if reason != "" {
			return interfaces.Corruptf(r.name, int64(ft.filter.offset), "%s", reason)
		}
	}
	return nil
}

func indexEqual(a, b *index) bool {
	if len(a.entries) != len(b.entries) {
		return false
	}
	for i := range a.entries {
		if a.entries[i] != b.entries[i] || !bytes.Equal(a.userKey(i), b.userKey(i)) {
			return false
		}
	}
	return true
}

// verifier accumulates what Verify learns from the data blocks.
type verifier struct {
	r     *Reader
	ri    int
	props Properties
	// prev is the previous entry's key; first and last the table's.
	prev, first []byte
}

// block checks data block i, returning a reason for the first problem.
func (v *verifier) block(raw []byte, i int) string {
	b, reason := validateBlock(raw)
	if reason != "" {
		return reason
	}
	x := &v.r.index
	data := b.data
	var key []byte
	k := 0
	for p := 0; p < len(data); k++ {
		atRestart := k%v.ri == 0
		prevLen := len(key)
		if atRestart {
			if r := k / v.ri; r >= b.numRestarts || b.restart(r) != p {
				return fmt.Sprintf("entry %d at %d is not restart point %d", k, p, k/v.ri)
			}
			prevLen = 0
		}
		shared, unshared, vlen, q, ok := decodeEntryHeader(data, p, prevLen)
		if !ok {
			return fmt.Sprintf("malformed entry %d at %d", k, p)
		}
		key = append(key[:shared], data[q:q+unshared]...)
		val := data[q+unshared : q+unshared+vlen]
		p = q + unshared + vlen
		ik, ok := base.DecodeInternalKey(key)
		switch {
		case !ok:
			return fmt.Sprintf("entry %d: key shorter than its trailer", k)
		case len(ik.UserKey) > interfaces.MaxKeySize:
			return fmt.Sprintf("entry %d: %d-byte key", k, len(ik.UserKey))
		case ik.Kind() != base.KindSet && ik.Kind() != base.KindDelete:
			return fmt.Sprintf("entry %d: unknown kind %d", k, ik.Kind())
		case ik.Kind() == base.KindDelete && vlen != 0:
			return fmt.Sprintf("entry %d: tombstone with a %d-byte value", k, vlen)
		case vlen > interfaces.MaxValueSize:
			return fmt.Sprintf("entry %d: %d-byte value", k, vlen)
		case v.prev != nil && base.CompareEncoded(v.prev, key) >= 0:
			return fmt.Sprintf("entry %d: key %s out of order", k, ik)
		case base.Compare(ik, x.separator(i)) > 0:
			return fmt.Sprintf("entry %d: key %s above the block's separator %s", k, ik, x.separator(i))
		case k == 0 && i > 0 && base.Compare(ik, x.separator(i-1)) <= 0:
			return fmt.Sprintf("first key %s not above the previous separator %s", ik, x.separator(i-1))
		}
		pr := &v.props
		newUserKey := v.prev == nil || !bytes.Equal(v.prev[:len(v.prev)-base.TrailerLen], ik.UserKey)
		if newUserKey {
			pr.NumUserKeys++
			if v.r.hasFilt && !v.r.filter.mayContain(hash64(ik.UserKey)) {
				return fmt.Sprintf("entry %d: key %q missing from the filter", k, ik.UserKey)
			}
		}
		if v.prev == nil {
			pr.MinTs, pr.MaxTs = ik.Ts(), ik.Ts()
			v.first = append([]byte(nil), key...)
		}
		pr.MinTs, pr.MaxTs = min(pr.MinTs, ik.Ts()), max(pr.MaxTs, ik.Ts())
		pr.NumEntries++
		if ik.Kind() == base.KindDelete {
			pr.NumDeletions++
		}
		pr.RawKeyBytes += uint64(len(ik.UserKey))
		pr.RawValueBytes += uint64(len(val))
		v.prev = append(v.prev[:0], key...)
	}
	if want := (k + v.ri - 1) / v.ri; b.numRestarts != want {
		return fmt.Sprintf("%d restart points for %d entries", b.numRestarts, k)
	}
	v.props.NumDataBlocks++
	return ""
}

// finish compares the accumulated properties with the stored ones.
func (v *verifier) finish() error {
	r := v.r
	off := int64(r.footer.properties.offset)
	got, want := v.props, r.props
	// Fields the data blocks cannot tell: take them as stored.
	got.IndexSize, got.FilterSize, got.Codec = want.IndexSize, want.FilterSize, want.Codec
	got.RestartInterval, got.FileNum, got.CreationUnixNano = want.RestartInterval, want.FileNum, want.CreationUnixNano
	if got != want {
		return interfaces.Corruptf(r.name, off, "properties {%s} do not match the entries {%s}", want, got)
	}
	switch {
	case !bytes.Equal(v.first, r.smallest.Append(nil)):
		return interfaces.Corruptf(r.name, off, "smallest key %s is not the first entry", r.smallest)
	case !bytes.Equal(v.prev, r.largest.Append(nil)):
		return interfaces.Corruptf(r.name, off, "largest key %s is not the last entry", r.largest)
	}
	return nil
}
