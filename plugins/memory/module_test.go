package memory_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/memory"
	"github.com/lightningdb/lightning/vfs"
)

func TestModuleValidates(t *testing.T) {
	require.NoError(t, fx.ValidateApp(
		fx.NopLogger,
		fx.Supply(memory.Options{Dir: "db"}),
		memory.Module,
		fx.Invoke(func(interfaces.Storage) {}),
	))
	// Without Options the graph is incomplete.
	require.Error(t, fx.ValidateApp(fx.NopLogger, memory.Module, fx.Invoke(func(interfaces.Storage) {})))
}

func TestModuleRunsAndCloses(t *testing.T) {
	fs := vfs.NewMem()
	var s interfaces.Storage
	app := fx.New(
		fx.NopLogger,
		fx.Supply(memory.Options{Dir: "db"}),
		fx.Provide(func() vfs.FS { return fs }),
		fx.Provide(fx.Annotate(memory.NewRLECodec, fx.ResultTags(`group:"codecs"`))),
		fx.Provide(fx.Annotate(memory.NewRLECodec, fx.ResultTags(`name:"codec"`))),
		memory.Module,
		fx.Populate(&s),
	)
	require.NoError(t, app.Err())
	require.NoError(t, app.Start(context.Background()))
	require.Equal(t, memory.Name, s.Describe().Name)
	require.NoError(t, s.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("vvvvvvvvvvvvvvvv")}}))
	_, err := s.Flush()
	require.NoError(t, err)
	require.NoError(t, app.Stop(context.Background()))
	// Stopping the app closed the engine: its lock is free, and the
	// snapshot needs the codec the graph gave it.
	_, err = s.DurableTs()
	require.ErrorIs(t, err, interfaces.ErrClosed)
	e, err := memory.New(memory.Options{Dir: "db"}, memory.Deps{FS: fs, Codecs: []interfaces.Codec{memory.NewRLECodec()}})
	require.NoError(t, err)
	defer e.Close()
	v, _, err := e.Get([]byte("k"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "vvvvvvvvvvvvvvvv", string(v))
	_, err = memory.New(memory.Options{Dir: "db2"}, memory.Deps{FS: fs})
	require.NoError(t, err)
}
