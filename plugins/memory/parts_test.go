package memory

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
)

// Small but real Codec and Cipher implementations for the tests: plugins
// may not import each other, even in tests. They are exported from the
// test build so the external test package can use them too.

// RLECodecID is the ID of the test codec, in the third-party range.
const RLECodecID interfaces.CodecID = 200

// RLECodec is a run-length codec: uvarint(decoded length), then (run
// length 1..255, byte) pairs.
type RLECodec struct{}

// NewRLECodec returns the test codec.
func NewRLECodec() interfaces.Codec { return RLECodec{} }

func (RLECodec) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCodec, Name: "test-rle", Version: "0", ContractVersion: interfaces.CodecContractVersion}
}

func (RLECodec) ID() interfaces.CodecID { return RLECodecID }

func (RLECodec) Encode(dst, src []byte) ([]byte, error) {
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

func (RLECodec) Decode(dst, src []byte) ([]byte, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > interfaces.MaxDecodedLen || n > uint64(len(src))*255 {
		return dst, fmt.Errorf("test-rle: bad length: %w", interfaces.ErrCorrupt)
	}
	start := len(dst)
	for p := src[k:]; len(p) > 0; p = p[2:] {
		if len(p) < 2 || p[0] == 0 {
			return dst, fmt.Errorf("test-rle: bad run: %w", interfaces.ErrCorrupt)
		}
		if uint64(len(dst)-start)+uint64(p[0]) > n {
			return dst, fmt.Errorf("test-rle: too long: %w", interfaces.ErrCorrupt)
		}
		for range p[0] {
			dst = append(dst, p[1])
		}
	}
	if uint64(len(dst)-start) != n {
		return dst, fmt.Errorf("test-rle: short: %w", interfaces.ErrCorrupt)
	}
	return dst, nil
}

// GCMCipher is AES-256-GCM with an envelope of key id (1 byte) and nonce
// (12 bytes) before the sealed bytes.
type GCMCipher struct {
	id   byte
	aead cipher.AEAD
}

// NewGCMCipher returns a test cipher with key number key.
func NewGCMCipher(key byte) interfaces.Cipher {
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
	return &GCMCipher{id: key, aead: aead}
}

func (c *GCMCipher) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCipher, Name: "test-gcm", Version: "0", ContractVersion: interfaces.CipherContractVersion}
}

func (c *GCMCipher) Overhead() int { return 1 + 12 + 16 }

func (c *GCMCipher) Seal(dst, plaintext, ad []byte) ([]byte, error) {
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return dst, err
	}
	dst = append(dst, c.id)
	dst = append(dst, nonce[:]...)
	return c.aead.Seal(dst, nonce[:], plaintext, ad), nil
}

func (c *GCMCipher) Open(dst, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < c.Overhead() {
		return dst, fmt.Errorf("test-gcm: short: %w", interfaces.ErrDecrypt)
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

func (c *GCMCipher) Close() error { return nil }
