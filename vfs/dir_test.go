package vfs

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMkdirAllDurable(t *testing.T) {
	t.Run("survives a crash", func(t *testing.T) {
		m := NewMem()
		require.NoError(t, MkdirAllDurable(m, "a/b/c"))
		f, err := m.Create("a/b/c/file")
		require.NoError(t, err)
		_, err = f.Write([]byte("data"))
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
		require.NoError(t, m.SyncDir("a/b/c"))
		// Nothing unsynced survives, yet the file does: every directory
		// entry on its path was synced.
		c := m.CrashClone(CrashOptions{KeepUnsynced: 0})
		require.Equal(t, "data", string(readFile(t, c, "a/b/c/file")))
	})
	t.Run("a plain MkdirAll does not", func(t *testing.T) {
		// The property above is the function's doing: the same steps
		// with MkdirAll lose the file.
		m := NewMem()
		require.NoError(t, m.MkdirAll("a/b/c", 0o755))
		f, err := m.Create("a/b/c/file")
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
		require.NoError(t, m.SyncDir("a/b/c"))
		c := m.CrashClone(CrashOptions{KeepUnsynced: 0})
		_, err = c.Stat("a/b/c/file")
		require.Error(t, err)
	})
	t.Run("existing directory syncs nothing", func(t *testing.T) {
		m := NewMem()
		require.NoError(t, m.MkdirAll("a", 0o755))
		var ops []OpKind
		e := NewErrorFS(m, InjectorFunc(func(op Op) error { ops = append(ops, op.Kind); return nil }))
		require.NoError(t, MkdirAllDurable(e, "a"))
		require.Equal(t, []OpKind{OpStat}, ops)
	})
	t.Run("errors name the step", func(t *testing.T) {
		for _, c := range []struct {
			kind OpKind
			want string
		}{
			{OpStat, "lightning/vfs: stat"},
			{OpMkdir, "lightning/vfs: create"},
			{OpSyncDir, "lightning/vfs: sync"},
		} {
			m := NewMem()
			e := NewErrorFS(m, FailNth(1, c.kind, "", false))
			err := MkdirAllDurable(e, "x/y")
			require.ErrorIs(t, err, ErrInjected, "%v", c.kind)
			require.ErrorContains(t, err, c.want)
		}
	})
}
