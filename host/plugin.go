package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/lightningdb/lightning/host/internal/logbridge"
	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// DefaultStartTimeout bounds how long StartPlugin waits for a plugin's
// handshake when PluginOptions.StartTimeout is zero.
const DefaultStartTimeout = 30 * time.Second

// PluginOptions configure StartPlugin.
type PluginOptions struct {
	// SHA256 is the expected SHA-256 of the binary, in hex. When set, a
	// binary with another checksum is never started (ErrChecksumMismatch).
	// When empty the binary is not verified, and the host logs a warning.
	SHA256 string
	// StartTimeout bounds the start and the handshake; default
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// CallTimeout, when positive, bounds every call to the plugin, so that
	// a plugin that hangs (rather than crashes) turns into
	// context.DeadlineExceeded errors. Zero means no bound: a long Compact
	// or Flush may take as long as it needs.
	CallTimeout time.Duration
	// Logger receives the plugin's logs (its Logger and anything it writes
	// to standard error or output) and the host's own lines about the
	// plugin; default discards them.
	Logger *slog.Logger
	// Args are passed to the binary; Env is added to the host's
	// environment for it.
	Args []string
	Env  []string
}

// unverified holds the paths already warned about running without a
// checksum, so that a path started many times warns once.
var unverified sync.Map

// Plugin is a running plugin process. It serves the parts its Parts
// lists: open a Storage with OpenStorage, make caches and ciphers with
// NewCache and NewCipher, use its Codec. All methods are safe for
// concurrent use.
//
// When the process exits — crashes, is killed, or is stopped with Close —
// every call on every part it served returns an error matching
// ErrPluginFailed (and, for Storage writes, interfaces.ErrFailStopped)
// without waiting.
type Plugin struct {
	path   string
	name   string // base name of path, for messages
	client *goplugin.Client
	conn   *grpc.ClientConn
	parts  []interfaces.Descriptor
	logger *slog.Logger
	opts   PluginOptions

	// ctx is cancelled when the process exits or Close starts, which
	// aborts every call in flight.
	ctx    context.Context
	cancel context.CancelFunc
	// exited is closed once the exit has been noticed; exit holds why.
	exited chan struct{}
	exit   atomic.Pointer[error]

	closeOnce sync.Once
	closeErr  error
	// killed is set by Kill, before the process dies.
	killed *atomic.Bool

	storage pluginv1.StorageClient
	cache   pluginv1.CacheClient
	codec   pluginv1.CodecClient
	cipher  pluginv1.CipherClient
}

// StartPlugin starts the plugin binary at path and completes the
// handshake: checksum verification (when opts.SHA256 is set), automatic
// mutual TLS, protocol version negotiation, and a Describe of the parts it
// serves. Close the Plugin when done.
func StartPlugin(path string, opts PluginOptions) (*Plugin, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("lightning/host: plugin path %q: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("lightning/host: plugin %s: %w: %w", abs, ErrPluginStart, err)
	}
	name := filepath.Base(abs)
	logger := opts.Logger.With("plugin", name)

	var secure *goplugin.SecureConfig
	if opts.SHA256 != "" {
		sum, err := hex.DecodeString(strings.TrimSpace(opts.SHA256))
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("lightning/host: plugin %s: sha256 %q is not 64 hex digits: %w",
				name, opts.SHA256, interfaces.ErrInvalidArgument)
		}
		secure = &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	} else if _, warned := unverified.LoadOrStore(abs, true); !warned {
		logger.Warn("plugin binary is not checksum-verified; set its sha256", "path", abs)
	}

	killed := new(atomic.Bool)
	cmd := exec.Command(abs, opts.Args...)
	cmd.Env = append([]string(nil), opts.Env...)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: wire.Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{
			wire.ProtocolVersion: {wire.PluginName: hostPlugin{}},
		},
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     opts.StartTimeout,
		Logger:           quietKill{Logger: logbridge.Hclog(logger), killed: killed},
		SyncStdout:       newLineLogger(logger, "stdout"),
		SyncStderr:       newLineLogger(logger, "stderr"),
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithInitialWindowSize(wire.WindowSize),
			grpc.WithInitialConnWindowSize(wire.WindowSize),
			grpc.WithWriteBufferSize(wire.SocketBufferSize),
			grpc.WithReadBufferSize(wire.SocketBufferSize),
			grpc.WithDefaultCallOptions(
				grpc.MaxCallRecvMsgSize(wire.MaxMessageSize),
				grpc.MaxCallSendMsgSize(wire.MaxMessageSize),
			),
		},
	})
	p, err := connect(client, abs, name, logger, opts)
	if err != nil {
		client.Kill()
		return nil, err
	}
	p.killed = killed
	return p, nil
}

// quietKill lowers go-plugin's "plugin process exited" error to a debug
// line when the host killed the process on purpose (Kill).
type quietKill struct {
	hclog.Logger
	killed *atomic.Bool
}

func (q quietKill) Error(msg string, args ...any) {
	if q.killed.Load() && msg == "plugin process exited" {
		q.Logger.Debug(msg, args...)
		return
	}
	q.Logger.Error(msg, args...)
}

func (q quietKill) Named(name string) hclog.Logger {
	return quietKill{Logger: q.Logger.Named(name), killed: q.killed}
}

func (q quietKill) With(args ...any) hclog.Logger {
	return quietKill{Logger: q.Logger.With(args...), killed: q.killed}
}

func connect(client *goplugin.Client, path, name string, logger *slog.Logger, opts PluginOptions) (*Plugin, error) {
	rpc, err := client.Client()
	if err != nil {
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("lightning/host: plugin %s: %w", path, ErrChecksumMismatch)
		}
		return nil, fmt.Errorf("lightning/host: plugin %s: %w: %w", path, ErrPluginStart, err)
	}
	if v := client.NegotiatedVersion(); v != wire.ProtocolVersion {
		return nil, fmt.Errorf("lightning/host: plugin %s speaks protocol v%d, this host v%d: %w",
			path, v, wire.ProtocolVersion, interfaces.ErrIncompatible)
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		return nil, fmt.Errorf("lightning/host: plugin %s: %w: %w", path, ErrPluginStart, err)
	}
	conn := raw.(*grpc.ClientConn)
	ctx, cancel := context.WithCancel(context.Background())
	p := &Plugin{
		path: path, name: name, client: client, conn: conn, logger: logger, opts: opts,
		ctx: ctx, cancel: cancel, exited: make(chan struct{}),
		storage: pluginv1.NewStorageClient(conn),
		cache:   pluginv1.NewCacheClient(conn),
		codec:   pluginv1.NewCodecClient(conn),
		cipher:  pluginv1.NewCipherClient(conn),
	}
	go p.watch()
	dctx, dcancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer dcancel()
	desc, err := pluginv1.NewPluginClient(conn).Describe(dctx, &pluginv1.DescribeRequest{})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("lightning/host: plugin %s: Describe: %w: %w", path, ErrPluginStart, err)
	}
	seen := map[interfaces.Kind]bool{}
	for _, d := range desc.Parts {
		part := wire.DescriptorFromProto(d)
		if seen[part.Kind] {
			cancel()
			return nil, fmt.Errorf("lightning/host: plugin %s describes two %s parts: %w", path, part.Kind, interfaces.ErrIncompatible)
		}
		seen[part.Kind] = true
		p.parts = append(p.parts, part)
	}
	logger.Debug("plugin started", "path", path, "protocol", desc.Protocol, "sdk", desc.Sdk, "parts", describeAll(p.parts))
	return p, nil
}

func describeAll(ds []interfaces.Descriptor) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = fmt.Sprintf("%s:%s@%s", d.Kind, d.Name, d.Version)
	}
	return strings.Join(s, ",")
}

// watch notices the process's exit and fails every call from then on.
func (p *Plugin) watch() {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			// Close or a failed start: the process is being stopped.
			p.setExit(errors.New("plugin closed"))
			return
		case <-t.C:
			if p.client.Exited() {
				p.setExit(errors.New("plugin process exited"))
				if p.killed.Load() {
					p.logger.Debug("plugin process killed", "path", p.path)
				} else {
					p.logger.Warn("plugin process exited", "path", p.path)
				}
				p.cancel()
				return
			}
		}
	}
}

func (p *Plugin) setExit(why error) {
	err := fmt.Errorf("%w: %w", ErrPluginFailed, why)
	if p.exit.CompareAndSwap(nil, &err) {
		close(p.exited)
	}
}

// exitErr returns why the process is gone, or nil while it runs.
func (p *Plugin) exitErr() error {
	if e := p.exit.Load(); e != nil {
		return *e
	}
	return nil
}

// Path returns the absolute path of the plugin binary.
func (p *Plugin) Path() string { return p.path }

// Parts returns the descriptors of the parts the plugin serves, as its
// Describe declared them.
func (p *Plugin) Parts() []interfaces.Descriptor {
	return append([]interfaces.Descriptor(nil), p.parts...)
}

// Part returns the descriptor of the plugin's part of kind, if it serves
// one.
func (p *Plugin) Part(kind interfaces.Kind) (interfaces.Descriptor, bool) {
	for _, d := range p.parts {
		if d.Kind == kind {
			return d, true
		}
	}
	return interfaces.Descriptor{}, false
}

// part returns the descriptor of kind, checked against this build's
// contract version.
func (p *Plugin) part(kind interfaces.Kind) (interfaces.Descriptor, error) {
	d, ok := p.Part(kind)
	if !ok {
		return d, fmt.Errorf("lightning/host: plugin %s serves no %s: %w", p.name, kind, interfaces.ErrUnsupported)
	}
	if err := wire.CheckDescriptor(d, kind); err != nil {
		return d, fmt.Errorf("lightning/host: plugin %s: %w", p.name, err)
	}
	return d, nil
}

// Exited reports whether the plugin process is gone.
func (p *Plugin) Exited() bool { return p.exitErr() != nil || p.client.Exited() }

// Done is closed once the plugin process is known to be gone (or Close
// has started).
func (p *Plugin) Done() <-chan struct{} { return p.exited }

// Pid returns the plugin process's id.
func (p *Plugin) Pid() int {
	if rc := p.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// callCtx returns the context for one call: cancelled when the process
// exits, and bounded by CallTimeout when one is set.
func (p *Plugin) callCtx() (context.Context, context.CancelFunc) {
	if p.opts.CallTimeout > 0 {
		return context.WithTimeout(p.ctx, p.opts.CallTimeout)
	}
	return p.ctx, func() {}
}

// Close stops the plugin: it asks the process to exit, and kills it if it
// has not within two seconds. Parts of the plugin fail with
// ErrPluginFailed afterwards; close them first (the host's fx lifecycle
// closes the DB, then its plugins).
func (p *Plugin) Close() error {
	p.closeOnce.Do(func() {
		p.cancel()
		p.client.Kill()
		<-p.exited
	})
	return p.closeErr
}

// Kill kills the plugin process at once (SIGKILL), as a crash would, and
// releases what the host holds for it. It is how tests and the
// conformance harness simulate a crash.
func (p *Plugin) Kill() error {
	p.killed.Store(true)
	var err error
	if pid := p.Pid(); pid > 0 {
		if proc, ferr := os.FindProcess(pid); ferr == nil {
			err = proc.Kill()
		}
	}
	// Wait for go-plugin to see the exit, so the next process started on
	// the same directory does not race this one.
	deadline := time.After(10 * time.Second)
	for !p.client.Exited() {
		select {
		case <-deadline:
			return fmt.Errorf("lightning/host: plugin %s did not exit after SIGKILL", p.name)
		case <-time.After(5 * time.Millisecond):
		}
	}
	_ = p.Close()
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("lightning/host: kill plugin %s: %w", p.name, err)
	}
	return nil
}

// hostPlugin is the host's side of the one go-plugin plugin of protocol
// version 1: it hands back the gRPC connection, on which the host makes
// a client per service.
type hostPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (hostPlugin) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error {
	return errors.New("lightning/host: the host side serves nothing")
}

func (hostPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return c, nil
}

// lineLogger logs each line written to it, for the plugin's standard
// output and error streams as go-plugin relays them.
type lineLogger struct {
	mu     sync.Mutex
	logger *slog.Logger
	stream string
	buf    []byte
}

func newLineLogger(l *slog.Logger, stream string) io.Writer {
	return &lineLogger{logger: l, stream: stream}
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.logger.Info(string(w.buf[:i]), "stream", w.stream)
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		w.logger.Info(string(w.buf), "stream", w.stream)
		w.buf = w.buf[:0]
	}
	return len(p), nil
}
