package lsm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm"
	"github.com/lightningdb/lightning/vfs"
)

func TestModuleValidates(t *testing.T) {
	require.NoError(t, fx.ValidateApp(
		fx.NopLogger,
		fx.Supply(lsm.Options{Dir: "db"}),
		lsm.Module,
		fx.Invoke(func(interfaces.Storage) {}),
	))
	// Without Options the graph is incomplete.
	require.Error(t, fx.ValidateApp(fx.NopLogger, lsm.Module, fx.Invoke(func(interfaces.Storage) {})))
}

func TestModuleRunsAndCloses(t *testing.T) {
	fs := vfs.NewMem()
	var s interfaces.Storage
	app := fx.New(
		fx.NopLogger,
		fx.Supply(lsm.Options{Dir: "db", MemtableSize: lsm.MinMemtableSize}),
		fx.Provide(func() vfs.FS { return fs }),
		lsm.Module,
		fx.Populate(&s),
	)
	require.NoError(t, app.Err())
	require.NoError(t, app.Start(context.Background()))
	d := s.Describe()
	require.Equal(t, lsm.Name, d.Name)
	require.Equal(t, interfaces.KindStorage, d.Kind)
	for _, c := range []interfaces.Capability{interfaces.CapDurable, interfaces.CapDiscard, interfaces.CapCompact, interfaces.CapCheck} {
		require.True(t, d.Has(c), c)
	}
	require.NoError(t, s.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("v")}}))
	_, err := s.Flush()
	require.NoError(t, err)
	require.NoError(t, app.Stop(context.Background()))
	// Stopping the app closed the engine and released its lock.
	_, err = s.DurableTs()
	require.ErrorIs(t, err, interfaces.ErrClosed)
	e, err := lsm.New(lsm.Options{Dir: "db"}, lsm.Deps{FS: fs})
	require.NoError(t, err)
	defer e.Close()
	v, _, err := e.Get([]byte("k"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
}
