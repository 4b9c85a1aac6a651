package aesgcm

import (
	"fmt"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
)

// Name is the cipher's name, recorded in a database's identity file.
const Name = "aesgcm"

// Version is the implementation's version.
const Version = "1.0.0"

// Descriptor is what every Cipher's Describe returns.
func Descriptor() interfaces.Descriptor {
	return interfaces.Descriptor{
		Kind:            interfaces.KindCipher,
		Name:            Name,
		Version:         Version,
		ContractVersion: interfaces.CipherContractVersion,
	}
}

// Cipher is AES-256-GCM behind interfaces.Cipher. It is a handle on a key
// set that other handles (Share) may hold too; Close drops the handle,
// and the last Close zeroes the key material. Safe for concurrent use.
type Cipher struct {
	kr     *keyring
	closed atomic.Bool
}

var _ interfaces.Cipher = (*Cipher)(nil)

// New returns a cipher without a key registry, whose data keys are
// derived from key (KeySize bytes), for callers that hold one raw key and
// no directory: the plugin protocol, which hands a cipher key material
// only, and tests. Databases should use Open, whose registry rotates data
// keys on a schedule and whose master key rotates online.
//
// Every cipher New makes seals under a data key of its own: New draws a
// random 32-bit key id from crypto/rand, and the data key is
// HKDF-SHA256(key, id) (doc.go, # Formats). Its encryptions are counted in
// memory, and when the key reaches NISTLimit the cipher rolls to a fresh
// random id instead of failing. So a data key is never used by two
// processes (or two ciphers) unless they draw the same id, a 2^-32 chance
// per pair, and none passes NISTLimit seals, however often the process
// restarts. Open derives the key of whichever id an envelope names (and
// keeps the last maxStaticKeys it used), so ciphers of equal keys open
// each other's blocks; a cipher of another key fails with ErrDecrypt, as
// its derived key does not authenticate the block. Blocks sealed by the
// first static mode, where every cipher of a key shared one derived key
// id, still open.
//
// The cipher keeps a copy of key, to derive keys, until the last handle's
// Close zeroes it; the caller may zero key once New returns.
func New(key []byte) (*Cipher, error) { return newStatic(key, NISTLimit) }

// Open returns a cipher whose data keys live in the key registry at
// opts.Path, wrapped by the master key opts.Master supplies.
//
// When the registry exists, Open reads it and unwraps it with the master
// key (or one of opts.OldMasters); a key that does not unwrap it fails
// with an error matching interfaces.ErrKeyMismatch, a damaged file with a
// *interfaces.CorruptionError. When it does not exist (and opts.MustExist
// is false), Open starts a new registry in memory with one random data
// key. Either way Open writes nothing: the first Seal writes the registry
// (reserving encryptions), so a database that refuses to open has had no
// file touched.
func Open(opts Options) (*Cipher, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	kr, err := openKeyring(opts)
	if err != nil {
		return nil, err
	}
	return &Cipher{kr: kr}, nil
}

// Describe returns Descriptor().
func (c *Cipher) Describe() interfaces.Descriptor { return Descriptor() }

// Overhead returns the exact number of bytes Seal adds: Overhead.
func (c *Cipher) Overhead() int { return Overhead }

// Seal appends the envelope of plaintext, sealed with the current data
// key and bound to ad, to dst. It may write the registry first: to
// reserve more encryptions for the key, or to rotate to a new key when
// the current one is due (Options.RotateEvery) or would pass
// Options.MaxEncryptionsPerKey. A failed write fails the Seal.
func (c *Cipher) Seal(dst, plaintext, ad []byte) ([]byte, error) {
	if c.closed.Load() {
		return dst, errorf("seal: %w", interfaces.ErrClosed)
	}
	k, err := c.kr.take()
	if err != nil {
		return dst, err
	}
	return seal(k, dst, plaintext, ad), nil
}

// Open appends the plaintext of sealed, authenticated with ad, to dst. A
// block that fails authentication fails with ErrDecrypt; one sealed with
// a key this cipher does not hold, with ErrKeyMismatch (a cipher made by
// New derives every key id's data key, so another key's blocks fail
// authentication instead). On failure dst is returned unchanged.
func (c *Cipher) Open(dst, sealed, ad []byte) ([]byte, error) {
	if c.closed.Load() {
		return dst, errorf("open: %w", interfaces.ErrClosed)
	}
	id, err := KeyIDOf(sealed)
	if err != nil {
		return dst, err
	}
	if c.kr.static != nil {
		k, cached, err := c.kr.lookupStatic(id)
		if err != nil {
			return dst, err
		}
		out, err := open(k, dst, sealed, ad)
		if err == nil && !cached {
			c.kr.cacheStatic(k)
		}
		return out, err
	}
	k := c.kr.lookup(id)
	if k == nil {
		return dst, errorf("block sealed with key %d, which this cipher does not hold: %w", id, interfaces.ErrKeyMismatch)
	}
	return open(k, dst, sealed, ad)
}

// Share returns another handle on c's keys, closed independently: the key
// material lives until the last handle is closed.
func (c *Cipher) Share() (*Cipher, error) {
	if c.closed.Load() {
		return nil, errorf("share: %w", interfaces.ErrClosed)
	}
	if err := c.kr.acquire(); err != nil {
		return nil, err
	}
	return &Cipher{kr: c.kr}, nil
}

// Close drops the handle. The last handle's Close zeroes the key material
// the cipher holds (Go's AES key schedules excepted: the garbage collector
// reclaims them). Seal and Open return ErrClosed afterwards; a second
// Close returns ErrClosed.
func (c *Cipher) Close() error {
	if c.closed.Swap(true) {
		return errorf("close: %w", interfaces.ErrClosed)
	}
	c.kr.release()
	return nil
}

// String describes the cipher without key material.
func (c *Cipher) String() string {
	if c.kr.static != nil {
		return fmt.Sprintf("aesgcm(key %d)", c.kr.cur.Load().id)
	}
	return fmt.Sprintf("aesgcm(registry %s)", c.kr.path)
}
