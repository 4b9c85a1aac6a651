package arc_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/arc"
)

func TestModuleValidates(t *testing.T) {
	require.NoError(t, fx.ValidateApp(
		fx.NopLogger,
		fx.Supply(arc.Options{Capacity: 64 << 20, Shards: 4}),
		arc.Module,
		fx.Invoke(func(interfaces.Cache) {}),
	))
	// Without Options the graph is incomplete.
	require.Error(t, fx.ValidateApp(fx.NopLogger, arc.Module, fx.Invoke(func(interfaces.Cache) {})))
}

func TestModuleRunsAndCloses(t *testing.T) {
	var c interfaces.Cache
	app := fx.New(
		fx.NopLogger,
		fx.Supply(arc.Options{Capacity: 64 << 20, Shards: 4}),
		arc.Module,
		fx.Populate(&c),
	)
	require.NoError(t, app.Err())
	require.NoError(t, app.Start(context.Background()))
	require.Equal(t, arc.Name, c.Describe().Name)
	require.Equal(t, int64(64<<20), c.Capacity())
	k := interfaces.CacheKey{Namespace: 1, File: 2, Offset: 3}
	c.Set(k, []byte("block"), 5)
	v, ok := c.Get(k)
	require.True(t, ok)
	require.Equal(t, "block", string(v))
	require.Equal(t, int64(4), c.Stats().Metrics[arc.MetricShards])
	require.NoError(t, app.Stop(context.Background()))
	// Stopping the application closed the cache.
	_, err := c.HotKeys(1, 1)
	require.ErrorIs(t, err, interfaces.ErrClosed)
}

func TestModuleRejectsBadOptions(t *testing.T) {
	app := fx.New(fx.NopLogger, fx.Supply(arc.Options{Capacity: -1}), arc.Module, fx.Invoke(func(interfaces.Cache) {}))
	require.ErrorIs(t, app.Err(), interfaces.ErrInvalidArgument)
}
