package lsm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// testCipher is AES-256-GCM with a random nonce, enough of a Cipher for
// the engine's tests (the aesgcm plugin may not be imported here).
type testCipher struct {
	aead cipher.AEAD
}

func newTestCipher(key byte) *testCipher {
	k := make([]byte, 32)
	for i := range k {
		k[i] = key
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &testCipher{aead: aead}
}

func (c *testCipher) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCipher, Name: "test-gcm", Version: "0", ContractVersion: interfaces.CipherContractVersion}
}

func (c *testCipher) Seal(dst, plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return dst, err
	}
	dst = append(dst, nonce...)
	return c.aead.Seal(dst, nonce, plaintext, ad), nil
}

func (c *testCipher) Open(dst, sealed, ad []byte) ([]byte, error) {
	n := c.aead.NonceSize()
	if len(sealed) < n+c.aead.Overhead() {
		return dst, fmt.Errorf("test cipher: short envelope: %w", interfaces.ErrDecrypt)
	}
	out, err := c.aead.Open(dst, sealed[:n], sealed[n:], ad)
	if err != nil {
		return dst, errors.Join(err, interfaces.ErrDecrypt)
	}
	return out, nil
}

func (c *testCipher) Overhead() int { return c.aead.NonceSize() + c.aead.Overhead() }

func (c *testCipher) Close() error { return nil }

// ik builds an internal key.
func ik(ukey string, ts uint64, kind base.Kind) base.InternalKey {
	return base.MakeInternalKey([]byte(ukey), ts, kind)
}

// meta builds a table description for tests.
func meta(num uint64, smallest, largest string, minTs, maxTs, size uint64) *fileMeta {
	return &fileMeta{
		num: num, size: size,
		smallest: ik(smallest, maxTs, base.KindSet), largest: ik(largest, minTs, base.KindSet),
		minTs: minTs, maxTs: maxTs, entries: 10, deletions: 1, userKeys: 5,
	}
}

// rleCodec is a run-length codec with a configurable ID, standing in for
// real codecs (other plugins may not be imported here).
type rleCodec struct {
	id   interfaces.CodecID
	name string
}

func (c rleCodec) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCodec, Name: c.name, Version: "0", ContractVersion: interfaces.CodecContractVersion}
}

func (c rleCodec) ID() interfaces.CodecID { return c.id }

func (c rleCodec) Encode(dst, src []byte) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(src)))
	for i := 0; i < len(src); {
		j := i + 1
		for j < len(src) && j-i < 255 && src[j] == src[i] {
			j++
		}
		dst = append(dst, byte(j-i), src[i])
		i = j
	}
	return dst, nil
}

func (c rleCodec) Decode(dst, src []byte) ([]byte, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > interfaces.MaxDecodedLen || n > uint64(len(src))*255 {
		return dst, fmt.Errorf("rle: bad length: %w", interfaces.ErrCorrupt)
	}
	start := len(dst)
	for p := src[k:]; len(p) > 0; p = p[2:] {
		if len(p) < 2 || p[0] == 0 || uint64(len(dst)-start)+uint64(p[0]) > n {
			return dst, fmt.Errorf("rle: bad run: %w", interfaces.ErrCorrupt)
		}
		for range p[0] {
			dst = append(dst, p[1])
		}
	}
	if uint64(len(dst)-start) != n {
		return dst, fmt.Errorf("rle: short: %w", interfaces.ErrCorrupt)
	}
	return dst, nil
}

// mapCache is a plain unbounded Cache for tests (the arc plugin may not be
// imported here).
type mapCache struct {
	mu sync.Mutex
	m  map[interfaces.CacheKey][]byte
}

func newMapCache() *mapCache { return &mapCache{m: map[interfaces.CacheKey][]byte{}} }

func (c *mapCache) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCache, Name: "test-map", Version: "0", ContractVersion: interfaces.CacheContractVersion}
}

func (c *mapCache) Get(k interfaces.CacheKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *mapCache) Set(k interfaces.CacheKey, v []byte, _ int64) {
	c.mu.Lock()
	c.m[k] = v
	c.mu.Unlock()
}

func (c *mapCache) Delete(k interfaces.CacheKey) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

func (c *mapCache) Capacity() int64 { return 1 << 40 }

func (c *mapCache) Stats() interfaces.CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return interfaces.CacheStats{Entries: int64(len(c.m))}
}

func (c *mapCache) HotKeys(uint64, int) ([]interfaces.CacheKey, error) {
	return nil, interfaces.ErrUnsupported
}

func (c *mapCache) Close() error { return nil }
