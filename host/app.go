package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/vfs"
)

// DefaultCodec is the codec that writes when a configuration names none.
const DefaultCodec = "snappy"

// Option adjusts Open and Module beyond what a configuration file says.
type Option func(*options)

type options struct {
	logger *slog.Logger
	meter  metric.MeterProvider
	tracer trace.TracerProvider
	tune   []func(*core.Options)
}

// WithLogger sends the database's and its plugins' logs to l, instead of
// the logger telemetry.log configures.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMeterProvider publishes the database's metrics through mp.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(o *options) { o.meter = mp } }

// WithTracerProvider records the database's spans through tp.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *options) { o.tracer = tp } }

// WithCoreOptions adjusts the core's options directly (WAL segment size,
// transaction limits, ...), after the configuration has set them.
func WithCoreOptions(fn func(*core.Options)) Option {
	return func(o *options) { o.tune = append(o.tune, fn) }
}

// App is a database composed from a configuration: an fx application that
// yields the *core.DB and owns its parts.
type App struct {
	// DB is the open database. Do not Close it directly: Close the App,
	// which closes the DB and then the parts and plugins under it.
	DB  *core.DB
	app *fx.App
}

// Open composes the database cfg describes and opens it: in-process parts
// by name, plugin binaries by path (started, checksum-verified, and
// stopped again on failure). ctx bounds the start.
func Open(ctx context.Context, cfg *Config, opts ...Option) (*App, error) {
	a := &App{}
	b := newBuilder(cfg, opts)
	app := fx.New(
		b.module(),
		fx.Populate(&a.DB),
		fx.WithLogger(func() fxevent.Logger { return fxevent.NopLogger }),
	)
	if err := app.Err(); err != nil {
		// fx runs no stop hook of an application that failed to build:
		// release what the constructors made, plugins last.
		b.release()
		// The root cause is the constructor's own error; fx's chain of
		// "could not build arguments for ..." adds nothing for a user.
		return nil, fmt.Errorf("lightning/host: compose: %w", dig.RootCause(err))
	}
	if err := app.Start(ctx); err != nil {
		_ = app.Stop(context.Background())
		return nil, fmt.Errorf("lightning/host: start: %w", err)
	}
	a.app = app
	return a, nil
}

// Close stops the application: the DB closes first, then the cipher and
// cache, then the plugin processes, then the log file.
func (a *App) Close(ctx context.Context) error {
	if a.app == nil {
		return nil
	}
	return a.app.Stop(ctx)
}

// Module is the fx composition of cfg: it provides *core.DB (through
// core.Module) and everything beneath it. Use it to put a configured
// database into an application's own fx graph; Open is Module plus
// fx.New. Plugin processes are stopped by the application's stop hooks,
// after the DB closes.
func Module(cfg *Config, opts ...Option) fx.Option {
	return newBuilder(cfg, opts).module()
}

func newBuilder(cfg *Config, opts []Option) *builder {
	o := &options{}
	for _, fn := range opts {
		fn(o)
	}
	return &builder{cfg: cfg, opts: o}
}

func (b *builder) module() fx.Option {
	cfg, o := b.cfg, b.opts
	parts := []fx.Option{
		fx.Provide(b.logger),
		fx.Provide(b.plugins),
		fx.Provide(b.engine),
		fx.Provide(b.coreConfig),
	}
	for _, name := range Codecs() {
		parts = append(parts, fx.Provide(fx.Annotate(b.inProcessCodec(name), fx.ResultTags(`group:"codecs"`))))
	}
	if cfg.Codec != nil && cfg.Codec.Path != "" {
		parts = append(parts, fx.Provide(fx.Annotate(b.pluginCodec, fx.ResultTags(`group:"codecs"`))))
	}
	if cfg.Cache != nil {
		parts = append(parts, fx.Provide(b.cache))
	}
	if cfg.Cipher != nil {
		parts = append(parts, fx.Provide(b.cipher))
	}
	if o.meter != nil {
		parts = append(parts, fx.Supply(fx.Annotate(o.meter, fx.As(new(metric.MeterProvider)))))
	}
	if o.tracer != nil {
		parts = append(parts, fx.Supply(fx.Annotate(o.tracer, fx.As(new(trace.TracerProvider)))))
	}
	parts = append(parts, core.Module)
	return fx.Module("lightning-host", parts...)
}

// builder holds the constructors of one composition.
type builder struct {
	cfg  *Config
	opts *options

	// coreOpts are the core's options once coreOptions has made them.
	coreOnce sync.Once
	coreOpts core.Options
	coreErr  error

	mu sync.Mutex
	// made are the Close functions of what the constructors made, in
	// order, for release after a failed build (a built application closes
	// them through its stop hooks instead).
	made []func() error
}

// onStop closes c when the application stops, and records it for release.
func (b *builder) onStop(lc fx.Lifecycle, c func() error) {
	lc.Append(fx.StopHook(c))
	b.mu.Lock()
	b.made = append(b.made, c)
	b.mu.Unlock()
}

// release closes everything the constructors made, newest first.
func (b *builder) release() {
	b.mu.Lock()
	made := b.made
	b.made = nil
	b.mu.Unlock()
	for i := len(made) - 1; i >= 0; i-- {
		_ = made[i]()
	}
}

// logger builds the *slog.Logger of telemetry.log (or the one given).
func (b *builder) logger(lc fx.Lifecycle) (*slog.Logger, error) {
	if b.opts.logger != nil {
		return b.opts.logger, nil
	}
	lg := b.cfg.Telemetry.Log
	var w io.Writer
	switch lg.Output {
	case "", "stderr":
		w = os.Stderr
	case "stdout":
		w = os.Stdout
	case "discard":
		w = io.Discard
	default:
		f, err := os.OpenFile(b.cfg.path(lg.Output), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
		if err != nil {
			return nil, fmt.Errorf("lightning/host: log output: %w", err)
		}
		b.onStop(lc, f.Close)
		w = f
	}
	var level slog.Level
	if lg.Level != "" {
		if err := level.UnmarshalText([]byte(strings.ToLower(strings.Replace(lg.Level, "warning", "warn", 1)))); err != nil {
			return nil, fmt.Errorf("lightning/host: log level %q: %w", lg.Level, interfaces.ErrInvalidArgument)
		}
	}
	ho := &slog.HandlerOptions{Level: level}
	if lg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return slog.New(slog.NewTextHandler(w, ho)), nil
}

// pluginSet starts each plugin binary once, however many parts it
// serves, and stops them all when the application stops.
type pluginSet struct {
	cfg    *Config
	logger *slog.Logger
	mu     sync.Mutex
	byPath map[string]*Plugin
}

func (b *builder) plugins(lc fx.Lifecycle, logger *slog.Logger) *pluginSet {
	ps := &pluginSet{cfg: b.cfg, logger: logger, byPath: map[string]*Plugin{}}
	b.onStop(lc, ps.close)
	return ps
}

// start returns the running plugin for part, starting it on first use.
func (ps *pluginSet) start(what string, part Part) (*Plugin, error) {
	path := ps.cfg.path(part.Path)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p, ok := ps.byPath[path]; ok {
		if p.opts.SHA256 != part.SHA256 || strings.Join(p.opts.Args, "\x00") != strings.Join(part.Args, "\x00") {
			return nil, fmt.Errorf("lightning/host: %s: plugin %s is configured twice with different sha256 or args: %w",
				what, path, interfaces.ErrInvalidArgument)
		}
		return p, nil
	}
	p, err := StartPlugin(path, PluginOptions{
		SHA256:       part.SHA256,
		Args:         part.Args,
		StartTimeout: durationOr(ps.cfg.Plugins.StartTimeout, DefaultStartTimeout),
		CallTimeout:  durationOr(ps.cfg.Plugins.CallTimeout, 0),
		Logger:       ps.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("lightning/host: %s: %w", what, err)
	}
	ps.byPath[path] = p
	return p, nil
}

func durationOr(d Duration, def time.Duration) time.Duration {
	if d > 0 {
		return time.Duration(d)
	}
	return def
}

func (ps *pluginSet) close() error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var errs []error
	for _, p := range ps.byPath {
		errs = append(errs, p.Close())
	}
	clear(ps.byPath)
	return errors.Join(errs...)
}

func (b *builder) inProcessCodec(name string) func() (interfaces.Codec, error) {
	return func() (interfaces.Codec, error) {
		f, err := lookup(codecs, "codec", name)
		if err != nil {
			return nil, err
		}
		return f()
	}
}

func (b *builder) pluginCodec(ps *pluginSet) (interfaces.Codec, error) {
	p, err := ps.start("codec", *b.cfg.Codec)
	if err != nil {
		return nil, err
	}
	return p.Codec()
}

// writingCodec picks the configured codec among the linked-in ones.
func (b *builder) writingCodec(all []interfaces.Codec) (interfaces.Codec, error) {
	want := DefaultCodec
	if b.cfg.Codec != nil && b.cfg.Codec.Name != "" {
		want = b.cfg.Codec.Name
	}
	if b.cfg.Codec != nil && b.cfg.Codec.Path != "" {
		for _, c := range all {
			if _, ok := c.(*RemoteCodec); ok {
				return c, nil
			}
		}
	}
	for _, c := range all {
		if c.Describe().Name == want {
			return c, nil
		}
	}
	if _, err := lookup(codecs, "codec", want); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("lightning/host: codec %q is not in the graph: %w", want, interfaces.ErrInvalidArgument)
}

// codecIn is what the engine and the core config take from the graph.
type codecIn struct {
	fx.In
	Codecs []interfaces.Codec `group:"codecs"`
}

func (b *builder) cache(lc fx.Lifecycle, ps *pluginSet) (interfaces.Cache, error) {
	cc := b.cfg.Cache
	var (
		c   interfaces.Cache
		err error
	)
	if cc.Path != "" {
		var p *Plugin
		if p, err = ps.start("cache", cc.Part); err == nil {
			c, err = p.NewCache(int64(cc.Size))
		}
	} else {
		var f CacheFactory
		if f, err = lookup(caches, "cache", cc.Name); err == nil {
			c, err = f(int64(cc.Size))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("lightning/host: cache: %w", err)
	}
	b.onStop(lc, c.Close)
	return c, nil
}

// cipher makes the configured cipher. An in-process one gets the database
// directory and file system (CipherDeps); a plugin gets the key alone, as
// the plugin protocol carries nothing else.
func (b *builder) cipher(lc fx.Lifecycle, ps *pluginSet, logger *slog.Logger) (interfaces.Cipher, error) {
	cc := b.cfg.Cipher
	key, err := b.cfg.readKey(cc.Key)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	var c interfaces.Cipher
	if cc.Path != "" {
		var p *Plugin
		if p, err = ps.start("cipher", cc.Part); err == nil {
			if err = b.checkPluginCipher(p); err == nil {
				c, err = p.NewCipher(key)
			}
		}
	} else {
		var f CipherFactory
		if f, err = lookup(ciphers, "cipher", cc.Name); err == nil {
			deps := CipherDeps{Dir: b.dir(), FS: b.fs(), Logger: logger}
			for _, ks := range cc.OldKeys {
				var old []byte
				if old, err = b.cfg.readKey(ks); err != nil {
					break
				}
				deps.OldKeys = append(deps.OldKeys, old)
			}
			if err == nil {
				// The factory owns its copies; key is wiped here.
				c, err = f(deps, bytes.Clone(key))
			} else {
				for _, k := range deps.OldKeys {
					clear(k)
				}
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("lightning/host: cipher: %w", err)
	}
	b.onStop(lc, c.Close)
	return c, nil
}

// checkPluginCipher refuses to serve a database that keeps aesgcm's key
// registry with the aesgcm plugin binary, which makes a registry-less
// cipher (aesgcm.New) of the key: it cannot open that database's blocks,
// and the error says why instead of the core's bare key mismatch.
func (b *builder) checkPluginCipher(p *Plugin) error {
	d, err := p.part(interfaces.KindCipher)
	if err != nil || d.Name != aesgcm.Name {
		return err
	}
	path := filepath.Join(b.dir(), aesgcm.RegistryFile)
	if _, err := b.fs().Stat(path); err != nil {
		return nil
	}
	return fmt.Errorf("%s keeps its data keys in the key registry %s, which the aesgcm plugin binary %s cannot use "+
		"(the plugin protocol passes it a key, not a directory): configure the in-process cipher (cipher: {name: aesgcm}): %w",
		b.dir(), path, p.Path(), interfaces.ErrIncompatible)
}

// engineIn is what the engine's opener takes from the graph.
type engineIn struct {
	fx.In
	Plugins *pluginSet
	Logger  *slog.Logger
	Codecs  []interfaces.Codec `group:"codecs"`
	Cache   interfaces.Cache   `optional:"true"`
	Cipher  interfaces.Cipher  `optional:"true"`
}

// engine builds the core.Engine: the name the database records and the
// opener the core calls once it has checked the database's identity.
func (b *builder) engine(in engineIn) (core.Engine, error) {
	e := b.cfg.Engine
	if e.Path == "" {
		f, err := lookup(engines, "engine", e.Name)
		if err != nil {
			return core.Engine{}, err
		}
		codec, err := b.writingCodec(in.Codecs)
		if err != nil {
			return core.Engine{}, err
		}
		deps := EngineDeps{Cache: in.Cache, Codec: codec, Codecs: in.Codecs, Cipher: in.Cipher, Logger: in.Logger}
		return core.Engine{Name: e.Name, Open: func(fs vfs.FS, dir string) (interfaces.Storage, error) {
			return f(fs, dir, deps)
		}}, nil
	}
	p, err := in.Plugins.start("engine", e)
	if err != nil {
		return core.Engine{}, err
	}
	d, err := p.part(interfaces.KindStorage)
	if err != nil {
		return core.Engine{}, err
	}
	return core.Engine{Name: d.Name, Open: func(fs vfs.FS, dir string) (interfaces.Storage, error) {
		if fs != vfs.Default {
			return nil, fmt.Errorf("lightning/host: engine plugin %s keeps its files on the operating system's file system, "+
				"not on %T: %w", p.name, fs, interfaces.ErrInvalidArgument)
		}
		return p.OpenStorage(dir)
	}}, nil
}

// coreOptions returns the core's options: the configuration's, adjusted
// by WithCoreOptions. They are made once, so the functions WithCoreOptions
// gives run once however many parts ask (the cipher asks for the file
// system, the core for everything).
func (b *builder) coreOptions() (core.Options, error) {
	b.coreOnce.Do(func() {
		mode, err := b.cfg.syncMode()
		if err != nil {
			b.coreErr = err
			return
		}
		b.coreOpts = core.Options{Sync: mode}
		for _, fn := range b.opts.tune {
			fn(&b.coreOpts)
		}
	})
	return b.coreOpts, b.coreErr
}

// dir is the database directory, absolute when the working directory is
// known.
func (b *builder) dir() string {
	dir := b.cfg.path(b.cfg.Dir)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir
}

// fs is the file system the core keeps the database on: what
// WithCoreOptions sets as core.Options.FS, or the operating system's.
func (b *builder) fs() vfs.FS {
	if opts, err := b.coreOptions(); err == nil && opts.FS != nil {
		return opts.FS
	}
	return vfs.Default
}

// coreConfig builds the core's configuration.
func (b *builder) coreConfig(in codecIn) (core.Config, error) {
	opts, err := b.coreOptions()
	if err != nil {
		return core.Config{}, err
	}
	codec, err := b.writingCodec(in.Codecs)
	if err != nil {
		return core.Config{}, err
	}
	return core.Config{Dir: b.dir(), Options: opts, Codec: codec.Describe().Name}, nil
}
