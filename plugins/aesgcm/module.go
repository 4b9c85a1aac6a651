package aesgcm

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// Params are what Module takes from the fx graph.
type Params struct {
	fx.In

	Lifecycle fx.Lifecycle
	// Options are supplied by the application, e.g.
	// fx.Supply(aesgcm.Options{Path: "data/KEYS", Master: aesgcm.KeyFile("/etc/lightning.key")}).
	Options Options
	// FS holds the registry when Options.FS is nil; vfs.Default when
	// absent too.
	FS vfs.FS `optional:"true"`
	// Logger receives rotation lines when Options.Logger is nil.
	Logger *slog.Logger `optional:"true"`
}

// Module provides a registry-backed cipher (Open) as the application's
// interfaces.Cipher, and as *Cipher for rotation and status, and closes it
// when the application stops.
var Module = fx.Module("lightning-aesgcm",
	fx.Provide(provide),
	fx.Provide(func(c *Cipher) interfaces.Cipher { return c }),
)

func provide(p Params) (*Cipher, error) {
	opts := p.Options
	if opts.FS == nil {
		opts.FS = p.FS
	}
	if opts.Logger == nil {
		opts.Logger = p.Logger
	}
	c, err := Open(opts)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.StopHook(c.Close))
	return c, nil
}
