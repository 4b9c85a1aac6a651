package plugin

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/lightningdb/lightning/host/internal/logbridge"
	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// Parts are the implementations a plugin serves. Set any non-empty subset.
//
// Each factory comes with the descriptor its instances report. A
// descriptor left zero is learnt from a probe instance when Serve starts:
// a storage opened on a fresh temporary directory (removed afterwards), a
// cache of 1 MiB, a cipher of a random 32-byte key, each closed at once.
// Set the descriptor when a probe is impossible (a cipher whose key must
// have a special form) or costly.
type Parts struct {
	// Storage opens (creating it when missing) the storage kept in dir, an
	// absolute directory the host chooses. It is called once per instance
	// the host opens; instances of distinct directories must be
	// independent.
	Storage func(dir string) (interfaces.Storage, error)
	// StorageDescriptor is what every instance's Describe returns.
	StorageDescriptor interfaces.Descriptor

	// Cache makes a fresh, empty cache bounded by capacity bytes of
	// charge.
	Cache func(capacity int64) (interfaces.Cache, error)
	// CacheDescriptor is what every cache's Describe returns.
	CacheDescriptor interfaces.Descriptor

	// Codec is the plugin's codec; its Describe is its descriptor.
	Codec interfaces.Codec

	// Cipher makes a cipher holding key, as the host read it from its key
	// source. Ciphers made from equal keys must open each other's blocks;
	// ciphers made from different keys must not.
	Cipher func(key []byte) (interfaces.Cipher, error)
	// CipherDescriptor is what every cipher's Describe returns.
	CipherDescriptor interfaces.Descriptor
}

// Validate reports what makes p unservable: no part at all, a factory
// without a descriptor, or a descriptor of the wrong kind or contract
// version.
func (p *Parts) Validate() error {
	var errs []error
	check := func(set bool, d interfaces.Descriptor, kind interfaces.Kind) {
		if set {
			if err := wire.CheckDescriptor(d, kind); err != nil {
				errs = append(errs, fmt.Errorf("lightning/plugin: %s descriptor: %w", kind, err))
			}
		}
	}
	check(p.Storage != nil, p.StorageDescriptor, interfaces.KindStorage)
	check(p.Cache != nil, p.CacheDescriptor, interfaces.KindCache)
	if p.Codec != nil {
		check(true, p.Codec.Describe(), interfaces.KindCodec)
	}
	check(p.Cipher != nil, p.CipherDescriptor, interfaces.KindCipher)
	if p.Storage == nil && p.Cache == nil && p.Codec == nil && p.Cipher == nil {
		errs = append(errs, fmt.Errorf("lightning/plugin: Parts has no part to serve: %w", interfaces.ErrInvalidArgument))
	}
	return errors.Join(errs...)
}

// probe fills the zero descriptors of the parts set from probe
// instances.
func (p *Parts) probe() error {
	if p.Storage != nil && isZero(p.StorageDescriptor) {
		dir, err := os.MkdirTemp("", "lightning-plugin-probe-")
		if err != nil {
			return fmt.Errorf("lightning/plugin: probe storage: %w", err)
		}
		defer os.RemoveAll(dir)
		s, err := p.Storage(filepath.Join(dir, "probe"))
		if err != nil {
			return fmt.Errorf("lightning/plugin: probe storage: %w", err)
		}
		p.StorageDescriptor = s.Describe()
		if err := s.Close(); err != nil {
			return fmt.Errorf("lightning/plugin: close probe storage: %w", err)
		}
	}
	if p.Cache != nil && isZero(p.CacheDescriptor) {
		c, err := p.Cache(1 << 20)
		if err != nil {
			return fmt.Errorf("lightning/plugin: probe cache: %w", err)
		}
		p.CacheDescriptor = c.Describe()
		_ = c.Close()
	}
	if p.Cipher != nil && isZero(p.CipherDescriptor) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("lightning/plugin: probe cipher key: %w", err)
		}
		c, err := p.Cipher(key)
		if err != nil {
			return fmt.Errorf("lightning/plugin: probe cipher (set CipherDescriptor to skip the probe): %w", err)
		}
		p.CipherDescriptor = c.Describe()
		_ = c.Close()
	}
	return nil
}

func isZero(d interfaces.Descriptor) bool {
	return d.Kind == "" && d.Name == "" && d.Version == "" && d.ContractVersion == 0 && len(d.Capabilities) == 0
}

// descriptors lists the declared descriptors of the parts set.
func (p *Parts) descriptors() []interfaces.Descriptor {
	var out []interfaces.Descriptor
	if p.Storage != nil {
		out = append(out, p.StorageDescriptor)
	}
	if p.Cache != nil {
		out = append(out, p.CacheDescriptor)
	}
	if p.Codec != nil {
		out = append(out, p.Codec.Describe())
	}
	if p.Cipher != nil {
		out = append(out, p.CipherDescriptor)
	}
	return out
}

// LogLevelEnv names the environment variable that sets the level of
// Logger ("debug", "info", "warn", "error"; default info). The host passes
// its environment to the plugin, so setting it for the host sets it here.
const LogLevelEnv = "LIGHTNING_PLUGIN_LOG_LEVEL"

// Logger returns the plugin's logger: records go to the host, which logs
// them through its own *slog.Logger at the same level. Use it rather than
// standard output.
func Logger() *slog.Logger { return pluginLogger() }

var pluginLogger = sync.OnceValue(func() *slog.Logger {
	return slog.New(logbridge.NewPluginHandler(realStderr, logLevel()))
})

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv(LogLevelEnv))); err != nil {
		return slog.LevelInfo
	}
	return l
}

// realStderr is the process's standard error as it was at start, before
// go-plugin swaps os.Stderr for its stdio stream: log lines written here
// reach the host's log parser directly.
var realStderr io.Writer = os.Stderr

// Serve serves parts to the host that started this process and exits when
// the host is done with it. It never returns. Run by hand (not by a host),
// the binary prints what it is and exits with status 1; so it does when
// parts are invalid.
func Serve(parts Parts) {
	err := parts.probe()
	if err == nil {
		err = parts.Validate()
	}
	if err != nil {
		fmt.Fprintf(realStderr, "lightning plugin: %v\n", err)
		os.Exit(1)
	}
	if os.Getenv(wire.Handshake.MagicCookieKey) != wire.Handshake.MagicCookieValue {
		fmt.Fprintf(realStderr, "This binary is a Lightning plugin serving %s.\n"+
			"Load it from a host (a lightning configuration naming its path), or test it with\n"+
			"  lightning conformance --plugin %s\n", describeParts(parts.descriptors()), os.Args[0])
		os.Exit(1)
	}
	srv := newServer(parts)
	watch := newConnWatch(time.Second, func(reason string) {
		Logger().Info("plugin exiting", "reason", reason)
		os.Exit(0)
	})
	go watch.watchParent(500 * time.Millisecond)
	startHandshakeFilter()
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{
			wire.ProtocolVersion: {wire.PluginName: &grpcPlugin{srv: srv}},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts,
				grpc.MaxRecvMsgSize(wire.MaxMessageSize),
				grpc.MaxSendMsgSize(wire.MaxMessageSize),
				grpc.InitialWindowSize(wire.WindowSize),
				grpc.InitialConnWindowSize(wire.WindowSize),
				grpc.WriteBufferSize(wire.SocketBufferSize),
				grpc.ReadBufferSize(wire.SocketBufferSize),
				grpc.StatsHandler(watch),
			)
			return grpc.NewServer(opts...)
		},
		Logger: logbridge.Hclog(Logger()),
	})
	// go-plugin returns once the host has asked it to stop.
	srv.closeAll()
	os.Exit(0)
}

func describeParts(ds []interfaces.Descriptor) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%s %q %s", d.Kind, d.Name, d.Version)
	}
	return strings.Join(parts, ", ")
}

// grpcPlugin is the one go-plugin plugin of protocol version 1: it
// registers every service the parts need on the plugin's gRPC server.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	srv *server
}

func (g *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	g.srv.register(s)
	return nil
}

func (g *grpcPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("lightning/plugin: the plugin side has no client")
}

// startHandshakeFilter points os.Stdout at a pipe whose reader sends the
// go-plugin handshake line, and only it, to the real standard output, and
// everything else to standard error. go-plugin prints the handshake with
// fmt.Printf on os.Stdout and then replaces os.Stdout with its own stream,
// so only output printed while it starts passes through the filter.
func startHandshakeFilter() {
	if realStdout == nil {
		return
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(realStderr, "lightning plugin: stdout pipe: %v\n", err)
		os.Exit(1)
	}
	os.Stdout = w
	go func() {
		out := realStdout
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if out != nil && isHandshakeLine(line) {
				_, _ = io.WriteString(out, line+"\n")
				// Closing the real stdout tells the host that nothing else
				// will come from it.
				_ = out.Close()
				out = nil
				continue
			}
			_, _ = io.WriteString(realStderr, line+"\n")
		}
	}()
}

// isHandshakeLine reports whether line has the shape of go-plugin's
// handshake: core version|app version|network|address|protocol[|cert...].
func isHandshakeLine(line string) bool {
	parts := strings.Split(line, "|")
	if len(parts) < 5 {
		return false
	}
	if parts[0] != strconv.Itoa(goplugin.CoreProtocolVersion) {
		return false
	}
	if _, err := strconv.Atoi(parts[1]); err != nil {
		return false
	}
	if parts[2] != "unix" && parts[2] != "tcp" {
		return false
	}
	return parts[4] == string(goplugin.ProtocolGRPC)
}

// server holds the services of one plugin process.
type server struct {
	parts   Parts
	storage *storageServer
	cache   *cacheServer
	codec   *codecServer
	cipher  *cipherServer
}

func newServer(parts Parts) *server {
	s := &server{parts: parts}
	if parts.Storage != nil {
		s.storage = &storageServer{open: parts.Storage, desc: parts.StorageDescriptor}
	}
	if parts.Cache != nil {
		s.cache = &cacheServer{make: parts.Cache, desc: parts.CacheDescriptor}
	}
	if parts.Codec != nil {
		s.codec = &codecServer{c: parts.Codec}
	}
	if parts.Cipher != nil {
		s.cipher = &cipherServer{make: parts.Cipher, desc: parts.CipherDescriptor}
	}
	return s
}

func (s *server) register(g *grpc.Server) {
	pluginv1.RegisterPluginServer(g, &infoServer{parts: s.parts.descriptors()})
	if s.storage != nil {
		pluginv1.RegisterStorageServer(g, s.storage)
	}
	if s.cache != nil {
		pluginv1.RegisterCacheServer(g, s.cache)
	}
	if s.codec != nil {
		pluginv1.RegisterCodecServer(g, s.codec)
	}
	if s.cipher != nil {
		pluginv1.RegisterCipherServer(g, s.cipher)
	}
}

// closeAll closes every instance still open when the host shuts the
// plugin down gracefully without closing them.
func (s *server) closeAll() {
	if s.storage != nil {
		s.storage.closeAll()
	}
	if s.cache != nil {
		s.cache.closeAll()
	}
	if s.cipher != nil {
		s.cipher.closeAll()
	}
}

// infoServer serves the Plugin service.
type infoServer struct {
	pluginv1.UnimplementedPluginServer
	parts []interfaces.Descriptor
}

func (i *infoServer) Describe(context.Context, *pluginv1.DescribeRequest) (*pluginv1.PluginDescription, error) {
	out := &pluginv1.PluginDescription{Protocol: wire.ProtocolVersion, Sdk: wire.SDK}
	for _, d := range i.parts {
		out.Parts = append(out.Parts, wire.DescriptorToProto(d))
	}
	return out, nil
}

// checkInstance closes an instance whose Describe disagrees with its
// declared descriptor and returns the error Open reports.
func checkInstance(got, declared interfaces.Descriptor, closeFn func() error) error {
	if wire.SameDescriptor(got, declared) {
		return nil
	}
	_ = closeFn()
	return fmt.Errorf("lightning/plugin: instance describes itself as %+v, but the plugin declared %+v: %w",
		got, declared, interfaces.ErrIncompatible)
}
