package aesgcm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/vfs"
)

// files returns every file under dir on fsys with its contents.
func files(t *testing.T, fsys vfs.FS, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(string)
	walk = func(d string) {
		names, err := fsys.List(d)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		require.NoError(t, err)
		for _, n := range names {
			p := filepath.Join(d, n)
			fi, err := fsys.Stat(p)
			require.NoError(t, err)
			if fi.IsDir() {
				walk(p)
				continue
			}
			f, err := fsys.Open(p)
			require.NoError(t, err)
			b := make([]byte, fi.Size())
			_, err = f.ReadAt(b, 0)
			if !errors.Is(err, io.EOF) {
				require.NoError(t, err)
			}
			require.NoError(t, f.Close())
			out[p] = string(b)
		}
	}
	walk(dir)
	return out
}

// sample is a sealed block and what it must open to.
type sample struct {
	p, ad, sealed []byte
}

func sealSample(t *testing.T, c *aesgcm.Cipher, i int) sample {
	t.Helper()
	s := sample{p: fmt.Appendf(nil, "plaintext %d", i), ad: blockAD(uint64(i), uint64(i)*4096)}
	var err error
	s.sealed, err = c.Seal(nil, s.p, s.ad)
	require.NoError(t, err)
	return s
}

func requireOpens(t *testing.T, c *aesgcm.Cipher, samples ...sample) {
	t.Helper()
	for i, s := range samples {
		out, err := c.Open(nil, s.sealed, s.ad)
		require.NoError(t, err, "sample %d", i)
		require.Equal(t, s.p, out, "sample %d", i)
	}
}

func openReg(fs vfs.FS, master []byte, tune ...func(*aesgcm.Options)) (*aesgcm.Cipher, error) {
	o := aesgcm.Options{FS: fs, Path: "db/KEYS", Master: aesgcm.StaticKey(master)}
	for _, fn := range tune {
		fn(&o)
	}
	return aesgcm.Open(o)
}

func TestOpenWritesNothing(t *testing.T) {
	mem := vfs.NewMem()
	c, err := openReg(mem, testKey(1))
	require.NoError(t, err)
	require.Empty(t, files(t, mem, "/"), "Open of a new registry wrote")
	st, err := c.Status()
	require.NoError(t, err)
	require.False(t, st.OnDisk)
	s := sealSample(t, c, 1)
	require.Contains(t, files(t, mem, "/"), "/db/KEYS")
	require.NoError(t, c.Close())

	before := files(t, mem, "/")
	c, err = openReg(mem, testKey(1))
	require.NoError(t, err)
	requireOpens(t, c, s)
	require.Equal(t, before, files(t, mem, "/"), "Open and Open of blocks wrote")
	require.NoError(t, c.Close())
}

func TestReopenKeepsKeys(t *testing.T) {
	mem := vfs.NewMem()
	c, err := openReg(mem, testKey(1))
	require.NoError(t, err)
	var samples []sample
	for i := range 5 {
		samples = append(samples, sealSample(t, c, i))
		_, err := c.RotateDataKey()
		require.NoError(t, err)
	}
	require.NoError(t, c.Close())
	c, err = openReg(mem, testKey(1))
	require.NoError(t, err)
	defer c.Close()
	requireOpens(t, c, samples...)
	st, err := c.Status()
	require.NoError(t, err)
	require.Equal(t, aesgcm.KeyID(6), st.Current)
	require.Len(t, st.Keys, 6)
	for i, k := range st.Keys {
		require.Equal(t, aesgcm.KeyID(i+1), k.ID)
		require.Equal(t, i == 5, k.Current)
		require.Equal(t, i == 5, k.Retired.IsZero())
	}
}

// TestWrongMasterKey: a registry refuses another master key with
// ErrKeyMismatch and nothing on disk changes; a damaged one is corruption,
// a missing one (with MustExist) a key mismatch.
func TestWrongMasterKey(t *testing.T) {
	mem := vfs.NewMem()
	c, err := openReg(mem, testKey(1))
	require.NoError(t, err)
	s := sealSample(t, c, 1)
	require.NoError(t, c.Close())
	before := files(t, mem, "/")

	_, err = openReg(mem, testKey(2))
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	require.NotContains(t, err.Error(), fmt.Sprintf("%x", testKey(2)[:4]), "the error shows key material")
	_, err = openReg(mem, testKey(2), func(o *aesgcm.Options) { o.OldMasters = []aesgcm.KeyProvider{aesgcm.StaticKey(testKey(3))} })
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	require.Equal(t, before, files(t, mem, "/"))

	// A cipher of another registry holds other keys.
	other, err := aesgcm.Open(aesgcm.Options{FS: mem, Path: "other/KEYS", Master: aesgcm.StaticKey(testKey(1))})
	require.NoError(t, err)
	_, err = other.Open(nil, s.sealed, s.ad)
	require.Error(t, err)
	require.True(t, errors.Is(err, interfaces.ErrKeyMismatch) || errors.Is(err, interfaces.ErrDecrypt))
	require.NoError(t, other.Close())

	_, err = aesgcm.Open(aesgcm.Options{FS: mem, Path: "nowhere/KEYS", Master: aesgcm.StaticKey(testKey(1)), MustExist: true})
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	require.ErrorIs(t, err, fs.ErrNotExist)

	// Flip a byte (writing a fixed value would leave one that already
	// held it unchanged: the registry is random bytes).
	f, err := mem.OpenReadWrite("db/KEYS")
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, 100)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{b[0] ^ 0xff}, 100)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = openReg(mem, testKey(1))
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
	require.False(t, errors.Is(err, interfaces.ErrKeyMismatch))
}

func TestOptionsValidate(t *testing.T) {
	master := aesgcm.StaticKey(testKey(1))
	tests := []struct {
		name string
		o    aesgcm.Options
		ok   bool
	}{
		{"minimal", aesgcm.Options{Path: "KEYS", Master: master}, true},
		{"no path", aesgcm.Options{Master: master}, false},
		{"no master", aesgcm.Options{Path: "KEYS"}, false},
		{"past the NIST limit", aesgcm.Options{Path: "KEYS", Master: master, MaxEncryptionsPerKey: aesgcm.NISTLimit + 1}, false},
		{"at the NIST limit", aesgcm.Options{Path: "KEYS", Master: master, MaxEncryptionsPerKey: aesgcm.NISTLimit}, true},
		{"chunk above the limit", aesgcm.Options{Path: "KEYS", Master: master, MaxEncryptionsPerKey: 10, ReserveChunk: 11}, false},
		{"small limit, default chunk", aesgcm.Options{Path: "KEYS", Master: master, MaxEncryptionsPerKey: 10}, true},
		{"nil old master", aesgcm.Options{Path: "KEYS", Master: master, OldMasters: []aesgcm.KeyProvider{nil}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			err := o.EnsureDefaults().Validate()
			if tt.ok {
				require.NoError(t, err)
				require.LessOrEqual(t, o.ReserveChunk, o.MaxEncryptionsPerKey)
				return
			}
			require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
		})
	}
	_, err := aesgcm.New(make([]byte, 16))
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	_, err = openReg(vfs.NewMem(), make([]byte, 31))
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}

// keyCounts tallies the envelopes of each key id.
func keyCounts(t *testing.T, sealed ...[]byte) map[aesgcm.KeyID]uint64 {
	t.Helper()
	n := map[aesgcm.KeyID]uint64{}
	for _, s := range sealed {
		id, err := aesgcm.KeyIDOf(s)
		require.NoError(t, err)
		n[id]++
	}
	return n
}

// TestLimitForcesRotation: with a tiny MaxEncryptionsPerKey, Seals move to
// new keys and no key seals more than the limit, from many goroutines.
func TestLimitForcesRotation(t *testing.T) {
	const limit, chunk = 10, 3
	mem := vfs.NewMem()
	c, err := openReg(mem, testKey(1), func(o *aesgcm.Options) { o.MaxEncryptionsPerKey, o.ReserveChunk = limit, chunk })
	require.NoError(t, err)
	defer c.Close()
	var mu sync.Mutex
	var all []sample
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				s := sample{p: fmt.Appendf(nil, "g%d i%d", g, i), ad: []byte{byte(g), byte(i)}}
				var err error
				s.sealed, err = c.Seal(nil, s.p, s.ad)
				if !assertNoError(t, err) {
					return
				}
				mu.Lock()
				all = append(all, s)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, all, 200)
	var sealed [][]byte
	for _, s := range all {
		sealed = append(sealed, s.sealed)
	}
	counts := keyCounts(t, sealed...)
	for id, n := range counts {
		require.LessOrEqual(t, n, uint64(limit), "key %d", id)
	}
	require.GreaterOrEqual(t, len(counts), 200/limit)
	requireOpens(t, c, all...)
	st, err := c.Status()
	require.NoError(t, err)
	for _, k := range st.Keys {
		require.LessOrEqual(t, k.Reserved, uint64(limit))
		require.LessOrEqual(t, counts[k.ID], k.Reserved, "key %d sealed more than it reserved", k.ID)
	}
}

func assertNoError(t *testing.T, err error) bool {
	if err != nil {
		t.Errorf("%v", err)
		return false
	}
	return true
}

// TestLimitHoldsAcrossCrashes: runs that crash (unsynced writes dropped)
// between Seals never let a key pass the limit in total: what a run
// reserved counts as used by the next.
func TestLimitHoldsAcrossCrashes(t *testing.T) {
	const limit, chunk = 20, 7
	mem := vfs.NewMem()
	totals := map[aesgcm.KeyID]uint64{}
	var kept []sample
	for run := range 30 {
		c, err := openReg(mem, testKey(1), func(o *aesgcm.Options) { o.MaxEncryptionsPerKey, o.ReserveChunk = limit, chunk })
		require.NoError(t, err, "run %d", run)
		requireOpens(t, c, kept...)
		for i := range run % 11 {
			s := sealSample(t, c, run*100+i)
			kept = append(kept, s)
			for id, n := range keyCounts(t, s.sealed) {
				totals[id] += n
			}
		}
		// Crash: the cipher is abandoned, and only what was synced
		// survives.
		mem = mem.CrashClone(vfs.CrashOptions{})
	}
	for id, n := range totals {
		require.LessOrEqual(t, n, uint64(limit), "key %d sealed %d times over crashes", id, n)
	}
	require.Greater(t, len(totals), 3)
}

// TestRotateEvery: a key older than RotateEvery is replaced by the next
// Seal, by the timer while open and on reopen by age.
func TestRotateEvery(t *testing.T) {
	mem := vfs.NewMem()
	c, err := openReg(mem, testKey(1), func(o *aesgcm.Options) { o.RotateEvery = 20 * time.Millisecond })
	require.NoError(t, err)
	s1 := sealSample(t, c, 1)
	require.Eventually(t, func() bool {
		st, err := c.Status()
		return err == nil && st.RotationDue
	}, 5*time.Second, time.Millisecond)
	s2 := sealSample(t, c, 2)
	ids := keyCounts(t, s1.sealed, s2.sealed)
	require.Equal(t, map[aesgcm.KeyID]uint64{1: 1, 2: 1}, ids)
	require.NoError(t, c.Close())

	// A fake clock: the key comes of age while the registry is closed.
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	mem = vfs.NewMem()
	tune := func(o *aesgcm.Options) { o.RotateEvery, o.Now = time.Hour, clock }
	c, err = openReg(mem, testKey(1), tune)
	require.NoError(t, err)
	sealSample(t, c, 1)
	require.NoError(t, c.Close())
	now.Add(int64(30 * time.Minute))
	c, err = openReg(mem, testKey(1), tune)
	require.NoError(t, err)
	s := sealSample(t, c, 2)
	require.Equal(t, map[aesgcm.KeyID]uint64{1: 1}, keyCounts(t, s.sealed), "rotated before RotateEvery")
	require.NoError(t, c.Close())
	now.Add(int64(31 * time.Minute))
	c, err = openReg(mem, testKey(1), tune)
	require.NoError(t, err)
	defer c.Close()
	s = sealSample(t, c, 3)
	require.Equal(t, map[aesgcm.KeyID]uint64{2: 1}, keyCounts(t, s.sealed), "no rotation at RotateEvery")
	st, err := c.Status()
	require.NoError(t, err)
	require.Equal(t, clock().UTC(), st.Keys[0].Retired)
	require.Equal(t, clock().UTC(), st.Keys[1].Created)

	// Negative: never.
	c2, err := openReg(vfs.NewMem(), testKey(1), func(o *aesgcm.Options) { o.RotateEvery = -1; o.Now = clock })
	require.NoError(t, err)
	defer c2.Close()
	sealSample(t, c2, 1)
	now.Add(int64(1000 * time.Hour))
	st, err = c2.Status()
	require.NoError(t, err)
	require.False(t, st.RotationDue)
}

// TestRotateMasterOnline rotates the master key while goroutines seal and
// open: nothing fails, the old key stops opening the registry, the new one
// opens it, and every block opens.
func TestRotateMasterOnline(t *testing.T) {
	mem := vfs.NewMem()
	c, err := openReg(mem, testKey(1), func(o *aesgcm.Options) { o.ReserveChunk = 16 })
	require.NoError(t, err)
	before := sealSample(t, c, 0)
	var (
		wg   sync.WaitGroup
		stop atomic.Bool
		mu   sync.Mutex
		all  []sample
	)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				p, ad := fmt.Appendf(nil, "%d/%d", g, i), []byte{byte(g)}
				s, err := c.Seal(nil, p, ad)
				if !assertNoError(t, err) {
					return
				}
				out, err := c.Open(nil, s, ad)
				if !assertNoError(t, err) || !bytes.Equal(out, p) {
					t.Errorf("round trip failed")
					return
				}
				mu.Lock()
				all = append(all, sample{p, ad, s})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.RotateMaster(aesgcm.StaticKey(testKey(2))))
	time.Sleep(20 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	require.NoError(t, c.Close())

	_, err = openReg(mem, testKey(1))
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	c, err = openReg(mem, testKey(2))
	require.NoError(t, err)
	defer c.Close()
	requireOpens(t, c, append(all, before)...)
}

// TestOldMastersRewrap: opened by an old master, the registry is rewrapped
// under the new one by its next write.
func TestOldMastersRewrap(t *testing.T) {
	mem := vfs.NewMem()
	c, err := openReg(mem, testKey(1))
	require.NoError(t, err)
	s := sealSample(t, c, 1)
	require.NoError(t, c.Close())

	rotated := func(o *aesgcm.Options) {
		o.OldMasters = []aesgcm.KeyProvider{aesgcm.KeyEnv("LIGHTNING_NO_SUCH_VAR"), aesgcm.StaticKey(testKey(1))}
	}
	c, err = openReg(mem, testKey(2), rotated)
	require.NoError(t, err)
	st, err := c.Status()
	require.NoError(t, err)
	require.True(t, st.RewrapPending)
	requireOpens(t, c, s)
	// Still wrapped by key 1 on disk.
	c1, err := openReg(mem, testKey(1))
	require.NoError(t, err)
	require.NoError(t, c1.Close())

	s2 := sealSample(t, c, 2) // reserves: rewrites under key 2
	st, err = c.Status()
	require.NoError(t, err)
	require.False(t, st.RewrapPending)
	require.NoError(t, c.Close())
	_, err = openReg(mem, testKey(1))
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	c, err = openReg(mem, testKey(2))
	require.NoError(t, err)
	defer c.Close()
	requireOpens(t, c, s, s2)
}

// crashAtEveryOp runs op on a cipher over an ErrorFS that fails every
// operation from the nth on (a crash after n-1 operations), for every n
// until op succeeds untouched, and hands check the crash images: nothing
// unsynced kept, everything kept, and a random half.
func crashAtEveryOp(t *testing.T, setup func(fs vfs.FS) *aesgcm.Cipher, op func(*aesgcm.Cipher) error,
	check func(t *testing.T, n int64, opErr error, crashed *vfs.MemFS)) {
	t.Helper()
	for n := int64(1); ; n++ {
		mem := vfs.NewMem()
		c := setup(mem)
		efs := vfs.NewErrorFS(mem, nil)
		c2, err := aesgcm.Open(aesgcm.Options{FS: efs, Path: "db/KEYS", Master: aesgcm.StaticKey(testKey(1)), ReserveChunk: 4})
		require.NoError(t, err)
		// The setup cipher hands over to one whose I/O can fail: the
		// first cipher is done (its registry durable).
		require.NoError(t, c.Close())
		inj := vfs.FailNth(n, vfs.OpAll, "", true)
		efs.SetInjector(inj)
		opErr := op(c2)
		for _, keep := range []float64{0, 0.5, 1} {
			check(t, n, opErr, mem.CrashClone(vfs.CrashOptions{KeepUnsynced: keep}))
		}
		_ = c2.Close()
		if inj.Fired() == 0 {
			require.NoError(t, opErr)
			return
		}
	}
}

// TestRotateMasterCrash: a crash at any I/O point of a master-key rotation
// leaves a registry that the old or the new key opens (the recovery
// options, both keys, always open it), with every key intact.
func TestRotateMasterCrash(t *testing.T) {
	var samples []sample
	setup := func(fs vfs.FS) *aesgcm.Cipher {
		c, err := openReg(fs, testKey(1), func(o *aesgcm.Options) { o.ReserveChunk = 4 })
		require.NoError(t, err)
		samples = nil
		for i := range 3 {
			samples = append(samples, sealSample(t, c, i))
			_, err := c.RotateDataKey()
			require.NoError(t, err)
		}
		return c
	}
	points := 0
	crashAtEveryOp(t, setup,
		func(c *aesgcm.Cipher) error { return c.RotateMaster(aesgcm.StaticKey(testKey(2))) },
		func(t *testing.T, n int64, opErr error, crashed *vfs.MemFS) {
			points++
			old, errOld := openReg(crashed, testKey(1))
			nw, errNew := openReg(crashed, testKey(2))
			require.True(t, (errOld == nil) != (errNew == nil), "op %d: old key %v, new key %v", n, errOld, errNew)
			if opErr == nil {
				require.NoError(t, errNew, "op %d: rotation returned but the new key does not open the registry", n)
			}
			for _, c := range []*aesgcm.Cipher{old, nw} {
				if c != nil {
					requireOpens(t, c, samples...)
					require.NoError(t, c.Close())
				}
			}
			both, err := openReg(crashed, testKey(2), func(o *aesgcm.Options) { o.OldMasters = []aesgcm.KeyProvider{aesgcm.StaticKey(testKey(1))} })
			require.NoError(t, err, "op %d", n)
			requireOpens(t, both, samples...)
			sealSample(t, both, 99)
			require.NoError(t, both.Close())
			_, err = openReg(crashed, testKey(1))
			require.ErrorIs(t, err, interfaces.ErrKeyMismatch, "op %d: recovery did not finish the rotation", n)
		})
	require.Greater(t, points, 10)
}

// TestSealCrash: a crash at any I/O point of the registry writes that
// Seals make (reservations and limit rotations) leaves the registry
// openable, with every block whose Seal returned.
func TestSealCrash(t *testing.T) {
	var setupSamples []sample
	setup := func(fs vfs.FS) *aesgcm.Cipher {
		c, err := openReg(fs, testKey(1))
		require.NoError(t, err)
		setupSamples = []sample{sealSample(t, c, -1)}
		return c
	}
	var sealed []sample
	crashAtEveryOp(t, setup,
		func(c *aesgcm.Cipher) error {
			sealed = nil
			for i := range 20 {
				s := sample{p: fmt.Appendf(nil, "p%d", i), ad: []byte{byte(i)}}
				var err error
				if s.sealed, err = c.Seal(nil, s.p, s.ad); err != nil {
					return err
				}
				sealed = append(sealed, s)
				if i == 9 {
					if _, err := c.RotateDataKey(); err != nil {
						return err
					}
				}
			}
			return nil
		},
		func(t *testing.T, n int64, opErr error, crashed *vfs.MemFS) {
			c, err := openReg(crashed, testKey(1))
			require.NoError(t, err, "op %d", n)
			requireOpens(t, c, append(sealed, setupSamples...)...)
			require.NoError(t, c.Close())
		})
}

// TestNewRegistryRace: two ciphers start the same new registry; the
// second to write refuses instead of replacing the first's keys.
func TestNewRegistryRace(t *testing.T) {
	mem := vfs.NewMem()
	a, err := openReg(mem, testKey(1))
	require.NoError(t, err)
	b, err := openReg(mem, testKey(1))
	require.NoError(t, err)
	s := sealSample(t, a, 1)
	_, err = b.Seal(nil, []byte("x"), nil)
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	c, err := openReg(mem, testKey(1))
	require.NoError(t, err)
	defer c.Close()
	requireOpens(t, c, s)
}

func TestShareAndClose(t *testing.T) {
	c := newRegistryCipher(t, vfs.NewMem(), testKey(1))
	s := sealSample(t, c, 1)
	h, err := c.Share()
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.Close(), interfaces.ErrClosed)
	_, err = c.Seal(nil, nil, nil)
	require.ErrorIs(t, err, interfaces.ErrClosed)
	_, err = c.Share()
	require.ErrorIs(t, err, interfaces.ErrClosed)
	_, err = c.Status()
	require.ErrorIs(t, err, interfaces.ErrClosed)
	requireOpens(t, h, s)
	sealSample(t, h, 2)
	require.NoError(t, h.Close())
	_, err = h.Open(nil, s.sealed, s.ad)
	require.ErrorIs(t, err, interfaces.ErrClosed)
}

func TestNewHasNoRegistry(t *testing.T) {
	c, err := aesgcm.New(testKey(1))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.RotateDataKey()
	require.ErrorIs(t, err, interfaces.ErrUnsupported)
	require.ErrorIs(t, c.RotateMaster(aesgcm.StaticKey(testKey(2))), interfaces.ErrUnsupported)
	_, err = c.Status()
	require.ErrorIs(t, err, interfaces.ErrUnsupported)
	_, err = c.Prune(vfs.NewMem(), "/")
	require.ErrorIs(t, err, interfaces.ErrUnsupported)
	require.Contains(t, c.String(), "aesgcm(key ")

	// Equal keys interoperate, each under a key id of its own (static_test.go
	// has the rest).
	d, err := aesgcm.New(testKey(1))
	require.NoError(t, err)
	defer d.Close()
	s := sealSample(t, c, 1)
	requireOpens(t, d, s)
	e, err := aesgcm.New(testKey(2))
	require.NoError(t, err)
	defer e.Close()
	_, err = e.Open(nil, s.sealed, s.ad)
	require.ErrorIs(t, err, interfaces.ErrDecrypt)
}
