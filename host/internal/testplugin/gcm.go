package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
)

// gcm is AES-256-GCM with an envelope of a 4-byte key id (the first bytes
// of the key's SHA-256), a 12-byte random nonce, then the sealed body and
// tag: enough of a cipher to exercise the protocol.
type gcm struct {
	id     [4]byte
	aead   cipher.AEAD
	closed atomic.Bool
}

const gcmOverhead = 4 + 12 + 16

func newGCM(key []byte) (interfaces.Cipher, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("testplugin: key of %d bytes, want 32: %w", len(key), interfaces.ErrInvalidArgument)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	g := &gcm{aead: aead}
	sum := sha256.Sum256(key)
	copy(g.id[:], sum[:4])
	return g, nil
}

func (g *gcm) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCipher, Name: "testplugin-gcm", Version: "1.0.0",
		ContractVersion: interfaces.CipherContractVersion}
}

func (g *gcm) Overhead() int { return gcmOverhead }

func (g *gcm) Seal(dst, plaintext, ad []byte) ([]byte, error) {
	if g.closed.Load() {
		return dst, fmt.Errorf("testplugin: Seal: %w", interfaces.ErrClosed)
	}
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return dst, err
	}
	dst = append(dst, g.id[:]...)
	dst = append(dst, nonce[:]...)
	return g.aead.Seal(dst, nonce[:], plaintext, ad), nil
}

func (g *gcm) Open(dst, sealed, ad []byte) ([]byte, error) {
	if g.closed.Load() {
		return dst, fmt.Errorf("testplugin: Open: %w", interfaces.ErrClosed)
	}
	if len(sealed) < gcmOverhead {
		return dst, fmt.Errorf("testplugin: sealed block of %d bytes: %w", len(sealed), interfaces.ErrDecrypt)
	}
	if [4]byte(sealed[:4]) != g.id {
		return dst, fmt.Errorf("testplugin: block sealed under key %x: %w", sealed[:4], interfaces.ErrKeyMismatch)
	}
	out, err := g.aead.Open(dst, sealed[4:16], sealed[16:], ad)
	if err != nil {
		return dst, fmt.Errorf("testplugin: %w", interfaces.ErrDecrypt)
	}
	return out, nil
}

func (g *gcm) Close() error {
	g.closed.Store(true)
	return nil
}
