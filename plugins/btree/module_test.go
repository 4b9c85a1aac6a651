package btree_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/plugins/btree/internal/pagecache"
	"github.com/lightningdb/lightning/vfs"
)

func TestModuleValidates(t *testing.T) {
	require.NoError(t, fx.ValidateApp(
		fx.NopLogger,
		fx.Supply(btree.Options{Dir: "db"}),
		btree.Module,
		fx.Invoke(func(interfaces.Storage) {}),
	))
	// Without Options the graph is incomplete.
	require.Error(t, fx.ValidateApp(fx.NopLogger, btree.Module, fx.Invoke(func(interfaces.Storage) {})))
}

func TestModuleRunsAndCloses(t *testing.T) {
	fs := vfs.NewMem()
	cache, err := pagecache.New(1 << 20)
	require.NoError(t, err)
	var s interfaces.Storage
	app := fx.New(
		fx.NopLogger,
		fx.Supply(btree.Options{Dir: "db"}),
		fx.Provide(func() vfs.FS { return fs }),
		fx.Provide(func() interfaces.Cache { return cache }),
		fx.Provide(fx.Annotate(newTestCodec, fx.ResultTags(`group:"codecs"`))),
		fx.Provide(fx.Annotate(newTestCodec, fx.ResultTags(`name:"codec"`))),
		btree.Module,
		fx.Populate(&s),
	)
	require.NoError(t, app.Err())
	require.NoError(t, app.Start(context.Background()))
	require.Equal(t, btree.Name, s.Describe().Name)
	value := make([]byte, 200)
	require.NoError(t, s.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet, Value: value}}))
	_, err = s.Flush()
	require.NoError(t, err)
	_, _, err = s.Get([]byte("k"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Positive(t, cache.Stats().Inserts, "the injected cache holds the engine's pages")
	require.NoError(t, app.Stop(context.Background()))
	// Stopping the app closed the engine: its lock is free, and the leaf
	// needs the codec the graph gave it.
	_, err = s.DurableTs()
	require.ErrorIs(t, err, interfaces.ErrClosed)
	e, err := btree.New(btree.Options{Dir: "db"}, btree.Deps{FS: fs, Codecs: []interfaces.Codec{newTestCodec()}})
	require.NoError(t, err)
	defer e.Close()
	v, _, err := e.Get([]byte("k"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, value, v)
}
