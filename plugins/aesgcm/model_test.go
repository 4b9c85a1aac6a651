package aesgcm_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/vfs"
)

// registryModel is the reference a registry-backed cipher is checked
// against: every block ever sealed, the files that hold some of them, and
// what each key has sealed over every run.
type registryModel struct {
	mem    *vfs.MemFS
	c      *aesgcm.Cipher
	master []byte
	// samples are every block sealed, with its key.
	samples []modelSample
	// stored maps a file to the samples it holds.
	stored  map[string][]int
	nextF   int
	pruned  map[aesgcm.KeyID]bool
	totals  map[aesgcm.KeyID]uint64
	highest aesgcm.KeyID
}

type modelSample struct {
	sample
	id aesgcm.KeyID
}

const modelLimit, modelChunk = 6, 2

func (m *registryModel) open(t *rapid.T) {
	c, err := aesgcm.Open(aesgcm.Options{
		FS: m.mem, Path: "db/KEYS", Master: aesgcm.StaticKey(m.master),
		MaxEncryptionsPerKey: modelLimit, ReserveChunk: modelChunk, PruneGrace: -1,
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	m.c = c
}

func (m *registryModel) seal(t *rapid.T) {
	p := rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "plaintext")
	ad := rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(t, "ad")
	s, err := m.c.Seal(nil, p, ad)
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	id, err := aesgcm.KeyIDOf(s)
	if err != nil {
		t.Fatal(err)
	}
	if id < m.highest {
		t.Fatalf("sealed with key %d after key %d was in use", id, m.highest)
	}
	m.highest = id
	m.totals[id]++
	m.samples = append(m.samples, modelSample{sample{p, ad, s}, id})
}

func (m *registryModel) openSample(t *rapid.T) {
	if len(m.samples) == 0 {
		t.Skip("nothing sealed")
	}
	s := rapid.SampledFrom(m.samples).Draw(t, "sample")
	out, err := m.c.Open(nil, s.sealed, s.ad)
	if m.pruned[s.id] {
		if !errors.Is(err, interfaces.ErrKeyMismatch) {
			t.Fatalf("block of pruned key %d: %v", s.id, err)
		}
		return
	}
	if err != nil || !bytes.Equal(out, s.p) {
		t.Fatalf("block of key %d does not open: %v", s.id, err)
	}
}

func (m *registryModel) rotateData(t *rapid.T) {
	id, err := m.c.RotateDataKey()
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if id <= m.highest {
		t.Fatalf("new key %d is not above %d", id, m.highest)
	}
	m.highest = id
}

func (m *registryModel) rotateMaster(t *rapid.T) {
	next := rapid.SliceOfN(rapid.Byte(), aesgcm.KeySize, aesgcm.KeySize).Draw(t, "master")
	if err := m.c.RotateMaster(aesgcm.StaticKey(next)); err != nil {
		t.Fatalf("rotate master: %v", err)
	}
	old := m.master
	m.master = next
	if !bytes.Equal(old, next) {
		if _, err := aesgcm.Open(aesgcm.Options{FS: m.mem, Path: "db/KEYS", Master: aesgcm.StaticKey(old)}); !errors.Is(err, interfaces.ErrKeyMismatch) {
			t.Fatalf("the old master still opens the registry: %v", err)
		}
	}
}

func (m *registryModel) reopen(t *rapid.T) {
	if err := m.c.Close(); err != nil {
		t.Fatal(err)
	}
	m.open(t)
}

func (m *registryModel) crash(t *rapid.T) {
	keep := rapid.SampledFrom([]float64{0, 0.5, 1}).Draw(t, "keep")
	crashed := m.mem.CrashClone(vfs.CrashOptions{KeepUnsynced: keep})
	_ = m.c.Close()
	m.mem = crashed
	m.open(t)
}

func (m *registryModel) store(t *rapid.T) {
	if len(m.samples) == 0 {
		t.Skip("nothing sealed")
	}
	idx := rapid.SliceOfNDistinct(rapid.IntRange(0, len(m.samples)-1), 1, 4, rapid.ID[int]).Draw(t, "samples")
	var data []byte
	for _, i := range idx {
		data = append(data, m.samples[i].sealed...)
		data = append(data, 0xaa, 0xaa)
	}
	name := fmt.Sprintf("db/data/f%03d", m.nextF)
	m.nextF++
	if err := writeFileErr(m.mem, name, data); err != nil {
		t.Fatal(err)
	}
	m.stored[name] = idx
}

func (m *registryModel) remove(t *rapid.T) {
	if len(m.stored) == 0 {
		t.Skip("no file")
	}
	name := rapid.SampledFrom(slices.Sorted(maps.Keys(m.stored))).Draw(t, "file")
	if err := m.mem.Remove(name); err != nil {
		t.Fatal(err)
	}
	// Durably, or a crash brings the file back.
	if err := m.mem.SyncDir("db/data"); err != nil {
		t.Fatal(err)
	}
	delete(m.stored, name)
}

func (m *registryModel) prune(t *rapid.T) {
	st, err := m.c.Status()
	if err != nil {
		t.Fatal(err)
	}
	used := map[aesgcm.KeyID]bool{}
	for _, idx := range m.stored {
		for _, i := range idx {
			used[m.samples[i].id] = true
		}
	}
	var want []aesgcm.KeyID
	for _, k := range st.Keys {
		if !k.Current && !used[k.ID] {
			want = append(want, k.ID)
		}
	}
	got, err := m.c.Prune(m.mem, "db")
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pruned %v, want %v (used %v)", got, want, used)
	}
	for _, id := range got {
		m.pruned[id] = true
	}
}

func (m *registryModel) check(t *rapid.T) {
	st, err := m.c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if last := st.Keys[len(st.Keys)-1]; !last.Current || last.ID != st.Current {
		t.Fatalf("the current key %d is not the newest", st.Current)
	}
	for _, k := range st.Keys {
		if m.pruned[k.ID] {
			t.Fatalf("pruned key %d is back", k.ID)
		}
		if k.Reserved > modelLimit {
			t.Fatalf("key %d reserves %d encryptions, past the limit %d", k.ID, k.Reserved, modelLimit)
		}
		if m.totals[k.ID] > k.Reserved {
			t.Fatalf("key %d sealed %d blocks over every run but reserves %d", k.ID, m.totals[k.ID], k.Reserved)
		}
	}
	for id, n := range m.totals {
		if n > modelLimit {
			t.Fatalf("key %d sealed %d blocks, past the limit %d", id, n, modelLimit)
		}
	}
}

func writeFileErr(fsys vfs.FS, path string, data []byte) error {
	if err := fsys.MkdirAll("db/data", 0o755); err != nil {
		return err
	}
	f, err := fsys.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.SyncDir("db"); err != nil {
		return err
	}
	return fsys.SyncDir("db/data")
}

// TestRegistryModel drives a registry-backed cipher with random sequences
// of seals, opens, data and master rotations, clean reopens, crashes that
// drop unsynced writes, and prunes against files holding some of the
// blocks, and checks it against the model after every step: every block
// opens unless its key was pruned, exactly the unused retired keys are
// pruned, ids only grow, and no key ever seals more than the limit over
// all runs.
func TestRegistryModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &registryModel{
			mem: vfs.NewMem(), master: testKey(1),
			stored: map[string][]int{}, pruned: map[aesgcm.KeyID]bool{}, totals: map[aesgcm.KeyID]uint64{},
		}
		m.open(t)
		defer func() { _ = m.c.Close() }()
		t.Repeat(map[string]func(*rapid.T){
			"seal":         m.seal,
			"open":         m.openSample,
			"rotateData":   m.rotateData,
			"rotateMaster": m.rotateMaster,
			"reopen":       m.reopen,
			"crash":        m.crash,
			"store":        m.store,
			"remove":       m.remove,
			"prune":        m.prune,
			"":             m.check,
		})
	})
}
