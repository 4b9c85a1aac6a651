package conformance_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
)

// refCipher is a small, correct cipher for testing the suite: AES-256-GCM
// with a random 96-bit nonce per seal and a one-byte key id.
//
//	+--------+-------------+------------------------------+
//	| key id | nonce       | ciphertext and 16-byte tag   |
//	| 1 byte | 12 bytes    | len(plaintext) + 16 bytes    |
//	+--------+-------------+------------------------------+
//
// The knobs break it in the ways TestCipherSuiteCatchesBrokenCiphers
// names; the zero knobs give the correct cipher.
type refCipher struct {
	id   byte
	key  []byte // shared with other instances only when sharedKey is set
	aead cipher.AEAD

	mu     sync.Mutex
	closed bool // guarded by mu

	knobs cipherKnobs
	ctr   atomic.Uint64 // nonce counter, for knobs.counterNonce
}

type cipherKnobs struct {
	ignoreAD        bool // seal and open without the additional data
	fixedNonce      bool // every nonce is zero
	saltedFixed     bool // 4 random bytes in the envelope, but a zero nonce
	counterNonce    bool // nonce = per-instance counter from 0
	overheadDelta   int  // added to the true Overhead
	sealOverwrites  bool // Seal ignores dst's contents
	leakOnFailure   bool // Open returns bytes with its error
	wrongError      bool // Open fails with ErrCorrupt instead of ErrDecrypt
	openAfterClose  bool // Close does nothing
	lazyKey         bool // derive AES from the key slice on every call
	zeroSharedOnCls bool // Close zeroes the key slice shared by every instance of the key
	panicOnFailure  bool // Open panics instead of failing
}

const refNonceSize = 12

func keyMaterial(key int) []byte {
	sum := sha256.Sum256([]byte(fmt.Sprintf("conformance test key %d", key)))
	return sum[:]
}

func newRefCipher(key int, knobs cipherKnobs) (*refCipher, error) {
	c := &refCipher{id: byte(key), key: keyMaterial(key), knobs: knobs}
	block, err := aes.NewCipher(c.key)
	if err != nil {
		return nil, err
	}
	if c.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *refCipher) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{
		Kind:            interfaces.KindCipher,
		Name:            "ref-aesgcm",
		Version:         "1.0.0",
		ContractVersion: interfaces.CipherContractVersion,
	}
}

func (c *refCipher) envelopeHeader() int {
	if c.knobs.saltedFixed {
		return 1 + 4 + refNonceSize
	}
	return 1 + refNonceSize
}

func (c *refCipher) Overhead() int {
	return c.envelopeHeader() + 16 + c.knobs.overheadDelta
}

func (c *refCipher) gcm() (cipher.AEAD, error) {
	if !c.knobs.lazyKey {
		return c.aead, nil
	}
	block, err := aes.NewCipher(c.key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (c *refCipher) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed && !c.knobs.openAfterClose
}

func (c *refCipher) Seal(dst, plaintext, ad []byte) ([]byte, error) {
	if c.isClosed() {
		return dst, fmt.Errorf("ref cipher: seal: %w", interfaces.ErrClosed)
	}
	aead, err := c.gcm()
	if err != nil {
		return dst, err
	}
	if c.knobs.ignoreAD {
		ad = nil
	}
	if c.knobs.sealOverwrites {
		dst = dst[:0]
	}
	var nonce [refNonceSize]byte
	switch {
	case c.knobs.fixedNonce, c.knobs.saltedFixed:
	case c.knobs.counterNonce:
		binary.BigEndian.PutUint64(nonce[4:], c.ctr.Add(1))
	default:
		if _, err := rand.Read(nonce[:]); err != nil {
			return dst, err
		}
	}
	dst = append(dst, c.id)
	if c.knobs.saltedFixed {
		var salt [4]byte
		_, _ = rand.Read(salt[:])
		dst = append(dst, salt[:]...)
	}
	dst = append(dst, nonce[:]...)
	return aead.Seal(dst, nonce[:], plaintext, ad), nil
}

func (c *refCipher) Open(dst, sealed, ad []byte) ([]byte, error) {
	if c.isClosed() {
		return dst, fmt.Errorf("ref cipher: open: %w", interfaces.ErrClosed)
	}
	aead, err := c.gcm()
	if err != nil {
		return dst, err
	}
	if c.knobs.ignoreAD {
		ad = nil
	}
	fail := func() ([]byte, error) {
		if c.knobs.panicOnFailure {
			panic("ref cipher: authentication failed")
		}
		if c.knobs.leakOnFailure {
			dst = append(dst, sealed...)
		}
		if c.knobs.wrongError {
			return dst, fmt.Errorf("ref cipher: %w", interfaces.ErrCorrupt)
		}
		return dst, fmt.Errorf("ref cipher: %w", interfaces.ErrDecrypt)
	}
	hdr := c.envelopeHeader()
	if len(sealed) < hdr+aead.Overhead() {
		return fail()
	}
	if sealed[0] != c.id {
		return dst, fmt.Errorf("ref cipher: key id %d: %w", sealed[0], interfaces.ErrKeyMismatch)
	}
	out, err := aead.Open(dst, sealed[hdr-refNonceSize:hdr], sealed[hdr:], ad)
	if err != nil {
		return fail()
	}
	return out, nil
}

func (c *refCipher) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	// The correct cipher zeroes its own copy of the key. The lazily keyed
	// one shares its slice with the factory's other instances: zeroing it
	// is the bug knobs.zeroSharedOnCls plants.
	if !c.knobs.lazyKey || c.knobs.zeroSharedOnCls {
		clear(c.key)
	}
	return nil
}

var _ interfaces.Cipher = (*refCipher)(nil)

// refCipherFactory makes ref ciphers with knobs. Lazily keyed instances of
// one factory share one key slice per key number.
func refCipherFactory(knobs cipherKnobs) conformance.CipherFactory {
	var mu sync.Mutex
	shared := map[int][]byte{}
	return func(key int) (interfaces.Cipher, error) {
		if !knobs.lazyKey {
			return newRefCipher(key, knobs)
		}
		mu.Lock()
		k, ok := shared[key]
		if !ok {
			k = keyMaterial(key)
			shared[key] = k
		}
		mu.Unlock()
		return &refCipher{id: byte(key), key: k, knobs: knobs}, nil
	}
}

func TestCipherSuitePassesReference(t *testing.T) {
	conformance.TestCipher(t, refCipherFactory(cipherKnobs{}))
}

func TestCipherSuiteRecordsReferencePass(t *testing.T) {
	requirePassed(t, runRecorded(true, func(rt conformance.T) {
		conformance.TestCipher(rt, refCipherFactory(cipherKnobs{}))
	}))
	// A lazily keyed cipher that zeroes only its own state is correct too.
	requirePassed(t, runRecorded(true, func(rt conformance.T) {
		conformance.TestCipher(rt, refCipherFactory(cipherKnobs{lazyKey: true}))
	}))
}

func TestCipherSuiteCatchesBrokenCiphers(t *testing.T) {
	tests := []struct {
		name   string
		knobs  cipherKnobs
		caught string
	}{
		{"ignores the additional data", cipherKnobs{ignoreAD: true}, "WrongAD"},
		{"reuses a fixed nonce", cipherKnobs{fixedNonce: true}, "NonceUniqueness"},
		{"reuses a fixed nonce (caught by XOR)", cipherKnobs{fixedNonce: true}, "KeystreamReuse"},
		{"fixed nonce behind a random salt", cipherKnobs{saltedFixed: true}, "NonceUniqueness"},
		{"fixed nonce behind a random salt (caught by XOR)", cipherKnobs{saltedFixed: true}, "KeystreamReuse"},
		{"nonce counter restarts in every instance", cipherKnobs{counterNonce: true}, "KeystreamReuse"},
		{"Overhead one byte short", cipherKnobs{overheadDelta: -1}, "Overhead"},
		{"Overhead one byte long", cipherKnobs{overheadDelta: 1}, "Overhead"},
		{"Seal overwrites dst", cipherKnobs{sealOverwrites: true}, "Append"},
		{"Open returns bytes on failure", cipherKnobs{leakOnFailure: true}, "Tamper"},
		{"Open fails with the wrong error", cipherKnobs{wrongError: true}, "WrongAD"},
		{"usable after Close", cipherKnobs{openAfterClose: true}, "Close"},
		{"Open panics on a tampered block", cipherKnobs{panicOnFailure: true}, "Tamper"},
		{"Close zeroes key material other instances share", cipherKnobs{lazyKey: true, zeroSharedOnCls: true}, "Close"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := runRecorded(true, func(rt conformance.T) { conformance.TestCipher(rt, refCipherFactory(tt.knobs)) })
			requireCaught(t, rec, tt.caught)
		})
	}
}
