package sstable

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
	"github.com/lightningdb/lightning/vfs"
)

// memFile is a vfs.File over a byte slice that counts reads and can fail
// writes, reads or syncs on demand.
type memFile struct {
	mu        sync.Mutex
	name      string
	data      []byte
	pos       int
	closed    bool
	reads     atomic.Int64
	failWrite atomic.Bool
	failRead  atomic.Bool
	failSync  atomic.Bool
}

var _ vfs.File = (*memFile)(nil)

var errTestIO = errors.New("test: injected I/O error")

func newMemFile(name string, data []byte) *memFile {
	return &memFile{name: name, data: data}
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.reads.Add(1)
	if f.failRead.Load() {
		return 0, errTestIO
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, fs.ErrClosed
	}
	if off < 0 || off > int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if end := int(off) + len(p); end > len(f.data) {
		f.data = append(f.data, make([]byte, end-len(f.data))...)
	}
	return copy(f.data[off:], p), nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.failWrite.Load() {
		return 0, errTestIO
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, fs.ErrClosed
	}
	f.data = append(f.data[:f.pos], p...)
	f.pos += len(p)
	return len(p), nil
}

func (f *memFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fs.ErrClosed
	}
	f.closed = true
	return nil
}

func (f *memFile) Sync() error {
	if f.failSync.Load() {
		return errTestIO
	}
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = f.data[:size]
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.data)), nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) bytes() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return bytes.Clone(f.data)
}

// rleCodec is a tiny run-length codec for tests: uvarint decoded length,
// then (uvarint run length, byte) pairs. xor makes a second, incompatible
// codec from the same code.
type rleCodec struct {
	id  interfaces.CodecID
	xor byte
}

var (
	rle1 = &rleCodec{id: 200}
	rle2 = &rleCodec{id: 201, xor: 0x5a}
)

func (c *rleCodec) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCodec, Name: fmt.Sprintf("test-rle-%d", c.id), Version: "1",
		ContractVersion: interfaces.CodecContractVersion}
}

func (c *rleCodec) ID() interfaces.CodecID { return c.id }

func (c *rleCodec) Encode(dst, src []byte) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(src)))
	for i := 0; i < len(src); {
		j := i + 1
		for j < len(src) && src[j] == src[i] {
			j++
		}
		dst = binary.AppendUvarint(dst, uint64(j-i))
		dst = append(dst, src[i]^c.xor)
		i = j
	}
	return dst, nil
}

func (c *rleCodec) Decode(dst, src []byte) ([]byte, error) {
	n, m := binary.Uvarint(src)
	if m <= 0 || n > interfaces.MaxDecodedLen {
		return dst, fmt.Errorf("test-rle: bad length: %w", interfaces.ErrCorrupt)
	}
	src = src[m:]
	start := len(dst)
	for len(src) > 0 {
		run, m := binary.Uvarint(src)
		if m <= 0 || m >= len(src) || run == 0 || run > n-uint64(len(dst)-start) {
			return dst[:start], fmt.Errorf("test-rle: bad run: %w", interfaces.ErrCorrupt)
		}
		b := src[m] ^ c.xor
		for range run {
			dst = append(dst, b)
		}
		src = src[m+1:]
	}
	if uint64(len(dst)-start) != n {
		return dst[:start], fmt.Errorf("test-rle: short output: %w", interfaces.ErrCorrupt)
	}
	return dst, nil
}

// gcmCipher is a tiny AES-256-GCM cipher for tests. Envelope: key id (1
// byte), nonce (12), ciphertext and tag (16).
type gcmCipher struct {
	id   byte
	aead cipher.AEAD
}

func newGCM(t testing.TB, id byte) *gcmCipher {
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	aead, err := cipher.NewGCM(block)
	require.NoError(t, err)
	return &gcmCipher{id: id, aead: aead}
}

func (c *gcmCipher) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCipher, Name: "test-gcm", Version: "1",
		ContractVersion: interfaces.CipherContractVersion}
}

func (c *gcmCipher) Overhead() int { return 1 + 12 + 16 }

func (c *gcmCipher) Seal(dst, plaintext, ad []byte) ([]byte, error) {
	dst = append(dst, c.id)
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		return dst, err
	}
	dst = append(dst, nonce...)
	return c.aead.Seal(dst, nonce, plaintext, ad), nil
}

func (c *gcmCipher) Open(dst, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < c.Overhead() {
		return dst, fmt.Errorf("test-gcm: short envelope: %w", interfaces.ErrDecrypt)
	}
	if sealed[0] != c.id {
		return dst, fmt.Errorf("test-gcm: key %d: %w", sealed[0], interfaces.ErrKeyMismatch)
	}
	out, err := c.aead.Open(dst, sealed[1:13], sealed[13:], ad)
	if err != nil {
		return dst, fmt.Errorf("test-gcm: %w", interfaces.ErrDecrypt)
	}
	return out, nil
}

func (c *gcmCipher) Close() error { return nil }

// testCache is an unbounded map cache that counts its calls.
type testCache struct {
	mu                 sync.RWMutex
	m                  map[interfaces.CacheKey][]byte
	hits, misses, sets atomic.Int64
	deletes            atomic.Int64
}

func newTestCache() *testCache { return &testCache{m: make(map[interfaces.CacheKey][]byte)} }

func (c *testCache) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCache, Name: "test-map", Version: "1",
		ContractVersion: interfaces.CacheContractVersion}
}

func (c *testCache) Get(k interfaces.CacheKey) ([]byte, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return v, ok
}

func (c *testCache) Set(k interfaces.CacheKey, v []byte, charge int64) {
	c.sets.Add(1)
	c.mu.Lock()
	c.m[k] = v
	c.mu.Unlock()
}

func (c *testCache) Delete(k interfaces.CacheKey) {
	c.deletes.Add(1)
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

func (c *testCache) Capacity() int64 { return 1 << 62 }

func (c *testCache) Stats() interfaces.CacheStats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return interfaces.CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Inserts: c.sets.Load(), Entries: int64(len(c.m))}
}

func (c *testCache) HotKeys(uint64, int) ([]interfaces.CacheKey, error) {
	return nil, interfaces.ErrUnsupported
}

func (c *testCache) Close() error { return nil }

func (c *testCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// tb is what the helpers need of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
}

// entry is a table entry of the test model.
type entry struct {
	key   string
	ts    uint64
	kind  base.Kind
	value string
}

func (e entry) ikey() base.InternalKey { return base.MakeInternalKey([]byte(e.key), e.ts, e.kind) }

// sortEntries sorts es in internal-key order and drops duplicates of
// (key, ts).
func sortEntries(es []entry) []entry {
	sort.Slice(es, func(i, j int) bool {
		if es[i].key != es[j].key {
			return es[i].key < es[j].key
		}
		return es[i].ts > es[j].ts
	})
	out := es[:0]
	for i, e := range es {
		if i > 0 && e.key == es[i-1].key && e.ts == es[i-1].ts {
			continue
		}
		out = append(out, e)
	}
	return out
}

// buildTable writes es (sorted) to a new memFile and returns it with the
// Meta.
func buildTable(t tb, es []entry, opts WriterOptions) (*memFile, Meta) {
	t.Helper()
	f := newMemFile(fmt.Sprintf("%06d.sst", opts.FileNum), nil)
	w := NewWriter(f, opts)
	for _, e := range es {
		require.NoError(t, w.Add(e.ikey(), []byte(e.value)))
	}
	m, err := w.Finish()
	require.NoError(t, err)
	require.Equal(t, int64(m.Size), int64(len(f.data)))
	return f, m
}

// openTable opens the bytes of a table under opts.
func openTable(t tb, data []byte, opts ReaderOptions) *Reader {
	t.Helper()
	if opts.FileName == "" {
		opts.FileName = "test.sst"
	}
	r, err := Open(newMemFile(opts.FileName, data), int64(len(data)), opts)
	require.NoError(t, err)
	return r
}

// modelGet returns the newest entry of key with ts <= readTs in es.
func modelGet(es []entry, key string, readTs uint64) (entry, bool) {
	i := sort.Search(len(es), func(i int) bool {
		return es[i].key > key || (es[i].key == key && es[i].ts <= readTs)
	})
	if i < len(es) && es[i].key == key {
		return es[i], true
	}
	return entry{}, false
}

// modelSeekGE returns the index of the first entry >= k in es.
func modelSeekGE(es []entry, k base.InternalKey) int {
	return sort.Search(len(es), func(i int) bool { return base.Compare(es[i].ikey(), k) >= 0 })
}

// checkGet asserts that r.Get agrees with the model for key at readTs.
func checkGet(t tb, r *Reader, es []entry, key string, readTs uint64) {
	t.Helper()
	want, wantOK := modelGet(es, key, readTs)
	v, ts, kind, ok, err := r.Get([]byte(key), readTs, nil)
	require.NoError(t, err)
	require.Equal(t, wantOK, ok, "Get(%q, %d)", key, readTs)
	if ok {
		require.Equal(t, want.ts, ts, "Get(%q, %d)", key, readTs)
		require.Equal(t, want.kind, kind, "Get(%q, %d)", key, readTs)
		require.Equal(t, want.value, string(v), "Get(%q, %d)", key, readTs)
	}
}

// collect iterates the whole table forward and backward and returns the
// entries seen, asserting that both directions agree.
func collect(t tb, it *Iter) []entry {
	t.Helper()
	var fwd []entry
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		fwd = append(fwd, entry{string(k.UserKey), k.Ts(), k.Kind(), string(it.Value())})
	}
	require.NoError(t, it.Error())
	var bwd []entry
	for ok := it.Last(); ok; ok = it.Prev() {
		k := it.Key()
		bwd = append(bwd, entry{string(k.UserKey), k.Ts(), k.Kind(), string(it.Value())})
	}
	require.NoError(t, it.Error())
	require.Equal(t, len(fwd), len(bwd))
	for i := range fwd {
		require.Equal(t, fwd[i], bwd[len(bwd)-1-i])
	}
	return fwd
}
