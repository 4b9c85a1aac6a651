package arc

import (
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/interfaces"
)

// Params are what Module takes from the fx graph.
type Params struct {
	fx.In

	Lifecycle fx.Lifecycle
	// Options are supplied by the application, e.g.
	// fx.Supply(arc.Options{Capacity: 256 << 20}).
	Options Options
}

// Module provides an ARC cache, made from the Options in the graph, as the
// application's interfaces.Cache, and closes it when the application
// stops.
var Module = fx.Module("lightning-arc",
	fx.Provide(provide),
)

func provide(p Params) (interfaces.Cache, error) {
	c, err := New(p.Options)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.StopHook(c.Close))
	return c, nil
}
