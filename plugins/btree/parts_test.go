package btree_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	"github.com/klauspost/compress/snappy"

	"github.com/lightningdb/lightning/interfaces"
)

// Small but real Codec and Cipher implementations for the tests: plugins
// may not import each other, even in tests.

// testCodecID is the test codec's ID, in the third-party range.
const testCodecID interfaces.CodecID = 201

// testCodec is snappy, from klauspost/compress.
type testCodec struct{}

func newTestCodec() interfaces.Codec { return testCodec{} }

func (testCodec) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCodec, Name: "test-snappy", Version: "0", ContractVersion: interfaces.CodecContractVersion}
}

func (testCodec) ID() interfaces.CodecID { return testCodecID }

func (testCodec) Encode(dst, src []byte) ([]byte, error) {
	enc := snappy.Encode(nil, src)
	return append(dst, enc...), nil
}

func (testCodec) Decode(dst, src []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil || n > interfaces.MaxDecodedLen {
		return dst, fmt.Errorf("test-snappy: %v: %w", err, interfaces.ErrCorrupt)
	}
	out, err := snappy.Decode(nil, src)
	if err != nil {
		return dst, fmt.Errorf("test-snappy: %v: %w", err, interfaces.ErrCorrupt)
	}
	return append(dst, out...), nil
}

// testCipher is AES-256-GCM with a random nonce and a one-byte key id.
type testCipher struct {
	id   byte
	aead cipher.AEAD
}

func newTestCipher(key byte) interfaces.Cipher {
	k := make([]byte, 32)
	for i := range k {
		k[i] = key*31 + byte(i)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &testCipher{id: key, aead: aead}
}

func (c *testCipher) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCipher, Name: "test-gcm", Version: "0", ContractVersion: interfaces.CipherContractVersion}
}

func (c *testCipher) Overhead() int { return 1 + c.aead.NonceSize() + c.aead.Overhead() }

func (c *testCipher) Seal(dst, plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return dst, err
	}
	dst = append(dst, c.id)
	dst = append(dst, nonce...)
	return c.aead.Seal(dst, nonce, plaintext, ad), nil
}

func (c *testCipher) Open(dst, sealed, ad []byte) ([]byte, error) {
	ns := c.aead.NonceSize()
	if len(sealed) < 1+ns+c.aead.Overhead() {
		return dst, fmt.Errorf("test-gcm: short: %w", interfaces.ErrDecrypt)
	}
	if sealed[0] != c.id {
		return dst, fmt.Errorf("test-gcm: key %d: %w", sealed[0], interfaces.ErrKeyMismatch)
	}
	out, err := c.aead.Open(dst, sealed[1:1+ns], sealed[1+ns:], ad)
	if err != nil {
		return dst, fmt.Errorf("test-gcm: %v: %w", err, interfaces.ErrDecrypt)
	}
	return out, nil
}

func (c *testCipher) Close() error { return nil }
