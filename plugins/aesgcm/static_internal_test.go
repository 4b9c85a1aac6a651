package aesgcm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
)

func staticTestKey(n int) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "aesgcm static test key %d", n))
	return sum[:]
}

func keyIDOf(t *testing.T, sealed []byte) KeyID {
	t.Helper()
	id, err := KeyIDOf(sealed)
	require.NoError(t, err)
	return id
}

// TestStaticInstancesHaveOwnKeys: two ciphers of one key (two processes of
// the plugin) seal under different key ids, and each opens the other's
// blocks, as does a third made later.
func TestStaticInstancesHaveOwnKeys(t *testing.T) {
	a, err := New(staticTestKey(0))
	require.NoError(t, err)
	defer a.Close()
	b, err := New(staticTestKey(0))
	require.NoError(t, err)
	defer b.Close()

	sa, err := a.Seal(nil, []byte("from a"), []byte("ad a"))
	require.NoError(t, err)
	sb, err := b.Seal(nil, []byte("from b"), []byte("ad b"))
	require.NoError(t, err)
	require.NotEqual(t, keyIDOf(t, sa), keyIDOf(t, sb), "two instances drew one key id (a 2^-32 event)")
	for range 10 {
		more, err := a.Seal(nil, []byte("again"), nil)
		require.NoError(t, err)
		require.Equal(t, keyIDOf(t, sa), keyIDOf(t, more), "an instance changed key before its limit")
	}

	c, err := New(staticTestKey(0))
	require.NoError(t, err)
	defer c.Close()
	for _, o := range []*Cipher{a, b, c} {
		out, err := o.Open(nil, sa, []byte("ad a"))
		require.NoError(t, err)
		require.Equal(t, "from a", string(out))
		out, err = o.Open(nil, sb, []byte("ad b"))
		require.NoError(t, err)
		require.Equal(t, "from b", string(out))
	}
	// The other's key is cached after its first block.
	require.NotNil(t, a.kr.static.lookup(keyIDOf(t, sb)))
	require.NotNil(t, c.kr.static.lookup(keyIDOf(t, sa)))
}

// TestStaticRollsAtLimit: a cipher whose key reaches its limit rolls to a
// fresh id instead of failing, never lets a key seal more than the limit,
// concurrent Seals included, and everything it sealed opens elsewhere.
func TestStaticRollsAtLimit(t *testing.T) {
	const limit = 5
	c, err := newStatic(staticTestKey(1), limit)
	require.NoError(t, err)
	defer c.Close()
	reader, err := New(staticTestKey(1))
	require.NoError(t, err)
	defer reader.Close()

	const workers, each = 4, 200
	var mu sync.Mutex
	perID := map[KeyID]int{}
	var sealed [][]byte
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				s, err := c.Seal(nil, fmt.Appendf(nil, "block %d/%d", w, i), []byte("ad"))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				perID[keyIDOf(t, s)]++
				sealed = append(sealed, s)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.GreaterOrEqual(t, len(perID), workers*each/limit, "the key did not roll")
	for id, n := range perID {
		require.LessOrEqual(t, n, limit, "key %d sealed %d blocks, over the limit", id, n)
		require.NotEqual(t, c.kr.static.legacy, id)
	}
	// Every id sealed under is remembered, so no roll draws it again.
	for id := range perID {
		require.True(t, c.kr.static.sealed[id], "key %d is not remembered", id)
	}
	require.True(t, c.kr.static.sealed[c.kr.cur.Load().id])
	for _, s := range sealed {
		_, err := reader.Open(nil, s, []byte("ad"))
		require.NoError(t, err)
	}
	// The reader's cache stays bounded though it met over a hundred ids.
	requireCacheConsistent(t, reader)
	require.LessOrEqual(t, len(reader.kr.static.fifo), maxStaticKeys)
}

// TestStaticWrongKey: a cipher of another key does not open a block (the
// derived key does not authenticate it), returns dst unchanged, and does
// not cache the useless key.
func TestStaticWrongKey(t *testing.T) {
	a, err := New(staticTestKey(2))
	require.NoError(t, err)
	defer a.Close()
	b, err := New(staticTestKey(3))
	require.NoError(t, err)
	defer b.Close()
	s, err := a.Seal(nil, []byte("secret"), []byte("ad"))
	require.NoError(t, err)
	before := len(b.kr.static.fifo)
	out, err := b.Open([]byte("dst"), s, []byte("ad"))
	require.ErrorIs(t, err, interfaces.ErrDecrypt)
	require.Equal(t, "dst", string(out))
	require.Len(t, b.kr.static.fifo, before)
	require.Nil(t, b.kr.static.lookup(keyIDOf(t, s)))
}

// TestStaticCacheBounded: opening blocks of more ids than the cache holds
// evicts the oldest (never the current key) and re-derives on demand.
func TestStaticCacheBounded(t *testing.T) {
	reader, err := New(staticTestKey(4))
	require.NoError(t, err)
	defer reader.Close()
	cur := reader.kr.cur.Load()
	var blocks [][]byte
	for i := range maxStaticKeys + 20 {
		w, err := New(staticTestKey(4))
		require.NoError(t, err)
		s, err := w.Seal(nil, fmt.Appendf(nil, "%d", i), nil)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		blocks = append(blocks, s)
		_, err = reader.Open(nil, s, nil)
		require.NoError(t, err)
	}
	require.Len(t, reader.kr.static.fifo, maxStaticKeys)
	require.Same(t, cur, reader.kr.static.lookup(cur.id), "the current key was evicted")
	requireCacheConsistent(t, reader)
	require.Nil(t, reader.kr.static.lookup(keyIDOf(t, blocks[0])), "the oldest key was kept")
	for i, s := range blocks {
		out, err := reader.Open(nil, s, nil)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(i), string(out))
	}
	require.NoError(t, reader.Close())
	_, err = reader.Open(nil, blocks[0], nil)
	require.ErrorIs(t, err, interfaces.ErrClosed)
}

// TestStaticFormat pins the documented derivation: a block New seals opens
// with AES-256-GCM under HKDF-SHA256(key, salt none, info "lightning/aesgcm
// static data key v2" || key id LE), computed here independently; and a
// block of the first static mode (one id and key derived from the key)
// still opens.
func TestStaticFormat(t *testing.T) {
	key := staticTestKey(5)
	c, err := New(key)
	require.NoError(t, err)
	defer c.Close()
	sealed, err := c.Seal(nil, []byte("pinned"), []byte("where"))
	require.NoError(t, err)
	require.Len(t, sealed, len("pinned")+Overhead)
	require.Equal(t, byte(1), sealed[0])
	id := binary.LittleEndian.Uint32(sealed[1:5])
	info := append([]byte("lightning/aesgcm static data key v2"), sealed[1:5]...)
	dk, err := hkdf.Key(sha256.New, key, nil, string(info), 32)
	require.NoError(t, err)
	gcm := newGCM(t, dk)
	plain, err := gcm.Open(nil, sealed[5:17], sealed[17:], append(append([]byte{}, sealed[:5]...), "where"...))
	require.NoError(t, err)
	require.Equal(t, "pinned", string(plain))
	require.NotZero(t, id)

	// The first static mode: id = HKDF(key, info "lightning/aesgcm static
	// key id v1", 4 bytes) LE, data key = HKDF(key, info "lightning/aesgcm
	// static data key v1").
	idBytes, err := hkdf.Key(sha256.New, key, nil, "lightning/aesgcm static key id v1", 4)
	require.NoError(t, err)
	legacyKey, err := hkdf.Key(sha256.New, key, nil, "lightning/aesgcm static data key v1", 32)
	require.NoError(t, err)
	header := append([]byte{1}, idBytes...)
	nonce := []byte("twelve bytes")
	legacy := append(append(append([]byte{}, header...), nonce...),
		newGCM(t, legacyKey).Seal(nil, nonce, []byte("old block"), append(append([]byte{}, header...), "ad"...))...)
	out, err := c.Open(nil, legacy, []byte("ad"))
	require.NoError(t, err)
	require.Equal(t, "old block", string(out))
	require.NotEqual(t, KeyID(binary.LittleEndian.Uint32(idBytes)), c.kr.cur.Load().id)
}

// requireCacheConsistent checks that a static cipher's map and FIFO hold
// the same keys, the current one among them.
func requireCacheConsistent(t *testing.T, c *Cipher) {
	t.Helper()
	st := c.kr.static
	c.kr.mu.Lock()
	defer c.kr.mu.Unlock()
	inMap := 0
	st.keys.Range(func(id, k any) bool {
		inMap++
		require.Equal(t, id, k.(*dataKey).id)
		return true
	})
	require.Len(t, st.fifo, inMap)
	for _, k := range st.fifo {
		require.Same(t, k, st.lookup(k.id))
	}
	require.Same(t, c.kr.cur.Load(), st.lookup(c.kr.cur.Load().id))
}

func newGCM(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	gcm, err := cipher.NewGCM(block)
	require.NoError(t, err)
	return gcm
}

// TestStaticConformanceRolling runs the cipher suite on static ciphers
// that roll their key every 7 Seals, so rolls race with everything the
// suite does.
func TestStaticConformanceRolling(t *testing.T) {
	conformance.TestCipher(t, func(key int) (interfaces.Cipher, error) { return newStatic(staticTestKey(100+key), 7) })
}

func TestStaticRefusesBadArguments(t *testing.T) {
	for _, tc := range []struct {
		key   []byte
		limit uint64
	}{{make([]byte, 16), NISTLimit}, {nil, NISTLimit}, {staticTestKey(0), 0}, {staticTestKey(0), NISTLimit + 1}} {
		_, err := newStatic(tc.key, tc.limit)
		require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	}
}

// BenchmarkStaticOpenUncached opens 128-byte blocks of more key ids than a
// static cipher caches, in turn, so every Open derives its key: the cost
// of reading a database many plugin processes wrote.
func BenchmarkStaticOpenUncached(b *testing.B) {
	key := staticTestKey(6)
	blocks := make([][]byte, 2*maxStaticKeys)
	for i := range blocks {
		w, err := New(key)
		require.NoError(b, err)
		blocks[i], err = w.Seal(nil, make([]byte, 128), nil)
		require.NoError(b, err)
		require.NoError(b, w.Close())
	}
	r, err := New(key)
	require.NoError(b, err)
	defer r.Close()
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := r.Open(buf[:0], blocks[i%len(blocks)], nil); err != nil {
			b.Fatal(err)
		}
	}
}
