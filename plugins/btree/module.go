package btree

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
	// fx.Supply(btree.Options{Dir: "data"}).
	Options Options
	// FS is the file system; vfs.Default when absent.
	FS vfs.FS `optional:"true"`
	// Cache is the shared page cache; the engine makes a private one when
	// absent.
	Cache interfaces.Cache `optional:"true"`
	// Cipher seals pages when present.
	Cipher interfaces.Cipher `optional:"true"`
	// Codec compresses leaf pages, provided under the name "codec"; leaves
	// are written uncompressed when absent.
	Codec interfaces.Codec `name:"codec" optional:"true"`
	// Codecs are every linked-in codec (the "codecs" value group), for
	// reading pages written with any of them.
	Codecs []interfaces.Codec `group:"codecs"`
	// Logger receives the engine's log lines; discarded when absent.
	Logger *slog.Logger `optional:"true"`
}

// Module provides the B+tree engine as the application's
// interfaces.Storage, opened from Params when the graph is built and
// closed when the application stops.
var Module = fx.Module("lightning-btree",
	fx.Provide(provide),
)

func provide(p Params) (interfaces.Storage, error) {
	e, err := New(p.Options, Deps{
		FS:     p.FS,
		Cache:  p.Cache,
		Cipher: p.Cipher,
		Codec:  p.Codec,
		Codecs: p.Codecs,
		Logger: p.Logger,
	})
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.StopHook(e.Close))
	return e, nil
}
