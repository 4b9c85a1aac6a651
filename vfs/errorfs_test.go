package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireInjected checks the shape every injected error has.
func requireInjected(t *testing.T, err error, op, path string) {
	t.Helper()
	require.ErrorIs(t, err, ErrInjected)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, op, pe.Op)
	require.Equal(t, path, pe.Path)
}

func TestFailNth(t *testing.T) {
	e := NewErrorFS(NewMem(), FailNth(3, OpWrite, "", false))
	f, err := e.Create("f")
	require.NoError(t, err)
	for i := 1; i <= 5; i++ {
		_, err := f.Write([]byte{byte(i)})
		if i == 3 {
			requireInjected(t, err, "write", "f")
			continue
		}
		require.NoError(t, err, "write %d", i)
	}
	// Reads, syncs and the like are not counted.
	require.NoError(t, f.Sync())
	require.Equal(t, []byte{1, 2, 4, 5}, contents(t, f), "the failed write wrote nothing")
	require.NoError(t, f.Close())
}

func TestFailNthForever(t *testing.T) {
	inj := FailNth(2, OpWrite|OpSync, "", true)
	e := NewErrorFS(NewMem(), inj)
	f, err := e.Create("f")
	require.NoError(t, err)
	_, err = f.Write([]byte("a"))
	require.NoError(t, err)
	requireInjected(t, f.Sync(), "sync", "f")
	_, err = f.WriteAt([]byte("b"), 0)
	requireInjected(t, err, "write", "f")
	requireInjected(t, f.Sync(), "sync", "f")
	// Other kinds still pass.
	_, err = e.Stat("f")
	require.NoError(t, err)
	require.EqualValues(t, 4, inj.Count())
	require.EqualValues(t, 3, inj.Fired())
	require.NoError(t, f.Close())
}

func TestFailNthPathFilter(t *testing.T) {
	inj := FailNth(1, OpAll, ".log", false)
	e := NewErrorFS(NewMem(), inj)
	writeFile(t, e, "MANIFEST", []byte("x"))
	_, err := e.Create("000001.log")
	requireInjected(t, err, "create", "000001.log")
	_, err = e.Create("000001.log")
	require.NoError(t, err, "fired once")

	// A rename matches on either path, and names both in the error.
	inj = FailNth(1, OpRename, ".log", false)
	e.SetInjector(inj)
	err = e.Rename("MANIFEST", "000002.log")
	requireInjected(t, err, "rename", "MANIFEST -> 000002.log")
	require.NoError(t, e.Rename("MANIFEST", "000002.log"))
	require.EqualValues(t, 2, inj.Count())
}

func TestFailNthNeverFiresBelowOne(t *testing.T) {
	e := NewErrorFS(NewMem(), FailNth(0, OpAll, "", true))
	writeFile(t, e, "f", []byte("x"))
}

// TestErrorFSEveryKind fails each kind of operation once and checks the
// error names it, and that the operation did not reach the FS.
func TestErrorFSEveryKind(t *testing.T) {
	type call func(e *ErrorFS, f File) error
	cases := []struct {
		kind OpKind
		op   string
		path string
		call call
	}{
		{OpCreate, "create", "new", func(e *ErrorFS, _ File) error { _, err := e.Create("new"); return err }},
		{OpOpen, "open", "f", func(e *ErrorFS, _ File) error { _, err := e.Open("f"); return err }},
		{OpOpenReadWrite, "openrw", "new", func(e *ErrorFS, _ File) error { _, err := e.OpenReadWrite("new"); return err }},
		{OpRead, "read", "f", func(_ *ErrorFS, f File) error { _, err := f.ReadAt(make([]byte, 1), 0); return err }},
		{OpWrite, "write", "f", func(_ *ErrorFS, f File) error { _, err := f.WriteAt([]byte("x"), 0); return err }},
		{OpWrite, "write", "f", func(_ *ErrorFS, f File) error { _, err := f.Write([]byte("x")); return err }},
		{OpSync, "sync", "f", func(_ *ErrorFS, f File) error { return f.Sync() }},
		{OpTruncate, "truncate", "f", func(_ *ErrorFS, f File) error { return f.Truncate(0) }},
		{OpStat, "stat", "f", func(_ *ErrorFS, f File) error { _, err := f.Size(); return err }},
		{OpClose, "close", "f", func(_ *ErrorFS, f File) error { return f.Close() }},
		{OpRemove, "remove", "f", func(e *ErrorFS, _ File) error { return e.Remove("f") }},
		{OpRemoveAll, "removeall", "f", func(e *ErrorFS, _ File) error { return e.RemoveAll("f") }},
		{OpRename, "rename", "f -> g", func(e *ErrorFS, _ File) error { return e.Rename("f", "g") }},
		{OpMkdir, "mkdir", "d", func(e *ErrorFS, _ File) error { return e.MkdirAll("d", 0o755) }},
		{OpList, "list", ".", func(e *ErrorFS, _ File) error { _, err := e.List("."); return err }},
		{OpStat, "stat", "f", func(e *ErrorFS, _ File) error { _, err := e.Stat("f"); return err }},
		{OpLock, "lock", "LOCK", func(e *ErrorFS, _ File) error { _, err := e.Lock("LOCK"); return err }},
		{OpSyncDir, "syncdir", ".", func(e *ErrorFS, _ File) error { return e.SyncDir(".") }},
	}
	covered := OpKind(0)
	for _, tc := range cases {
		t.Run(tc.op, func(t *testing.T) {
			m := NewMem()
			writeFile(t, m, "f", []byte("data"))
			require.NoError(t, m.SyncDir("."))
			e := NewErrorFS(m, nil)
			f, err := e.OpenReadWrite("f")
			require.NoError(t, err)
			before := tree(t, m, "/")
			e.SetInjector(FailNth(1, tc.kind, "", false))
			requireInjected(t, tc.call(e, f), tc.op, tc.path)
			require.Equal(t, before, tree(t, m, "/"), "nothing reached the FS")
			require.Contains(t, m.String(), "/f 4\n", "and nothing is unsynced")
			covered |= tc.kind
		})
	}
	require.Equal(t, OpAll, covered, "every kind is exercised")
}

func TestErrorFSCloseReleasesEvenWhenFailed(t *testing.T) {
	m := NewMem()
	e := NewErrorFS(m, FailNth(1, OpClose, "", true))
	l, err := e.Lock("LOCK")
	require.NoError(t, err)
	requireInjected(t, l.Close(), "close", "LOCK")
	l2, err := m.Lock("LOCK")
	require.NoError(t, err, "the underlying lock was released")
	require.NoError(t, l2.Close())

	f, err := e.Create("f")
	require.NoError(t, err)
	requireInjected(t, f.Close(), "close", "f")
	e.SetInjector(nil)
	_, err = f.Write([]byte("x"))
	require.ErrorIs(t, err, fs.ErrClosed, "the underlying file was closed")
}

func TestTornWrite(t *testing.T) {
	t.Run("HalfByDefault", func(t *testing.T) {
		m := NewMem()
		e := NewErrorFS(m, TornWriteNth(2, "wal", nil))
		f, err := e.Create("wal")
		require.NoError(t, err)
		_, err = f.Write([]byte("first"))
		require.NoError(t, err)
		n, err := f.Write([]byte("0123456789"))
		requireInjected(t, err, "write", "wal")
		var torn *TornWriteError
		require.ErrorAs(t, err, &torn)
		require.Equal(t, 5, torn.Keep)
		require.Equal(t, 5, n)
		require.Equal(t, []byte("first01234"), contents(t, f))
		// Later writes run normally, at the position the prefix reached.
		_, err = f.Write([]byte("!"))
		require.NoError(t, err)
		require.Equal(t, []byte("first01234!"), contents(t, f))
		require.NoError(t, f.Close())
	})
	t.Run("SeededWriteAt", func(t *testing.T) {
		keeps := map[int]bool{}
		for seed := range uint64(20) {
			m := NewMem()
			e := NewErrorFS(m, TornWriteNth(1, "", seeded(seed)))
			f, err := e.Create("f")
			require.NoError(t, err)
			n, err := f.WriteAt([]byte("abcdefgh"), 4)
			require.ErrorIs(t, err, ErrInjected)
			require.Less(t, n, 8, "a torn write is shorter than asked")
			size, err := f.Size()
			require.NoError(t, err)
			if n > 0 {
				require.EqualValues(t, 4+n, size)
				require.Equal(t, []byte("abcdefgh")[:n], contents(t, f)[4:])
			} else {
				require.Zero(t, size)
			}
			keeps[n] = true
			require.NoError(t, f.Close())
		}
		require.Greater(t, len(keeps), 3, "the prefix length varies with the seed")
	})
	t.Run("CrashAfterTear", func(t *testing.T) {
		inj := FailNth(2, OpAll, "", true).WithTornWrite(nil)
		e := NewErrorFS(NewMem(), inj)
		f, err := e.Create("f") // op 1
		require.NoError(t, err)
		_, err = f.Write([]byte("abcd")) // op 2: torn
		var torn *TornWriteError
		require.ErrorAs(t, err, &torn)
		_, err = f.Write([]byte("abcd")) // op 3: fails whole
		require.ErrorIs(t, err, ErrInjected)
		require.False(t, errors.As(err, &torn))
	})
	t.Run("NotForOtherKinds", func(t *testing.T) {
		e := NewErrorFS(NewMem(), InjectorFunc(func(op Op) error { return &TornWriteError{Keep: 1} }))
		_, err := e.Create("f")
		requireInjected(t, err, "create", "f")
	})
}

func TestInjectorErrorsAreWrapped(t *testing.T) {
	custom := errors.New("disk on fire")
	var seen []Op
	e := NewErrorFS(NewMem(), InjectorFunc(func(op Op) error {
		seen = append(seen, op)
		if op.Kind == OpTruncate {
			return custom
		}
		return nil
	}))
	f, err := e.Create("f")
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("abc"), 7)
	require.NoError(t, err)
	_, err = f.Write([]byte("de"))
	require.NoError(t, err)
	err = f.Truncate(5)
	require.ErrorIs(t, err, ErrInjected)
	require.ErrorIs(t, err, custom)
	require.Equal(t, []Op{
		{Kind: OpCreate, Path: "f"},
		{Kind: OpWrite, Path: "f", Offset: 7, Length: 3},
		{Kind: OpWrite, Path: "f", Offset: -1, Length: 2},
		{Kind: OpTruncate, Path: "f", Offset: 5},
	}, seen)
	require.Equal(t, "write f @7+3", seen[1].String())
	require.Equal(t, "truncate f to 5", seen[3].String())
	require.Equal(t, "rename a -> b", Op{Kind: OpRename, Path: "a", NewPath: "b"}.String())
	require.NoError(t, f.Close())
}

func TestOpKindString(t *testing.T) {
	for _, tc := range []struct {
		k    OpKind
		want string
	}{
		{0, "none"},
		{OpCreate, "create"},
		{OpSyncDir, "syncdir"},
		{OpRead | OpWrite, "read|write"},
		{OpAll, "all"},
		{OpSyncDir << 1, "OpKind(0x10000)"},
	} {
		require.Equal(t, tc.want, tc.k.String())
	}
	require.Zero(t, OpAllWrites&(OpOpen|OpRead|OpClose|OpList|OpStat), "reads are not writes")
	require.Equal(t, OpAll, OpAllWrites|OpOpen|OpRead|OpClose|OpList|OpStat)
}

// workload is what the crash loop below runs: a WAL append and a CURRENT
// replacement the way an engine does them. It stops at the first error,
// as a fail-stopped engine would, closing what it opened.
func workload(fsys FS) error {
	if err := fsys.MkdirAll("db", 0o755); err != nil {
		return err
	}
	if err := fsys.SyncDir("."); err != nil {
		return err
	}
	wal, err := fsys.OpenReadWrite("db/wal")
	if err != nil {
		return err
	}
	for i := range 3 {
		if _, err := wal.Write([]byte(fmt.Sprintf("rec%d;", i))); err != nil {
			_ = wal.Close()
			return err
		}
		if err := wal.Sync(); err != nil {
			_ = wal.Close()
			return err
		}
	}
	if err := wal.Close(); err != nil {
		return err
	}
	tmp, err := fsys.Create("db/CURRENT.tmp")
	if err != nil {
		return err
	}
	if _, err := tmp.Write([]byte("v2")); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := fsys.Rename("db/CURRENT.tmp", "db/CURRENT"); err != nil {
		return err
	}
	return fsys.SyncDir("db")
}

// TestCrashAtEveryOp is the pattern the package exists for: count a
// workload's operations, then rerun it failing every operation from the
// nth on, crash, and check what survives.
func TestCrashAtEveryOp(t *testing.T) {
	counter := NewErrorFS(NewMem(), nil)
	require.NoError(t, workload(counter))
	total := counter.Ops()
	require.EqualValues(t, 16, total)

	for n := int64(1); n <= total+1; n++ {
		m := NewMem()
		var failedFrom atomic.Int64
		inj := FailNth(n, OpAll, "", true)
		e := NewErrorFS(m, InjectorFunc(func(op Op) error {
			err := inj.MaybeError(op)
			if err != nil {
				failedFrom.CompareAndSwap(0, inj.Count())
			}
			return err
		}))
		err := workload(e)
		if n <= total {
			require.ErrorIs(t, err, ErrInjected, "n=%d", n)
			require.Equal(t, n, failedFrom.Load(), "the nth op is the first to fail")
			require.Equal(t, e.Ops()-n+1, inj.Fired(), "n=%d: every op from the nth on fails", n)
		} else {
			require.NoError(t, err)
		}
		c := m.CrashClone(CrashOptions{})
		// The WAL holds a prefix of whole records; CURRENT, if present,
		// is the whole new version.
		if exists(t, c, "db/wal") {
			wal := string(readFile(t, c, "db/wal"))
			require.Contains(t, []string{"", "rec0;", "rec0;rec1;", "rec0;rec1;rec2;"}, wal, "n=%d", n)
		}
		if exists(t, c, "db/CURRENT") {
			require.Equal(t, "v2", string(readFile(t, c, "db/CURRENT")), "n=%d", n)
		}
		if n > total {
			require.Equal(t, "rec0;rec1;rec2;", string(readFile(t, c, "db/wal")))
			require.False(t, exists(t, c, "db/CURRENT.tmp"))
		}
	}
}

func TestErrorFSOpsAndSetInjector(t *testing.T) {
	e := NewErrorFS(NewMem(), nil)
	require.Zero(t, e.Ops())
	writeFile(t, e, "f", []byte("x")) // create, write, sync, close
	require.EqualValues(t, 4, e.Ops())
	e.SetInjector(FailNth(1, OpAll, "", true))
	_, err := e.Stat("f")
	require.ErrorIs(t, err, ErrInjected)
	require.EqualValues(t, 5, e.Ops(), "failed ops count too")
	e.SetInjector(nil)
	_, err = e.Stat("f")
	require.NoError(t, err)
	require.NotNil(t, e.Unwrap())
}

// TestErrorFSConcurrent hammers one Nth from many goroutines: exactly one
// op fails, and the counts add up. Run with -race.
func TestErrorFSConcurrent(t *testing.T) {
	const goroutines, each = 8, 200
	inj := FailNth(goroutines*each/2, OpWrite, "", false)
	e := NewErrorFS(NewMem(), inj)
	f, err := e.Create("f")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := f.WriteAt([]byte{byte(i)}, int64(g*each+i)); err != nil {
					failures.Add(1)
				}
				_, _ = f.ReadAt(make([]byte, 4), int64(i))
				if i == each/2 && g == 0 {
					// Switching the injector while others run is safe.
					e.SetInjector(inj)
				}
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, failures.Load())
	require.EqualValues(t, goroutines*each, inj.Count())
	require.EqualValues(t, 1, inj.Fired())
	require.NoError(t, f.Close())
}
