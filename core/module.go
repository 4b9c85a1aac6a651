package core

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/interfaces"
)

// Engine names a storage engine and how to open it; fx applications
// provide one (host builds it from configuration).
type Engine struct {
	Name string
	Open StorageOpener
}

// Config is what an fx application supplies to Module: the directory, the
// options, and the name of the codec (among the "codecs" group) that writes.
type Config struct {
	Dir     string
	Options Options
	// Codec names the writing codec among the provided codecs; "" keeps
	// Options.Codec.
	Codec string
}

// Params are Module's dependencies. Parts given through fx override the
// corresponding fields of Config.Options.
type Params struct {
	fx.In

	Lifecycle      fx.Lifecycle
	Config         Config
	Engine         Engine
	Codecs         []interfaces.Codec   `group:"codecs"`
	Cipher         interfaces.Cipher    `optional:"true"`
	Cache          interfaces.Cache     `optional:"true"`
	Logger         *slog.Logger         `optional:"true"`
	MeterProvider  metric.MeterProvider `optional:"true"`
	TracerProvider trace.TracerProvider `optional:"true"`
}

// Module provides *DB, opened when the application is constructed and
// closed when it stops.
var Module = fx.Module("lightning-core", fx.Provide(New))

// New opens a DB from fx parameters; Module provides it.
func New(p Params) (*DB, error) {
	opts := p.Config.Options
	opts.StorageName, opts.Storage = p.Engine.Name, p.Engine.Open
	opts.Codecs = append(append([]interfaces.Codec(nil), opts.Codecs...), p.Codecs...)
	if p.Config.Codec != "" {
		opts.Codec = nil
		for _, c := range p.Codecs {
			if c.Describe().Name == p.Config.Codec {
				opts.Codec = c
			}
		}
		if opts.Codec == nil {
			return nil, fmt.Errorf("core: codec %q is not linked in: %w", p.Config.Codec, ErrInvalidArgument)
		}
	}
	if p.Cipher != nil {
		opts.Cipher = p.Cipher
	}
	if p.Cache != nil {
		opts.Cache = p.Cache
	}
	if p.Logger != nil {
		opts.Logger = p.Logger
	}
	if p.MeterProvider != nil {
		opts.MeterProvider = p.MeterProvider
	}
	if p.TracerProvider != nil {
		opts.TracerProvider = p.TracerProvider
	}
	db, err := Open(p.Config.Dir, opts)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{OnStop: func(context.Context) error { return db.Close() }})
	return db, nil
}
