package aesgcm

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/lightningdb/lightning/interfaces"
)

// Static mode is the keyring New makes: no registry, data keys derived
// from one key. doc.go's # Formats section and docs/FORMATS.md give the
// derivations byte by byte.
const (
	// staticKeyInfo prefixes the HKDF info of a static data key; the key
	// id (uint32 LE) follows it.
	staticKeyInfo = "lightning/aesgcm static data key v2"
	// legacyIDInfo and legacyKeyInfo derive the one key id and data key
	// of the first static mode, which every process shared. Blocks sealed
	// under it still open; nothing seals under it any more.
	legacyIDInfo  = "lightning/aesgcm static key id v1"
	legacyKeyInfo = "lightning/aesgcm static data key v1"
	// maxStaticKeys bounds the data keys a static cipher keeps derived for
	// Open (the current one included). Each holds an AES key schedule and
	// a GCM of a few hundred bytes; a block under a key that fell out is
	// opened by deriving it again, a few microseconds.
	maxStaticKeys = 256
)

// staticState is what a keyring made by New holds besides its key set.
type staticState struct {
	// master is the key New was given, which every data key derives from.
	// It is in keyring.sec, so Close zeroes it. Read under keyring.mu.
	master *[KeySize]byte
	// limit is the most Seals one data key performs before the cipher
	// rolls to a new one: NISTLimit but in tests.
	limit uint64
	// legacy is the key id of the first static mode for master.
	legacy KeyID
	// sealed are the ids this keyring has sealed under; a roll never
	// draws one again. At most one per limit Seals, so it stays tiny.
	// Guarded by keyring.mu.
	sealed map[KeyID]bool
	// keys are the data keys derived so far, by id (KeyID -> *dataKey),
	// at most maxStaticKeys: the current one and those Open met last.
	// A sync.Map, not keyring.set's copy on write: a database many
	// processes wrote can hold more ids than the cache, and replacing a
	// whole set on every miss would cost more than deriving the key.
	keys sync.Map
	// fifo holds the cached keys oldest first; guarded by keyring.mu.
	fifo []*dataKey
}

// lookup returns the cached key id, or nil. Lock-free.
func (st *staticState) lookup(id KeyID) *dataKey {
	if v, ok := st.keys.Load(id); ok {
		return v.(*dataKey)
	}
	return nil
}

// staticKeyInfoFor returns the HKDF info of the static data key id.
func staticKeyInfoFor(id KeyID) string {
	b := make([]byte, 0, len(staticKeyInfo)+4)
	b = append(b, staticKeyInfo...)
	b = binary.LittleEndian.AppendUint32(b, uint32(id))
	return string(b)
}

// legacyKeyID returns the key id of the first static mode for master.
func legacyKeyID(master []byte) (KeyID, error) {
	b, err := hkdf.Key(sha256.New, master, nil, legacyIDInfo, 4)
	if err != nil {
		return 0, errorf("derive key id: %w", err)
	}
	return KeyID(binary.LittleEndian.Uint32(b)), nil
}

// newStatic makes the keyring of New: master key key, data keys rolled
// after limit Seals each.
func newStatic(key []byte, limit uint64) (*Cipher, error) {
	if len(key) != KeySize {
		return nil, errorf("key of %d bytes, want %d: %w", len(key), KeySize, interfaces.ErrInvalidArgument)
	}
	if limit == 0 || limit > NISTLimit {
		return nil, errorf("limit of %d encryptions per key, want 1..2^32: %w", limit, interfaces.ErrInvalidArgument)
	}
	legacy, err := legacyKeyID(key)
	if err != nil {
		return nil, err
	}
	kr := newKeyring()
	kr.opts.EnsureDefaults()
	kr.log = kr.opts.Logger
	m := new([KeySize]byte)
	copy(m[:], key)
	kr.sec.add(m)
	kr.static = &staticState{master: m, limit: limit, legacy: legacy, sealed: map[KeyID]bool{}}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if _, err := kr.rollLocked(); err != nil {
		kr.sec.wipe()
		return nil, err
	}
	return &Cipher{kr: kr}, nil
}

// deriveLocked returns the static data key id, not installed anywhere;
// keyring.mu is held (it guards the master key against Close).
func (kr *keyring) deriveLocked(id KeyID) (*dataKey, error) {
	st := kr.static
	info := staticKeyInfoFor(id)
	if id == st.legacy {
		info = legacyKeyInfo
	}
	material, err := hkdf.Key(sha256.New, st.master[:], nil, info, KeySize)
	if err != nil {
		return nil, errorf("derive data key %d: %w", id, err)
	}
	defer clear(material)
	aead, err := newAEAD(material)
	if err != nil {
		return nil, err
	}
	return &dataKey{id: id, aead: aead}, nil
}

// rollLocked makes the data key of a fresh random id current, with limit
// Seals to run; keyring.mu is held. The id is drawn from crypto/rand, so
// two processes (or two ciphers made by New) of one key seal under the
// same data key only if they draw the same id: 2^-32 per pair. An id this
// keyring knows — sealed under before, opened, or the legacy one — is
// never drawn.
func (kr *keyring) rollLocked() (*dataKey, error) {
	st := kr.static
	for {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, errorf("draw key id: %w", err)
		}
		id := KeyID(binary.LittleEndian.Uint32(b[:]))
		if id == st.legacy || st.sealed[id] || st.lookup(id) != nil {
			continue
		}
		k, err := kr.deriveLocked(id)
		if err != nil {
			return nil, err
		}
		k.reserved.Store(st.limit)
		st.sealed[id] = true
		old := kr.cur.Load()
		kr.insertLocked(k)
		kr.cur.Store(k)
		if old != nil {
			kr.log.Info("lightning/aesgcm: static data key rolled", "retired", old.id, "current", id,
				"reason", "the current key reached its encryption limit")
		}
		return k, nil
	}
}

// insertLocked caches k in a static keyring, dropping the oldest keys but
// the current one past maxStaticKeys; keyring.mu is held.
func (kr *keyring) insertLocked(k *dataKey) {
	st := kr.static
	st.keys.Store(k.id, k)
	st.fifo = append(st.fifo, k)
	cur := kr.cur.Load()
	for i := 0; len(st.fifo) > maxStaticKeys && i < len(st.fifo); {
		if o := st.fifo[i]; o != cur && o != k {
			st.keys.Delete(o.id)
			st.fifo = slices.Delete(st.fifo, i, i+1)
			continue
		}
		i++
	}
}

// lookupStatic returns the data key id of a static keyring for Open:
// cached, or derived. A derived key is returned uncached; the caller
// caches it (cacheStatic) once a block has authenticated under it, so
// damaged or forged ids do not push real keys out of the cache.
func (kr *keyring) lookupStatic(id KeyID) (k *dataKey, cached bool, err error) {
	st := kr.static
	if k := st.lookup(id); k != nil {
		return k, true, nil
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if k := st.lookup(id); k != nil {
		return k, true, nil
	}
	if kr.closed.Load() {
		return nil, false, errorf("open: %w", interfaces.ErrClosed)
	}
	k, err = kr.deriveLocked(id)
	return k, false, err
}

// cacheStatic keeps k, which has opened a block, for later Opens.
func (kr *keyring) cacheStatic(k *dataKey) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if !kr.closed.Load() && kr.static.lookup(k.id) == nil {
		kr.insertLocked(k)
	}
}
