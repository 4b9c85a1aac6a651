package aesgcm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/vfs"
)

func TestModuleRunsAndCloses(t *testing.T) {
	mem := vfs.NewMem()
	var (
		c  interfaces.Cipher
		ac *aesgcm.Cipher
	)
	app := fx.New(
		fx.NopLogger,
		fx.Supply(aesgcm.Options{Path: "db/KEYS", Master: aesgcm.StaticKey(testKey(1))}),
		fx.Supply(fx.Annotate(mem, fx.As(new(vfs.FS)))),
		aesgcm.Module,
		fx.Populate(&c, &ac),
	)
	require.NoError(t, app.Err())
	require.NoError(t, app.Start(context.Background()))
	require.Equal(t, aesgcm.Name, c.Describe().Name)
	sealed, err := c.Seal(nil, []byte("through fx"), nil)
	require.NoError(t, err)
	st, err := ac.Status()
	require.NoError(t, err)
	require.True(t, st.OnDisk)
	require.NoError(t, app.Stop(context.Background()))
	_, err = c.Open(nil, sealed, nil)
	require.ErrorIs(t, err, interfaces.ErrClosed, "stopping the application closed the cipher")
	// The registry went to the FS in the graph.
	_, err = mem.Stat("db/KEYS")
	require.NoError(t, err)
}

func TestModuleRejectsBadOptions(t *testing.T) {
	app := fx.New(fx.NopLogger, fx.Supply(aesgcm.Options{Path: "KEYS"}), aesgcm.Module, fx.Invoke(func(interfaces.Cipher) {}))
	require.ErrorIs(t, app.Err(), interfaces.ErrInvalidArgument)
	require.Error(t, fx.ValidateApp(fx.NopLogger, aesgcm.Module, fx.Invoke(func(interfaces.Cipher) {})))
}
