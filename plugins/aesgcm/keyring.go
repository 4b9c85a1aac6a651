package aesgcm

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// dataKey is one data key in memory.
type dataKey struct {
	id   KeyID
	aead cipher.AEAD
	// created and retired are unix nanoseconds; retired is 0 while the key
	// is current and is set once, when it stops being current. Guarded by
	// keyring.mu.
	created, retired int64
	// material is the key, kept to rewrite the registry; nil for a cipher
	// made by New, whose keys are derived again when needed. Guarded by keyring.mu; zeroed by Close and Prune.
	material *[KeySize]byte
	// reserved is the number of Seals the key may run.
	// INVARIANT: reserved <= Options.MaxEncryptionsPerKey, and the registry
	// on disk reserves at least as many for the key before reserved is
	// raised, so a crash never lets the key do more than the disk says.
	reserved atomic.Uint64
	// used is the number of tickets taken (see keyring.take). It starts at
	// the reservation found on disk: what an earlier run reserved counts
	// as used, whether or not it was.
	used atomic.Uint64
}

// keySet is an immutable set of data keys, replaced as a whole (copy on
// write) so Open looks keys up without a lock.
type keySet struct {
	byID map[KeyID]*dataKey
	// order holds the keys by id; the last is the current one.
	order []*dataKey
}

func newKeySet(keys []*dataKey) *keySet {
	s := &keySet{byID: make(map[KeyID]*dataKey, len(keys)), order: keys}
	for _, k := range keys {
		s.byID[k.id] = k
	}
	return s
}

// secrets tracks every buffer of key material a keyring holds, so Close
// (or, failing that, the garbage collector) can zero them all.
type secrets struct {
	mu   sync.Mutex
	bufs map[*[KeySize]byte]struct{}
}

func (s *secrets) add(b *[KeySize]byte) {
	s.mu.Lock()
	s.bufs[b] = struct{}{}
	s.mu.Unlock()
}

// drop zeroes b and forgets it.
func (s *secrets) drop(b *[KeySize]byte) {
	s.mu.Lock()
	clear(b[:])
	delete(s.bufs, b)
	s.mu.Unlock()
}

// wipe zeroes every buffer. AES key schedules inside crypto/aes cannot be
// reached to clear them; they go with the garbage collector.
func (s *secrets) wipe() {
	s.mu.Lock()
	for b := range s.bufs {
		clear(b[:])
	}
	clear(s.bufs)
	s.mu.Unlock()
}

// keyring is the state every handle (Cipher) of one key set shares.
type keyring struct {
	// static is set in a keyring made by New: no registry, data keys
	// derived from one key (static.go); nil for Open's.
	static *staticState
	fsys   vfs.FS
	path   string
	// opts are the defaulted options, without the key providers.
	opts Options
	log  *slog.Logger

	set atomic.Pointer[keySet]
	cur atomic.Pointer[dataKey]
	// due says the current key has reached Options.RotateEvery. It is an
	// allocation of its own so the rotation timer's function holds it and
	// nothing else, and cannot keep the keyring reachable.
	due    *atomic.Bool
	closed atomic.Bool

	// mu serialises every change of the key set and every registry write:
	// reservations, rotations, pruning, Close.
	mu   sync.Mutex
	refs int // open handles; guarded by mu
	// The registry's identity and wrapping; guarded by mu.
	gen   uint64
	regID [16]byte
	salt  [16]byte
	kek   *[KeySize]byte
	// onDisk says the registry file holds this registry; false until a
	// new registry's first write.
	onDisk bool
	// rewrap says the registry was opened by one of Options.OldMasters:
	// the file is still wrapped by it until the next write.
	rewrap bool
	timer  *time.Timer
	sec    *secrets
}

func newKeyring() *keyring {
	kr := &keyring{due: new(atomic.Bool), refs: 1, sec: &secrets{bufs: map[*[KeySize]byte]struct{}{}}}
	// A keyring whose handles are dropped without Close still has its key
	// material zeroed, once the garbage collector finds it unreachable.
	runtime.AddCleanup(kr, func(s *secrets) { s.wipe() }, kr.sec)
	return kr
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("lightning/aesgcm: "+format, args...)
}

// newDataKey makes a key with fresh material from crypto/rand.
func (kr *keyring) newDataKey(id KeyID, created int64) (*dataKey, error) {
	m := new([KeySize]byte)
	if _, err := rand.Read(m[:]); err != nil {
		return nil, errorf("generate data key %d: %w", id, err)
	}
	return kr.dataKeyFrom(id, created, m)
}

// dataKeyFrom makes a key of material m, which the keyring then owns.
func (kr *keyring) dataKeyFrom(id KeyID, created int64, m *[KeySize]byte) (*dataKey, error) {
	aead, err := newAEAD(m[:])
	if err != nil {
		clear(m[:])
		return nil, err
	}
	kr.sec.add(m)
	return &dataKey{id: id, aead: aead, created: created, material: m}, nil
}

// openKeyring opens the registry opts names, or starts a new one in
// memory when the file does not exist (it is written by the first Seal).
// Nothing is written here.
func openKeyring(opts Options) (*keyring, error) {
	kr := newKeyring()
	kr.fsys, kr.path, kr.log = opts.FS, opts.Path, opts.Logger
	master, old := opts.Master, opts.OldMasters
	opts.Master, opts.OldMasters = nil, nil
	kr.opts = opts

	data, err := readRegistryFile(kr.fsys, kr.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if opts.MustExist {
			return nil, errorf("no key registry at %s: %w: %w", kr.path, interfaces.ErrKeyMismatch, err)
		}
		if err := kr.start(master); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		defer clear(data)
		if err := kr.load(data, master, old); err != nil {
			return nil, err
		}
	}
	kr.mu.Lock()
	kr.armTimerLocked()
	kr.mu.Unlock()
	return kr, nil
}

// start begins a new registry in memory: a random registry id and KEK
// salt, and data key 1 with nothing reserved.
func (kr *keyring) start(master KeyProvider) error {
	mk, err := master.MasterKey()
	if err != nil {
		return err
	}
	defer clear(mk)
	if _, err := rand.Read(kr.regID[:]); err != nil {
		return errorf("registry id: %w", err)
	}
	if _, err := rand.Read(kr.salt[:]); err != nil {
		return errorf("registry salt: %w", err)
	}
	if err := kr.setKEK(mk, kr.salt); err != nil {
		return err
	}
	k, err := kr.newDataKey(1, kr.opts.Now().UnixNano())
	if err != nil {
		return err
	}
	kr.publish([]*dataKey{k})
	return nil
}

// load opens an existing registry with the first provider that unwraps it.
func (kr *keyring) load(data []byte, master KeyProvider, old []KeyProvider) error {
	h, err := decodeRegistryHeader(data, kr.path)
	if err != nil {
		return err
	}
	mk, err := master.MasterKey()
	if err != nil {
		return err
	}
	defer clear(mk)
	kr.regID, kr.gen = h.id, h.generation
	r, err := kr.tryMaster(h, mk)
	if errors.Is(err, errWrongKEK) {
		// An old master may open it; writes then wrap under the master,
		// with a new salt.
		for _, p := range old {
			ok, err := kr.tryOld(h, p)
			if err != nil {
				return err
			}
			if ok != nil {
				r = ok
				break
			}
		}
		if r == nil {
			tried := master.String()
			for _, p := range old {
				tried += ", " + p.String()
			}
			return errorf("%s: the master key (%s) does not open the key registry: %w", kr.path, tried, interfaces.ErrKeyMismatch)
		}
		if _, err := rand.Read(kr.salt[:]); err != nil {
			return errorf("registry salt: %w", err)
		}
		kr.rewrap = true
		if err := kr.setKEK(mk, kr.salt); err != nil {
			return err
		}
	} else if err != nil {
		return err
	} else {
		kr.salt = h.salt
		if err := kr.setKEK(mk, h.salt); err != nil {
			return err
		}
	}
	defer clear(r.keys)
	keys := make([]*dataKey, 0, len(r.keys))
	for i := range r.keys {
		rec := &r.keys[i]
		m := new([KeySize]byte)
		*m = rec.material
		k, err := kr.dataKeyFrom(rec.id, rec.created, m)
		if err != nil {
			return err
		}
		k.retired = rec.retired
		k.reserved.Store(rec.reserved)
		k.used.Store(rec.reserved)
		keys = append(keys, k)
	}
	kr.onDisk = true
	kr.publish(keys)
	return nil
}

// tryMaster opens h's body with the KEK of master key mk.
func (kr *keyring) tryMaster(h registryHeader, mk []byte) (*registry, error) {
	kek, err := deriveKEK(mk, h.salt, h.id)
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	return openBody(h, kek, kr.path)
}

// tryOld tries an old master; a provider that cannot supply its key is
// skipped (the old key file may be gone already).
func (kr *keyring) tryOld(h registryHeader, p KeyProvider) (*registry, error) {
	mk, err := p.MasterKey()
	if err != nil {
		kr.log.Warn("lightning/aesgcm: an old master key is unavailable", "source", p.String(), "err", err)
		return nil, nil
	}
	defer clear(mk)
	r, err := kr.tryMaster(h, mk)
	if errors.Is(err, errWrongKEK) {
		return nil, nil
	}
	if err == nil {
		kr.log.Info("lightning/aesgcm: key registry opened by an old master key; the next write rewraps it",
			"registry", kr.path, "source", p.String())
	}
	return r, err
}

// setKEK derives and installs the KEK of master key mk under salt.
func (kr *keyring) setKEK(mk []byte, salt [16]byte) error {
	kek, err := deriveKEK(mk, salt, kr.regID)
	if err != nil {
		return err
	}
	b := new([KeySize]byte)
	copy(b[:], kek)
	clear(kek)
	if kr.kek != nil {
		kr.sec.drop(kr.kek)
	}
	kr.kek = b
	kr.sec.add(b)
	return nil
}

// publish installs keys (by id; the last current) for Seal and Open.
func (kr *keyring) publish(keys []*dataKey) {
	kr.set.Store(newKeySet(keys))
	kr.cur.Store(keys[len(keys)-1])
}

// lookup returns the registry key named id, or nil (a static keyring
// looks its keys up in staticState).
func (kr *keyring) lookup(id KeyID) *dataKey { return kr.set.Load().byID[id] }

// take returns the current key with one encryption reserved for the
// caller: each call takes a ticket (used.Add), and a ticket at or below
// the durable reservation is the caller's to use. Past it, advance reserves
// more or rotates, under mu, and the caller takes a new ticket. Tickets
// taken past the reservation are never used: that wastes a few per
// advance, and keeps the fast path one atomic add.
func (kr *keyring) take() (*dataKey, error) {
	for {
		k := kr.cur.Load()
		if !kr.due.Load() {
			if n := k.used.Add(1); n <= k.reserved.Load() {
				return k, nil
			}
		}
		if err := kr.advance(k); err != nil {
			return nil, err
		}
	}
}

// advance makes progress for take after k's ticket fell past its
// reservation (or a rotation fell due): it extends the reservation, or
// rotates to a new key when k is due or has reached the limit. It does
// nothing when another caller has already done it.
func (kr *keyring) advance(k *dataKey) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.closed.Load() {
		return errorf("seal: %w", interfaces.ErrClosed)
	}
	if kr.cur.Load() != k {
		return nil
	}
	due := kr.due.Load()
	used, reserved := k.used.Load(), k.reserved.Load()
	if !due && used <= reserved {
		return nil
	}
	if kr.static != nil {
		// No registry to count in: the key this keyring alone has used
		// is done, and a fresh one takes over.
		_, err := kr.rollLocked()
		return err
	}
	limit := kr.opts.MaxEncryptionsPerKey
	if !due && used < limit {
		return kr.extendLocked(k, min(used+kr.opts.ReserveChunk, limit))
	}
	reason := "the current key reached Options.RotateEvery"
	if !due {
		reason = "the current key reached Options.MaxEncryptionsPerKey"
	}
	_, err := kr.rotateLocked(reason)
	return err
}

// recordsLocked returns the registry records of every key, as they are in
// memory; the caller clears them (they hold key material).
func (kr *keyring) recordsLocked() []keyRecord { return recordsOf(kr.set.Load().order) }

// recordsOf returns the registry records of keys; keyring.mu is held.
func recordsOf(keys []*dataKey) []keyRecord {
	recs := make([]keyRecord, len(keys))
	for i, k := range keys {
		recs[i] = keyRecord{id: k.id, created: k.created, retired: k.retired, reserved: k.reserved.Load(), material: *k.material}
	}
	return recs
}

// persistLocked writes a registry of recs (the last current), wrapped by
// kek and salt, over the file.
func (kr *keyring) persistLocked(recs []keyRecord, kek *[KeySize]byte, salt [16]byte) error {
	if kr.closed.Load() {
		return errorf("%s: %w", kr.path, interfaces.ErrClosed)
	}
	if !kr.onDisk {
		// A new registry must not replace one that appeared since Open
		// (another process creating the same database).
		if _, err := kr.fsys.Stat(kr.path); err == nil {
			return errorf("%s appeared after this cipher started a new registry; reopen: %w", kr.path, interfaces.ErrKeyMismatch)
		}
		if err := vfs.MkdirAllDurable(kr.fsys, filepath.Dir(kr.path)); err != nil {
			return err
		}
	}
	// Generations rise with every attempt, failed ones included, so no two
	// different files ever share one.
	kr.gen++
	r := registry{generation: kr.gen, id: kr.regID, salt: salt, keys: recs}
	data, err := r.encode(kek[:])
	if err != nil {
		return err
	}
	defer clear(data)
	if err := writeRegistryFile(kr.fsys, kr.path, data); err != nil {
		kr.log.Error("lightning/aesgcm: key registry write failed", "registry", kr.path, "err", err)
		return err
	}
	kr.onDisk = true
	kr.rewrap = false
	return nil
}

// extendLocked makes k's reservation durable at reserved, then lets Seals
// use it.
func (kr *keyring) extendLocked(k *dataKey, reserved uint64) error {
	recs := kr.recordsLocked()
	defer clear(recs)
	recs[len(recs)-1].reserved = reserved
	if err := kr.persistLocked(recs, kr.kek, kr.salt); err != nil {
		return err
	}
	k.reserved.Store(reserved)
	return nil
}

// rotateLocked makes a new data key current for new Seals. The registry
// holding it (and the old key, retired) is durable before any Seal uses
// it.
func (kr *keyring) rotateLocked(reason string) (*dataKey, error) {
	set := kr.set.Load()
	old := kr.cur.Load()
	if old.id == math.MaxUint32 {
		return nil, errorf("%s: key ids are exhausted: %w", kr.path, interfaces.ErrInvalidArgument)
	}
	if len(set.order) >= maxKeys {
		return nil, errorf("%s holds %d keys, the most a registry can; prune the unused ones: %w",
			kr.path, len(set.order), interfaces.ErrInvalidArgument)
	}
	now := kr.opts.Now().UnixNano()
	nk, err := kr.newDataKey(old.id+1, now)
	if err != nil {
		return nil, err
	}
	res := min(kr.opts.ReserveChunk, kr.opts.MaxEncryptionsPerKey)
	recs := append(kr.recordsLocked(), keyRecord{id: nk.id, created: now, reserved: res, material: *nk.material})
	defer clear(recs)
	recs[len(recs)-2].retired = now
	if err := kr.persistLocked(recs, kr.kek, kr.salt); err != nil {
		kr.sec.drop(nk.material)
		return nil, err
	}
	old.retired = now
	nk.reserved.Store(res)
	kr.publish(append(slices.Clip(set.order), nk))
	kr.due.Store(false)
	kr.armTimerLocked()
	kr.log.Info("lightning/aesgcm: data key rotated", "registry", kr.path, "retired", old.id, "current", nk.id, "reason", reason)
	return nk, nil
}

// armTimerLocked schedules the due flag for when the current key reaches
// RotateEvery (or raises it now).
func (kr *keyring) armTimerLocked() {
	if kr.timer != nil {
		kr.timer.Stop()
		kr.timer = nil
	}
	if kr.static != nil || kr.opts.RotateEvery < 0 {
		return
	}
	age := time.Duration(kr.opts.Now().UnixNano() - kr.cur.Load().created)
	wait := kr.opts.RotateEvery - age
	if wait <= 0 {
		kr.due.Store(true)
		return
	}
	due := kr.due
	kr.timer = time.AfterFunc(wait, func() { due.Store(true) })
}

// acquire adds a handle.
func (kr *keyring) acquire() error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.closed.Load() {
		return errorf("share: %w", interfaces.ErrClosed)
	}
	kr.refs++
	return nil
}

// release drops a handle; the last one closes the keyring and zeroes its
// key material.
func (kr *keyring) release() {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	kr.refs--
	if kr.refs > 0 {
		return
	}
	kr.closed.Store(true)
	if kr.timer != nil {
		kr.timer.Stop()
		kr.timer = nil
	}
	kr.sec.wipe()
}
