package host

import (
	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// Chunk sizes a remote iterator asks for. The first chunk after First or
// Seek is small, because many iterators read a handful of versions after
// a Seek; each later chunk doubles, up to the byte bound, so that a long
// scan pays one round trip per ~256 KiB.
const (
	firstChunkEntries = 64
	maxChunkEntries   = 8192
	chunkBytes        = wire.DefaultChunkBytes
)

// remoteIterator is an interfaces.Iterator over a plugin's iterator. It
// holds one decoded chunk; Key and Value alias the chunk, which stays
// untouched until the next move, as the contract allows.
type remoteIterator struct {
	s  *RemoteStorage
	id uint64

	chunk []interfaces.Entry
	pos   int
	// done says the plugin's iterator is exhausted after chunk.
	done bool
	// next is the entry count to ask for in the next chunk.
	next   uint32
	err    error
	closed bool
}

var _ interfaces.Iterator = (*remoteIterator)(nil)

func (it *remoteIterator) load(resp *pluginv1.IterChunk) bool {
	it.pos = 0
	chunk, err := wire.DecodeEntries(it.chunk[:0], resp.Block, resp.Count)
	if err != nil {
		it.chunk, it.done, it.err = it.chunk[:0], true, it.s.p.partError("iterator", err)
		return false
	}
	it.chunk, it.done = chunk, resp.Done
	if perr := wire.ErrorFromProto(resp.Error); perr != nil {
		// The versions before the failure stay readable; Valid goes false
		// at the end of them and Err reports the failure.
		it.err = it.s.p.partError("iterator", perr)
		it.done = true
	}
	return it.pos < len(it.chunk)
}

func (it *remoteIterator) fail(err error) bool {
	it.chunk, it.pos, it.done, it.err = it.chunk[:0], 0, true, err
	return false
}

func (it *remoteIterator) seek(first bool, key []byte) bool {
	if it.closed {
		return it.fail(it.s.errClosed("iterator"))
	}
	it.err = nil
	it.next = firstChunkEntries
	ctx, cancel := it.s.p.callCtx()
	defer cancel()
	resp, err := it.s.c.IterSeek(ctx, &pluginv1.IterSeekRequest{
		Handle: it.s.handle, Iterator: it.id, First: first, Key: key,
		Limits: &pluginv1.ChunkLimits{MaxEntries: it.next, MaxBytes: chunkBytes},
	})
	if err != nil {
		return it.fail(it.s.p.transportError("iterator seek", err))
	}
	return it.load(resp)
}

// First moves to the first version in the iterator's direction.
func (it *remoteIterator) First() bool { return it.seek(true, nil) }

// Seek moves to key, as interfaces.Iterator.Seek says.
func (it *remoteIterator) Seek(key []byte) bool {
	if key == nil {
		key = []byte{}
	}
	return it.seek(false, key)
}

// Next moves one version on, fetching the next chunk when this one is
// used up.
func (it *remoteIterator) Next() bool {
	if it.pos >= len(it.chunk) {
		return false
	}
	it.pos++
	if it.pos < len(it.chunk) {
		return true
	}
	if it.done {
		return false
	}
	last := it.chunk[len(it.chunk)-1]
	it.next = min(2*it.next, maxChunkEntries)
	ctx, cancel := it.s.p.callCtx()
	defer cancel()
	resp, err := it.s.c.IterNext(ctx, &pluginv1.IterNextRequest{
		Handle: it.s.handle, Iterator: it.id, ResumeKey: last.Key, ResumeTs: last.Ts,
		Limits: &pluginv1.ChunkLimits{MaxEntries: it.next, MaxBytes: chunkBytes},
	})
	if err != nil {
		return it.fail(it.s.p.transportError("iterator next", err))
	}
	return it.load(resp)
}

// Valid reports whether the iterator stands on a version.
func (it *remoteIterator) Valid() bool { return it.pos < len(it.chunk) }

// Key returns the current user key.
func (it *remoteIterator) Key() []byte { return it.chunk[it.pos].Key }

// Ts returns the current version's ts.
func (it *remoteIterator) Ts() uint64 { return it.chunk[it.pos].Ts }

// Kind returns the current version's kind.
func (it *remoteIterator) Kind() interfaces.EntryKind { return it.chunk[it.pos].Kind }

// Value returns the current value; nil for a tombstone.
func (it *remoteIterator) Value() []byte {
	e := &it.chunk[it.pos]
	if e.Kind == interfaces.KindDelete {
		return nil
	}
	return e.Value
}

// Err returns the error that ended the iteration, if any.
func (it *remoteIterator) Err() error { return it.err }

// Close closes the plugin's iterator and returns Err (or the close's own
// error).
func (it *remoteIterator) Close() error {
	if it.closed {
		return it.err
	}
	it.closed = true
	it.chunk, it.pos = nil, 0
	ctx, cancel := it.s.p.callCtx()
	defer cancel()
	resp, err := it.s.c.IterClose(ctx, &pluginv1.IterCloseRequest{Handle: it.s.handle, Iterator: it.id})
	if it.err != nil {
		return it.err
	}
	if err != nil {
		return it.s.p.transportError("iterator close", err)
	}
	return it.s.p.partError("iterator close", wire.ErrorFromProto(resp.Error))
}
