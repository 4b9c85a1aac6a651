package vfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func crash(m *MemFS, keep float64, seed uint64) *MemFS {
	return m.CrashClone(CrashOptions{KeepUnsynced: keep, Rand: seeded(seed)})
}

// exists reports whether name exists in fsys.
func exists(t testingT, fsys FS, name string) bool {
	t.Helper()
	_, err := fsys.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	require.NoError(t, err)
	return true
}

// checkInvariants checks the INVARIANTs of every inode of m: replaying the
// unsynced changes over the durable state gives the current one.
func checkInvariants(t testingT, m *MemFS) {
	t.Helper()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var walk func(d *inode)
	walk = func(d *inode) {
		entries := maps.Clone(d.durable)
		for _, op := range d.names {
			op.apply(entries)
		}
		require.Equal(t, d.children, entries, "directory entries = durable + names")
		for _, n := range d.children {
			if n.dir {
				walk(n)
				continue
			}
			n.mu.RLock()
			data := bytes.Clone(n.synced)
			for _, op := range n.pending {
				data = op.apply(data)
			}
			require.True(t, bytes.Equal(n.data, data), "file data = synced + pending")
			n.mu.RUnlock()
		}
	}
	walk(m.root)
}

// tree returns every file below dir with its contents, and every
// directory with a trailing slash, found through the FS interface alone.
func tree(t testingT, fsys FS, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(dir string)
	walk = func(dir string) {
		names, err := fsys.List(dir)
		require.NoError(t, err)
		require.True(t, slices.IsSorted(names))
		for _, n := range names {
			p := path.Join(dir, n)
			fi, err := fsys.Stat(p)
			require.NoError(t, err)
			if fi.IsDir() {
				out[p+"/"] = ""
				walk(p)
				continue
			}
			out[p] = string(readFile(t, fsys, p))
		}
	}
	walk(dir)
	return out
}

// newUnsynced creates name in m with data written but nothing synced, and
// returns the open handle.
func newUnsynced(t *testing.T, m *MemFS, name string, data []byte) File {
	t.Helper()
	f, err := m.Create(name)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	return f
}

// durableFile creates name in m holding data, with both the data and the
// name made durable.
func durableFile(t *testing.T, m *MemFS, name string, data []byte) {
	t.Helper()
	writeFile(t, m, name, data)
	require.NoError(t, m.SyncDir(parentOf(name)))
}

func parentOf(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return "."
}

func newMemWithDir(t *testing.T) *MemFS {
	t.Helper()
	m := NewMem()
	require.NoError(t, m.MkdirAll("/db", 0o755))
	require.NoError(t, m.SyncDir("/"))
	return m
}

func TestMemCrashSyncedDataSurvives(t *testing.T) {
	m := newMemWithDir(t)
	durableFile(t, m, "/db/f", []byte("durable"))
	for _, keep := range []float64{0, 0.5, 1} {
		c := crash(m, keep, 1)
		require.Equal(t, []byte("durable"), readFile(t, c, "/db/f"), "keep=%v", keep)
		checkInvariants(t, c)
	}
}

func TestMemCrashDropsUnsyncedAtZero(t *testing.T) {
	m := newMemWithDir(t)
	durableFile(t, m, "/db/f", []byte("0123456789"))
	f, err := m.OpenReadWrite("/db/f")
	require.NoError(t, err)
	_, err = f.Write([]byte("appended"))
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("XX"), 2)
	require.NoError(t, err)

	c := crash(m, 0, 1)
	require.Equal(t, []byte("0123456789"), readFile(t, c, "/db/f"))

	// A truncation is data too: unsynced, it is undone.
	require.NoError(t, f.Sync())
	require.NoError(t, f.Truncate(3))
	c = crash(m, 0, 1)
	require.Equal(t, []byte("01XX456789appended"), readFile(t, c, "/db/f"))
	require.NoError(t, f.Close())

	// A file never synced is empty, though its name is durable.
	g := newUnsynced(t, m, "/db/g", []byte("lost"))
	require.NoError(t, m.SyncDir("/db"))
	c = crash(m, 0, 1)
	require.Empty(t, readFile(t, c, "/db/g"))
	require.NoError(t, g.Close())
}

func TestMemCrashKeepsAllAtOne(t *testing.T) {
	m := newMemWithDir(t)
	durableFile(t, m, "/db/f", []byte("durable"))
	f := newUnsynced(t, m, "/db/g", []byte("never synced"))
	require.NoError(t, m.MkdirAll("/db/sub/deeper", 0o755))
	writeFile(t, m, "/db/sub/deeper/h", []byte("in a new dir"))
	require.NoError(t, m.Rename("/db/f", "/db/f2"))

	c := crash(m, 1, 1)
	require.Equal(t, tree(t, m, "/"), tree(t, c, "/"))
	require.Equal(t, []byte("durable"), readFile(t, c, "/db/f2"))
	require.Equal(t, []byte("never synced"), readFile(t, c, "/db/g"))
	require.Equal(t, []byte("in a new dir"), readFile(t, c, "/db/sub/deeper/h"))
	require.Equal(t, m.Size(), c.Size())
	require.NoError(t, f.Close())
}

func TestMemCrashClonesAreFullyDurable(t *testing.T) {
	m := newMemWithDir(t)
	f := newUnsynced(t, m, "/db/g", []byte("kept"))
	c := crash(m, 1, 1)
	// Everything in a crash image is durable: crashing it again at 0
	// loses nothing.
	require.Equal(t, c.String(), crash(c, 0, 2).String())
	require.NotContains(t, c.String(), "unsynced")
	require.Contains(t, m.String(), "unsynced")
	require.NoError(t, f.Close())
}

// TestMemCrashHalfIsDeterministicAndOrdered tears a file's unsynced writes
// at KeepUnsynced 0.5: the same seed gives the same clone, different seeds
// give each allowed outcome, and kept writes land in their original order.
func TestMemCrashHalfIsDeterministicAndOrdered(t *testing.T) {
	m := newMemWithDir(t)
	durableFile(t, m, "/db/f", []byte("...."))
	f, err := m.OpenReadWrite("/db/f")
	require.NoError(t, err)
	// Two overlapping writes: kept in order, the second wins where they
	// overlap.
	_, err = f.WriteAt([]byte("AAAA"), 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("BB"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	allowed := map[string]bool{"....": false, "AAAA": false, "BB..": false, "BBAA": false}
	for seed := range uint64(64) {
		got := string(readFile(t, crash(m, 0.5, seed), "/db/f"))
		_, ok := allowed[got]
		require.True(t, ok, "seed %d: %q is not a state of in-order replay", seed, got)
		allowed[got] = true
		require.Equal(t, got, string(readFile(t, crash(m, 0.5, seed), "/db/f")), "same seed, same clone")
	}
	for state, seen := range allowed {
		require.True(t, seen, "outcome %q never drawn in 64 seeds", state)
	}
	// A nil Rand is a fixed seed.
	a := m.CrashClone(CrashOptions{KeepUnsynced: 0.5})
	b := m.CrashClone(CrashOptions{KeepUnsynced: 0.5})
	require.Equal(t, readFile(t, a, "/db/f"), readFile(t, b, "/db/f"))
}

// TestMemCrashHolesReadZero drops a write that grew a file while keeping a
// later one further out: the gap reads as zeros.
func TestMemCrashHolesReadZero(t *testing.T) {
	m := newMemWithDir(t)
	durableFile(t, m, "/db/f", []byte("base"))
	f, err := m.OpenReadWrite("/db/f")
	require.NoError(t, err)
	_, err = f.WriteAt(bytes.Repeat([]byte{'x'}, 10), 10)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("y"), 30)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	droppedFirstKeptSecond := false
	for seed := range uint64(64) {
		got := readFile(t, crash(m, 0.5, seed), "/db/f")
		require.Equal(t, []byte("base"), got[:4])
		switch len(got) {
		case 4: // both dropped
		case 20:
			require.Equal(t, append(make([]byte, 6), bytes.Repeat([]byte{'x'}, 10)...), got[4:])
		case 31:
			require.Equal(t, byte('y'), got[30])
			mid := got[4:30]
			if mid[6] == 0 {
				droppedFirstKeptSecond = true
				require.Equal(t, make([]byte, 26), mid, "a dropped write leaves zeros where the file grew")
			}
		default:
			t.Fatalf("seed %d: unexpected size %d", seed, len(got))
		}
	}
	require.True(t, droppedFirstKeptSecond)
}

func TestMemCrashNames(t *testing.T) {
	t.Run("CreateWithoutSyncDirIsForgotten", func(t *testing.T) {
		m := newMemWithDir(t)
		writeFile(t, m, "/db/f", []byte("synced data, unsynced name"))
		require.False(t, exists(t, crash(m, 0, 1), "/db/f"))
		require.True(t, exists(t, crash(m, 1, 1), "/db/f"))
		require.NoError(t, m.SyncDir("/db"))
		require.True(t, exists(t, crash(m, 0, 1), "/db/f"))
	})
	t.Run("RenameWithoutSyncDirReverts", func(t *testing.T) {
		m := newMemWithDir(t)
		durableFile(t, m, "/db/a", []byte("A"))
		require.NoError(t, m.Rename("/db/a", "/db/b"))
		c := crash(m, 0, 1)
		require.Equal(t, []byte("A"), readFile(t, c, "/db/a"))
		require.False(t, exists(t, c, "/db/b"))
		require.NoError(t, m.SyncDir("/db"))
		c = crash(m, 0, 1)
		require.False(t, exists(t, c, "/db/a"))
		require.Equal(t, []byte("A"), readFile(t, c, "/db/b"))
	})
	t.Run("RemoveWithoutSyncDirResurrects", func(t *testing.T) {
		m := newMemWithDir(t)
		durableFile(t, m, "/db/f", []byte("durable"))
		f, err := m.OpenReadWrite("/db/f")
		require.NoError(t, err)
		_, err = f.Write([]byte(" unsynced"))
		require.NoError(t, err)
		require.NoError(t, m.Remove("/db/f"))
		c := crash(m, 0, 1)
		require.Equal(t, []byte("durable"), readFile(t, c, "/db/f"), "back, with its durable data")
		// Syncing the removed file through its handle makes that data
		// the durable data of the resurrected file.
		require.NoError(t, f.Sync())
		require.Equal(t, []byte("durable unsynced"), readFile(t, crash(m, 0, 1), "/db/f"))
		require.NoError(t, f.Close())
		require.NoError(t, m.SyncDir("/db"))
		require.False(t, exists(t, crash(m, 0, 1), "/db/f"))
	})
	t.Run("MkdirAllWithoutParentSyncDirIsForgotten", func(t *testing.T) {
		m := newMemWithDir(t)
		require.NoError(t, m.MkdirAll("/db/a/b", 0o755))
		durableFile(t, m, "/db/a/b/f", []byte("x"))
		require.NoError(t, m.SyncDir("/db/a"))
		// /db/a/b and its entries are durable, but /db/a is not.
		c := crash(m, 0, 1)
		require.False(t, exists(t, c, "/db/a"))
		require.NoError(t, m.SyncDir("/db"))
		c = crash(m, 0, 1)
		require.Equal(t, []byte("x"), readFile(t, c, "/db/a/b/f"))
	})
	t.Run("RemoveAllWithoutSyncDirReverts", func(t *testing.T) {
		m := newMemWithDir(t)
		require.NoError(t, m.MkdirAll("/db/t/u", 0o755))
		require.NoError(t, m.SyncDir("/db"))
		require.NoError(t, m.SyncDir("/db/t"))
		durableFile(t, m, "/db/t/u/f", []byte("x"))
		require.NoError(t, m.RemoveAll("/db/t"))
		require.Equal(t, []byte("x"), readFile(t, crash(m, 0, 1), "/db/t/u/f"))
		require.NoError(t, m.SyncDir("/db"))
		require.False(t, exists(t, crash(m, 0, 1), "/db/t"))
	})
	t.Run("CrossDirectoryRename", func(t *testing.T) {
		m := newMemWithDir(t)
		require.NoError(t, m.MkdirAll("/db/a", 0o755))
		require.NoError(t, m.MkdirAll("/db/b", 0o755))
		require.NoError(t, m.SyncDir("/db"))
		durableFile(t, m, "/db/a/f", []byte("x"))
		require.NoError(t, m.Rename("/db/a/f", "/db/b/f"))
		require.NoError(t, m.SyncDir("/db/b"))
		// The addition in b is durable, the removal from a is not: as
		// documented, both names survive, naming one file.
		c := crash(m, 0, 1)
		require.Equal(t, []byte("x"), readFile(t, c, "/db/a/f"))
		require.Equal(t, []byte("x"), readFile(t, c, "/db/b/f"))
		require.EqualValues(t, 1, c.Size(), "one inode")
		g, err := c.OpenReadWrite("/db/a/f")
		require.NoError(t, err)
		_, err = g.Write([]byte("y"))
		require.NoError(t, err)
		require.NoError(t, g.Close())
		require.Equal(t, []byte("xy"), readFile(t, c, "/db/b/f"))
		// Renaming one name of a file onto another is a no-op, as in POSIX.
		require.NoError(t, c.Rename("/db/a/f", "/db/b/f"))
		require.True(t, exists(t, c, "/db/a/f"))
	})
	t.Run("DirectoryCyclesAreBroken", func(t *testing.T) {
		// Per-directory durability can make a crash image in which two
		// directories each hold the other; CrashClone keeps each
		// directory once.
		m := NewMem()
		require.NoError(t, m.MkdirAll("/a", 0o755))
		require.NoError(t, m.MkdirAll("/b", 0o755))
		require.NoError(t, m.SyncDir("/"))
		require.NoError(t, m.Rename("/b", "/a/b"))
		require.NoError(t, m.SyncDir("/a"))
		require.NoError(t, m.Rename("/a/b", "/b"))
		require.NoError(t, m.Rename("/a", "/b/a"))
		require.NoError(t, m.SyncDir("/b"))
		c := crash(m, 0, 1)
		// Depth first by name, b is reached inside a first, so the
		// root's b is dropped, and b's a (a cycle) too.
		require.Equal(t, "/a/\n/a/b/\n", c.String())
		checkInvariants(t, c)
	})
}

// TestMemCrashRenameIsAtomic replaces CURRENT the way engines do (write a
// temporary, sync it, rename over, sync the directory) and crashes at
// every point with partial survival: CURRENT always holds a whole
// version, never nothing, never a mix.
func TestMemCrashRenameIsAtomic(t *testing.T) {
	m := newMemWithDir(t)
	durableFile(t, m, "/db/CURRENT", []byte("version-1"))
	writeFile(t, m, "/db/CURRENT.tmp", []byte("version-2"))
	check := func(stage string, allowed ...string) {
		seen := map[string]bool{}
		for seed := range uint64(32) {
			c := crash(m, 0.5, seed)
			got := string(readFile(t, c, "/db/CURRENT"))
			require.Contains(t, allowed, got, "%s seed %d", stage, seed)
			seen[got] = true
		}
		require.Len(t, seen, len(allowed), "%s: every allowed outcome occurs", stage)
	}
	check("before rename", "version-1")
	require.NoError(t, m.Rename("/db/CURRENT.tmp", "/db/CURRENT"))
	check("after rename", "version-1", "version-2")
	require.NoError(t, m.SyncDir("/db"))
	check("after syncdir", "version-2")
}

func TestMemCloneIndependence(t *testing.T) {
	m := newMemWithDir(t)
	durableFile(t, m, "/db/f", []byte("shared"))
	f, err := m.OpenReadWrite("/db/f")
	require.NoError(t, err)
	c := crash(m, 1, 1)

	// Changes to the original, through an old handle or by name, stay
	// there.
	_, err = f.WriteAt([]byte("S"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, m.Remove("/db/f"))
	require.NoError(t, m.SyncDir("/db"))
	require.Equal(t, []byte("shared"), readFile(t, c, "/db/f"))

	// And changes to the clone do not reach the original.
	g, err := c.OpenReadWrite("/db/f")
	require.NoError(t, err)
	_, err = g.WriteAt([]byte("C"), 0)
	require.NoError(t, err)
	require.NoError(t, g.Close())
	require.NoError(t, c.MkdirAll("/clone-only", 0o755))
	require.False(t, exists(t, m, "/clone-only"))
	require.Equal(t, []byte("Shared"), contents(t, f))
	require.NoError(t, f.Close())

	// A clone starts with no locks held.
	l, err := m.Lock("/db/LOCK")
	require.NoError(t, err)
	c2 := crash(m, 1, 1)
	l2, err := c2.Lock("/db/LOCK")
	require.NoError(t, err)
	require.NoError(t, l2.Close())
	_, err = m.Lock("/db/LOCK")
	require.ErrorIs(t, err, ErrLocked, "the original's lock is still held")
	require.NoError(t, l.Close())
}

// TestMemCrashCloneConcurrent clones while writers and readers run. Each
// writer appends a record to A and syncs, then to B and syncs: in every
// clone at KeepUnsynced 0, B holds no more records than A, and at most one
// fewer, because a clone is taken at one instant.
func TestMemCrashCloneConcurrent(t *testing.T) {
	m := newMemWithDir(t)
	const writers, records = 2, 1000
	var wg sync.WaitGroup
	var failed atomic.Value
	// Files named between the a's and the b's widen the window in which
	// a clone that did not stop the writers would see them move on.
	for i := range 100 {
		durableFile(t, m, fmt.Sprintf("/db/m%03d", i), make([]byte, 4096))
	}
	var files []File
	for w := range writers {
		fa, err := m.Create(fmt.Sprintf("/db/a%d", w))
		require.NoError(t, err)
		fb, err := m.Create(fmt.Sprintf("/db/b%d", w))
		require.NoError(t, err)
		files = append(files, fa, fb)
		wg.Add(2)
		go func() {
			defer wg.Done()
			rec := make([]byte, 8)
			for i := range records {
				binary.LittleEndian.PutUint64(rec, uint64(i))
				for _, f := range []File{fa, fb} {
					if _, err := f.Write(rec); err != nil {
						failed.Store(err)
						return
					}
					if err := f.Sync(); err != nil {
						failed.Store(err)
						return
					}
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for range records {
				if _, err := fa.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
					failed.Store(err)
					return
				}
			}
		}()
	}
	require.NoError(t, m.SyncDir("/db"))
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	clones := 0
	for running := true; running || clones == 0; clones++ {
		select {
		case <-done:
			running = false
		default:
		}
		c := crash(m, 0, 1)
		for w := range writers {
			fa, err := c.Stat(fmt.Sprintf("/db/a%d", w))
			require.NoError(t, err)
			fb, err := c.Stat(fmt.Sprintf("/db/b%d", w))
			require.NoError(t, err)
			require.LessOrEqual(t, fb.Size(), fa.Size())
			require.GreaterOrEqual(t, fb.Size(), fa.Size()-8)
		}
	}
	if err := failed.Load(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d clones", clones)
	for _, f := range files {
		require.NoError(t, f.Close())
	}
	checkInvariants(t, m)
	require.EqualValues(t, 2*writers*records*8+100*4096, crash(m, 0, 1).Size())
}

func TestMemPaths(t *testing.T) {
	m := NewMem()
	writeFile(t, m, "rel", []byte("x"))
	require.Equal(t, []byte("x"), readFile(t, m, "/rel"), "relative and absolute paths share the root")
	require.Equal(t, []byte("x"), readFile(t, m, "./a/../rel"))
	_, err := m.Create("../escape")
	require.ErrorIs(t, err, fs.ErrInvalid)
	_, err = m.Create("/")
	require.ErrorIs(t, err, fs.ErrInvalid)
	require.ErrorIs(t, m.Remove("/"), fs.ErrInvalid)
	require.ErrorIs(t, m.RemoveAll("."), fs.ErrInvalid)
	require.Error(t, m.Rename("/rel", "/"))
	fi, err := m.Stat("/")
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	names, err := m.List("")
	require.NoError(t, err)
	require.Equal(t, []string{"rel"}, names)
	// A file in the middle of a path is not a directory.
	_, err = m.Create("/rel/x")
	require.Error(t, err)
	require.NotErrorIs(t, err, fs.ErrNotExist)
}

func TestMemModTimeAndDump(t *testing.T) {
	m := newMemWithDir(t)
	writeFile(t, m, "/db/f", []byte("abc"))
	fi, err := m.Stat("/db/f")
	require.NoError(t, err)
	f, err := m.OpenReadWrite("/db/f")
	require.NoError(t, err)
	_, err = f.Write([]byte("d"))
	require.NoError(t, err)
	fi2, err := m.Stat("/db/f")
	require.NoError(t, err)
	require.True(t, fi2.ModTime().After(fi.ModTime()), "each change ticks the logical clock")
	require.Nil(t, fi2.Sys())
	require.NoError(t, f.Close())

	require.Equal(t, "/db/ (1 unsynced entry changes)\n/db/f 4 (synced 3, 1 unsynced ops)\n", m.String())
	require.EqualValues(t, 4, m.Size())
	writeFile(t, m, "/top", nil)
	require.Equal(t, "/ (1 unsynced entry changes)\n/db/ (1 unsynced entry changes)\n/db/f 4 (synced 3, 1 unsynced ops)\n/top 0\n", m.String())
}

// TestMemGrowAfterShrinkReadsZeros guards against reusing capacity left by
// a shrink without clearing it.
func TestMemGrowAfterShrinkReadsZeros(t *testing.T) {
	m := NewMem()
	f, err := m.Create("f")
	require.NoError(t, err)
	_, err = f.Write(bytes.Repeat([]byte{'a'}, 100))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Truncate(10))
	_, err = f.WriteAt([]byte("z"), 99)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	want := append(append(bytes.Repeat([]byte{'a'}, 10), make([]byte, 89)...), 'z')
	require.Equal(t, want, contents(t, f))
	require.NoError(t, m.SyncDir("/"))
	require.NoError(t, f.Close())
	require.Equal(t, want, readFile(t, crash(m, 0, 1), "f"), "the synced copy is cleared too")
}

func BenchmarkMemFS(b *testing.B) {
	const block = 4096
	const fileSize = 4 << 20
	b.Run("WriteAt", func(b *testing.B) {
		m := NewMem()
		f, err := m.Create("f")
		require.NoError(b, err)
		buf := make([]byte, block)
		b.SetBytes(block)
		i := 0
		for b.Loop() {
			if _, err := f.WriteAt(buf, int64(i%(fileSize/block))*block); err != nil {
				b.Fatal(err)
			}
			// Sync now and then, as a WAL does, so unsynced copies do not
			// pile up without bound.
			if i++; i%256 == 0 {
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("ReadAt", func(b *testing.B) {
		m := NewMem()
		f, err := m.Create("f")
		require.NoError(b, err)
		require.NoError(b, f.Truncate(fileSize))
		buf := make([]byte, block)
		b.SetBytes(block)
		rng := seeded(1)
		for b.Loop() {
			if _, err := f.ReadAt(buf, rng.Int64N(fileSize-block)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReadAtParallel", func(b *testing.B) {
		m := NewMem()
		f, err := m.Create("f")
		require.NoError(b, err)
		require.NoError(b, f.Truncate(fileSize))
		b.SetBytes(block)
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]byte, block)
			var off int64
			for pb.Next() {
				off = (off + 7*block) % (fileSize - block)
				if _, err := f.ReadAt(buf, off); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("CrashClone", func(b *testing.B) {
		m := NewMem()
		buf := make([]byte, block)
		for i := range 64 {
			f, err := m.Create(fmt.Sprintf("f%d", i))
			require.NoError(b, err)
			for range 16 {
				_, err = f.Write(buf)
				require.NoError(b, err)
			}
			require.NoError(b, f.Sync())
			require.NoError(b, f.Close())
		}
		b.SetBytes(m.Size())
		for b.Loop() {
			m.CrashClone(CrashOptions{KeepUnsynced: 0.5})
		}
	})
}
