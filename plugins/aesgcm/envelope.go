package aesgcm

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/lightningdb/lightning/interfaces"
)

// The envelope of a sealed block (doc.go and docs/FORMATS.md draw it):
//
//	+---------+-----------+-----------+-----------------+---------+
//	| version | key id    | nonce     | ciphertext      | tag     |
//	| 1 byte  | 4 bytes LE| 12 bytes  | len(plaintext)  | 16 bytes|
//	+---------+-----------+-----------+-----------------+---------+
//
// AES-256-GCM with the key the id names, the nonce drawn by crypto/rand
// for every Seal, and additional data = version || key id || the
// caller's additional data, so the header is authenticated with the body.
const (
	// envelopeVersion is the first byte of every envelope this package
	// writes and the only one it opens.
	envelopeVersion = 1
	// headerLen is the version and the key id.
	headerLen = 1 + 4
	nonceLen  = 12
	tagLen    = 16
	// Overhead is the exact number of bytes Seal adds to a plaintext.
	Overhead = headerLen + nonceLen + tagLen
)

// KeyID names a data key in its registry. Registry keys are numbered from
// 1 in order of creation and never reused; a cipher made by New draws
// random ids, each naming a data key derived from its key.
type KeyID uint32

// KeyIDOf returns the id of the key that sealed an envelope, without
// opening it. It fails (ErrDecrypt) on a block too short to be an envelope
// or of an unknown version. The id is not authenticated until the block
// opens.
func KeyIDOf(sealed []byte) (KeyID, error) {
	if len(sealed) < Overhead {
		return 0, fmt.Errorf("lightning/aesgcm: sealed block of %d bytes is shorter than the %d-byte envelope: %w",
			len(sealed), Overhead, interfaces.ErrDecrypt)
	}
	if sealed[0] != envelopeVersion {
		return 0, fmt.Errorf("lightning/aesgcm: envelope version %d, this build reads %d: %w",
			sealed[0], envelopeVersion, interfaces.ErrDecrypt)
	}
	return KeyID(binary.LittleEndian.Uint32(sealed[1:headerLen])), nil
}

// newAEAD makes the AES-256-GCM of key with random nonces drawn by the
// standard library (crypto/rand), prepended to the ciphertext.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("lightning/aesgcm: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("lightning/aesgcm: %w", err)
	}
	if aead.Overhead() != nonceLen+tagLen {
		return nil, fmt.Errorf("lightning/aesgcm: GCM overhead %d, want %d", aead.Overhead(), nonceLen+tagLen)
	}
	return aead, nil
}

// adPool recycles the buffers that join an envelope's header to the
// caller's additional data: GCM takes the additional data as one slice.
var adPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// maxPooledAD bounds the buffers kept in adPool.
const maxPooledAD = 64 << 10

// seal appends the envelope of plaintext under k to dst.
func seal(k *dataKey, dst, plaintext, ad []byte) []byte {
	start := len(dst)
	dst = append(dst, envelopeVersion, 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(dst[start+1:], uint32(k.id))
	buf := adPool.Get().(*[]byte)
	full := append(append((*buf)[:0], dst[start:start+headerLen]...), ad...)
	dst = k.aead.Seal(dst, nil, plaintext, full)
	putAD(buf, full)
	return dst
}

// open appends the plaintext of sealed, whose header names k, to dst.
func open(k *dataKey, dst, sealed, ad []byte) ([]byte, error) {
	buf := adPool.Get().(*[]byte)
	full := append(append((*buf)[:0], sealed[:headerLen]...), ad...)
	out, err := k.aead.Open(dst, nil, sealed[headerLen:], full)
	putAD(buf, full)
	if err != nil {
		return dst, fmt.Errorf("lightning/aesgcm: block sealed with key %d fails authentication: %w", k.id, interfaces.ErrDecrypt)
	}
	return out, nil
}

func putAD(buf *[]byte, used []byte) {
	if cap(used) > maxPooledAD {
		return
	}
	*buf = used[:0]
	adPool.Put(buf)
}
