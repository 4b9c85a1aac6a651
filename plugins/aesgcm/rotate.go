package aesgcm

import (
	"crypto/rand"
	"path/filepath"
	"slices"
	"time"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// Status describes a registry and its keys, for `lightning keys status`
// and monitoring. It holds no key material.
type Status struct {
	// Path is the registry file.
	Path string
	// Generation counts the registry's writes.
	Generation uint64
	// OnDisk is false for a new registry the first Seal has not written
	// yet.
	OnDisk bool
	// RewrapPending says the registry was opened by an old master key and
	// is still wrapped by it on disk; the next write (any Seal that
	// reserves, a rotation) rewraps it under the current master.
	RewrapPending bool
	// Current is the key new Seals use.
	Current KeyID
	// Keys are every key the registry holds, by id.
	Keys []KeyStatus
	// MaxEncryptionsPerKey and RotateEvery are the rotation policy.
	MaxEncryptionsPerKey uint64
	RotateEvery          time.Duration
	// RotationDue says the current key has reached RotateEvery; the next
	// Seal rotates.
	RotationDue bool
}

// KeyStatus describes one data key.
type KeyStatus struct {
	ID KeyID
	// Created is when the key was made; Retired, when it stopped being
	// current (zero for the current key).
	Created, Retired time.Time
	// Reserved is the encryptions reserved for the key on disk: an upper
	// bound of the Seals it has done, across every run.
	Reserved uint64
	// Used is the Seals this process has let the key do, counting what
	// earlier runs reserved (so Used <= Reserved, and Reserved - Used is
	// what this run may still do before the next reservation).
	Used uint64
	// Current says the key is the one new Seals use.
	Current bool
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// Status describes the registry. A cipher made by New has none:
// ErrUnsupported.
func (c *Cipher) Status() (Status, error) {
	kr, err := c.registryOp("status")
	if err != nil {
		return Status{}, err
	}
	defer kr.mu.Unlock()
	st := Status{
		Path: kr.path, Generation: kr.gen, OnDisk: kr.onDisk, RewrapPending: kr.rewrap,
		Current:              kr.cur.Load().id,
		MaxEncryptionsPerKey: kr.opts.MaxEncryptionsPerKey, RotateEvery: kr.opts.RotateEvery,
		RotationDue: kr.due.Load(),
	}
	for _, k := range kr.set.Load().order {
		st.Keys = append(st.Keys, KeyStatus{
			ID: k.id, Created: unixTime(k.created), Retired: unixTime(k.retired),
			Reserved: k.reserved.Load(), Used: min(k.used.Load(), k.reserved.Load()),
			Current: k.id == st.Current,
		})
	}
	return st, nil
}

// registryOp locks the keyring of a registry-backed, open cipher for an
// operation named op; the caller unlocks kr.mu.
func (c *Cipher) registryOp(op string) (*keyring, error) {
	if c.closed.Load() {
		return nil, errorf("%s: %w", op, interfaces.ErrClosed)
	}
	kr := c.kr
	if kr.static != nil {
		return nil, errorf("%s: a cipher made by New has no key registry: %w", op, interfaces.ErrUnsupported)
	}
	kr.mu.Lock()
	if kr.closed.Load() {
		kr.mu.Unlock()
		return nil, errorf("%s: %w", op, interfaces.ErrClosed)
	}
	return kr, nil
}

// RotateDataKey makes a new data key current now, whatever the schedule,
// and returns its id. Blocks already sealed keep opening with their keys;
// compaction rewrites them under the new one.
func (c *Cipher) RotateDataKey() (KeyID, error) {
	kr, err := c.registryOp("rotate data key")
	if err != nil {
		return 0, err
	}
	defer kr.mu.Unlock()
	k, err := kr.rotateLocked("requested")
	if err != nil {
		return 0, err
	}
	return k.id, nil
}

// RotateMaster rewraps the registry under the master key next supplies,
// online: Seal and Open go on, no data is rewritten, and the old master
// key no longer opens the registry once RotateMaster returns. The file is
// replaced atomically, so a crash leaves it wrapped by the old key or by
// the new one; reopen with the new key as Options.Master and the old one
// in Options.OldMasters to recover either way. On error the cipher keeps
// writing under the old key.
func (c *Cipher) RotateMaster(next KeyProvider) error {
	if next == nil {
		return errorf("rotate master: nil key provider: %w", interfaces.ErrInvalidArgument)
	}
	mk, err := next.MasterKey()
	if err != nil {
		return err
	}
	defer clear(mk)
	kr, err := c.registryOp("rotate master")
	if err != nil {
		return err
	}
	defer kr.mu.Unlock()
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return errorf("registry salt: %w", err)
	}
	kek, err := deriveKEK(mk, salt, kr.regID)
	if err != nil {
		return err
	}
	b := new([KeySize]byte)
	copy(b[:], kek)
	clear(kek)
	kr.sec.add(b)
	recs := kr.recordsLocked()
	defer clear(recs)
	if err := kr.persistLocked(recs, b, salt); err != nil {
		kr.sec.drop(b)
		return err
	}
	kr.sec.drop(kr.kek)
	kr.kek, kr.salt = b, salt
	kr.log.Info("lightning/aesgcm: master key rotated", "registry", kr.path, "source", next.String())
	return nil
}

// KeysInUse scans every file under dirs on fsys (recursively; the
// registry itself excepted) and returns the ids of the keys this cipher
// holds that appear in a sealed envelope there: written raw, as engines
// and the WAL write them, or in hex, as the database's identity file holds
// its key check. A file that vanishes during the scan is skipped.
//
// The scan finds every envelope stored whole, so it never misses a key in
// use; bytes that merely look like an envelope header can make it report
// a key that is not (one chance in 2^32 per lookalike), which only keeps
// that key longer.
func (c *Cipher) KeysInUse(fsys vfs.FS, dirs ...string) ([]KeyID, error) {
	if c.closed.Load() {
		return nil, errorf("keys in use: %w", interfaces.ErrClosed)
	}
	want := map[KeyID]bool{}
	if st := c.kr.static; st != nil {
		st.keys.Range(func(id, _ any) bool {
			want[id.(KeyID)] = true
			return true
		})
	} else {
		for id := range c.kr.set.Load().byID {
			want[id] = true
		}
	}
	found, err := c.scan(fsys, dirs, want)
	if err != nil {
		return nil, err
	}
	ids := make([]KeyID, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

func (c *Cipher) scan(fsys vfs.FS, dirs []string, want map[KeyID]bool) (map[KeyID]bool, error) {
	skip := map[string]bool{}
	if c.kr.static == nil {
		skip[filepath.Clean(c.kr.path)] = true
		skip[filepath.Clean(c.kr.path+".tmp")] = true
	}
	return scanDirs(fsys, dirs, skip, want)
}

// Prune removes from the registry every retired key that no file under
// dirs uses (see KeysInUse) and that was retired at least
// Options.PruneGrace before the scan began, and returns their ids. The
// current key is never removed. dirs must cover every place the
// database's files live: its directory, and a WAL archive outside it.
//
// Keys go only after the scan, and only if retired before it began
// (minus the grace): a key retired during the scan may still have blocks
// on their way to disk.
func (c *Cipher) Prune(fsys vfs.FS, dirs ...string) ([]KeyID, error) {
	kr, err := c.registryOp("prune")
	if err != nil {
		return nil, err
	}
	grace := max(kr.opts.PruneGrace, 0)
	cutoff := kr.opts.Now().Add(-grace).UnixNano()
	candidates := map[KeyID]bool{}
	for _, k := range kr.set.Load().order {
		if k.retired != 0 && k.retired <= cutoff {
			candidates[k.id] = true
		}
	}
	kr.mu.Unlock()
	if len(candidates) == 0 {
		return nil, nil
	}
	found, err := c.scan(fsys, dirs, candidates)
	if err != nil {
		return nil, err
	}
	for id := range found {
		delete(candidates, id)
	}
	if len(candidates) == 0 {
		return nil, nil
	}

	if kr, err = c.registryOp("prune"); err != nil {
		return nil, err
	}
	defer kr.mu.Unlock()
	set := kr.set.Load()
	var keep, gone []*dataKey
	for _, k := range set.order {
		if candidates[k.id] && k != kr.cur.Load() {
			gone = append(gone, k)
		} else {
			keep = append(keep, k)
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	recs := recordsOf(keep)
	defer clear(recs)
	if err := kr.persistLocked(recs, kr.kek, kr.salt); err != nil {
		return nil, err
	}
	kr.set.Store(newKeySet(keep))
	ids := make([]KeyID, len(gone))
	for i, k := range gone {
		ids[i] = k.id
		kr.sec.drop(k.material)
	}
	kr.log.Info("lightning/aesgcm: pruned data keys no file uses", "registry", kr.path, "keys", ids)
	return ids, nil
}
