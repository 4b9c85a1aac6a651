package host

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/interfaces"
)

// Config describes a database and the parts it is composed of. It is read
// from YAML (LoadConfig, ParseConfig); docs/PLUGINS.md documents every
// field with an example. Unknown fields are errors, so a misspelt key never
// silently falls back to a default.
//
// Each part is named either by Name — an in-process part linked into this
// binary (Engines, Caches, Codecs, Ciphers list them) — or by Path, a
// plugin binary started as its own process, with an optional SHA256 that
// the binary must match.
type Config struct {
	// Dir is the database directory. Relative paths are relative to the
	// configuration file's directory.
	Dir string `yaml:"dir"`
	// Engine is the storage engine; required.
	Engine Part `yaml:"engine"`
	// Codec compresses the WAL and the engine's blocks; default snappy.
	// Every in-process codec stays linked in for reading old data.
	Codec *Part `yaml:"codec"`
	// Cache is the engine's block cache; none when absent.
	Cache *CacheConfig `yaml:"cache"`
	// Cipher encrypts everything written; none when absent.
	Cipher *CipherConfig `yaml:"cipher"`
	// Sync is when commits are durable: "always" (default), "none", or an
	// interval such as "100ms" (fsync in the background that often).
	Sync string `yaml:"sync"`
	// Telemetry configures logging.
	Telemetry Telemetry `yaml:"telemetry"`
	// Plugins configures how plugin binaries are run.
	Plugins PluginsConfig `yaml:"plugins"`

	// base is the directory relative paths are resolved against: the
	// configuration file's, or the working directory.
	base string
}

// Part names one part: exactly one of Name and Path.
type Part struct {
	// Name is an in-process part, e.g. "memory", "snappy".
	Name string `yaml:"name"`
	// Path is a plugin binary; relative paths are relative to the
	// configuration file's directory.
	Path string `yaml:"path"`
	// SHA256 is the plugin binary's expected checksum, in hex. Strongly
	// recommended: without it the binary is not verified.
	SHA256 string `yaml:"sha256"`
	// Args are passed to the plugin binary.
	Args []string `yaml:"args"`
}

// CacheConfig is the block cache.
type CacheConfig struct {
	Part `yaml:",inline"`
	// Size is the cache's capacity: a byte count, or a number with a unit
	// (B, KB, MB, GB, KiB, MiB, GiB), e.g. "256MiB". Required.
	Size ByteSize `yaml:"size"`
}

// CipherConfig is the encryption at rest. The in-process cipher is
// "aesgcm" (AES-256-GCM, plugins/aesgcm), whose key is 32 bytes: 64 hex
// digits in an environment variable, or a file of 32 raw bytes. In process
// the key is the master key of the key registry <dir>/KEYS, exactly as
// lightning.Open(dir, lightning.WithMasterKey(...)) uses it: data keys
// rotate, encryptions are counted durably, and `lightning keys` manages
// the database. The plugin binary, cmd/plugins/lightning-aesgcm, is handed
// the key alone (the plugin protocol passes no directory), so it keeps no
// registry: every process seals under a data key of its own, derived from
// the key and a random key id (aesgcm.New). The two modes do not open each
// other's databases, and each refuses the other's with ErrIncompatible.
// docs/OPERATIONS.md covers key setup.
type CipherConfig struct {
	Part `yaml:",inline"`
	// Key is where the key material comes from: the registry's master key
	// in process, the key data keys are derived from in the plugin.
	Key KeySource `yaml:"key"`
	// OldKeys are earlier master keys, tried in order when Key does not
	// open the key registry; in-process ciphers only. They rotate the
	// master key of a configured database: set Key to the new key, list
	// the old one here, and open the database once — the registry is
	// rewrapped under Key by its first write — then drop OldKeys.
	OldKeys []KeySource `yaml:"old_keys"`
}

// KeySource says where a cipher's key material is read from: exactly one
// of Env and File. The key is read once, when the database opens.
type KeySource struct {
	// Env names an environment variable holding the key.
	Env string `yaml:"env"`
	// File is a file holding the key (relative to the configuration
	// file's directory). Keep it readable by the database's user only.
	File string `yaml:"file"`
	// Encoding is how the key is written: "hex" (default for Env), "base64"
	// or "raw" (default for File: the file's bytes are the key).
	Encoding string `yaml:"encoding"`
}

// Telemetry configures the database's logs. Metrics and traces are
// OpenTelemetry providers given in Go (WithMeterProvider,
// WithTracerProvider, or provided in the fx graph).
type Telemetry struct {
	Log LogConfig `yaml:"log"`
}

// LogConfig configures the *slog.Logger the database and its plugins log
// to (unless WithLogger gives one).
type LogConfig struct {
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `yaml:"level"`
	// Format is "text" (default) or "json".
	Format string `yaml:"format"`
	// Output is "stderr" (default), "stdout", "discard", or a file path
	// (appended to; relative to the configuration file's directory).
	Output string `yaml:"output"`
}

// PluginsConfig configures plugin processes.
type PluginsConfig struct {
	// StartTimeout bounds a plugin's start and handshake; default 30s.
	StartTimeout Duration `yaml:"start_timeout"`
	// CallTimeout, when set, bounds every call to a plugin, so a plugin
	// that hangs turns into errors; default none.
	CallTimeout Duration `yaml:"call_timeout"`
}

// ByteSize is a size in bytes that reads "256MiB" as well as 268435456.
type ByteSize int64

// UnmarshalYAML reads a byte count or a number with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30},
	{"B", 1},
}

// ParseByteSize parses a byte count, optionally with a unit: "4096",
// "64KiB", "256MiB", "1GB", "1.5GiB".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	num := s
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			mult, num = u.mult, strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n < 0 || (mult > 1 && n > (1<<62)/mult) {
			return 0, fmt.Errorf("lightning/host: size %q out of range: %w", s, interfaces.ErrInvalidArgument)
		}
		return ByteSize(n * mult), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("lightning/host: %q is not a size (e.g. 268435456 or 256MiB): %w", s, interfaces.ErrInvalidArgument)
	}
	return ByteSize(f * float64(mult)), nil
}

// Duration is a time.Duration that reads "30s" from YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 30s): %w", n.Line, n.Value, interfaces.ErrInvalidArgument)
	}
	*d = Duration(v)
	return nil
}

// LoadConfig reads and validates the configuration file at path. Relative
// paths in it are relative to its directory.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lightning/host: read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("lightning/host: config path: %w", err)
	}
	cfg, err := parseConfig(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("lightning/host: config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses and validates a configuration; relative paths in it
// are relative to the working directory.
func ParseConfig(data []byte) (*Config, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("lightning/host: working directory: %w", err)
	}
	cfg, err := parseConfig(data, wd)
	if err != nil {
		return nil, fmt.Errorf("lightning/host: config: %w", err)
	}
	return cfg, nil
}

func parseConfig(data []byte, base string) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	cfg := &Config{}
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("empty configuration: %w", interfaces.ErrInvalidArgument)
		}
		return nil, fmt.Errorf("%w: %w", err, interfaces.ErrInvalidArgument)
	}
	cfg.base = base
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Validate reports every problem of the configuration, joined; each
// matches interfaces.ErrInvalidArgument.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format+": %w", append(args, interfaces.ErrInvalidArgument)...))
	}
	if c.Dir == "" {
		bad("dir is required")
	}
	checkPart := func(what string, p *Part, required bool) {
		switch {
		case p.Name == "" && p.Path == "":
			if required {
				bad("%s: set name (an in-process part) or path (a plugin binary)", what)
			}
		case p.Name != "" && p.Path != "":
			bad("%s: set name or path, not both", what)
		case p.Name != "" && (p.SHA256 != "" || len(p.Args) > 0):
			bad("%s: sha256 and args apply to a plugin path, not to the in-process part %q", what, p.Name)
		}
	}
	checkPart("engine", &c.Engine, true)
	if c.Codec != nil {
		checkPart("codec", c.Codec, true)
	}
	if c.Cache != nil {
		checkPart("cache", &c.Cache.Part, true)
		if c.Cache.Size <= 0 {
			bad("cache: size must be positive")
		}
	}
	if c.Cipher != nil {
		checkPart("cipher", &c.Cipher.Part, true)
		checkKey := func(field string, k KeySource) {
			if (k.Env == "") == (k.File == "") {
				bad("%s: set exactly one of env and file", field)
			}
			switch k.Encoding {
			case "", "hex", "base64", "raw":
			default:
				bad("%s.encoding %q: want hex, base64 or raw", field, k.Encoding)
			}
		}
		checkKey("cipher.key", c.Cipher.Key)
		for i, k := range c.Cipher.OldKeys {
			checkKey(fmt.Sprintf("cipher.old_keys[%d]", i), k)
		}
		if len(c.Cipher.OldKeys) > 0 && c.Cipher.Path != "" {
			bad("cipher.old_keys: a plugin cipher is given one key; old keys are for in-process ciphers")
		}
	}
	if _, err := c.syncMode(); err != nil {
		errs = append(errs, err)
	}
	switch strings.ToLower(c.Telemetry.Log.Level) {
	case "", "debug", "info", "warn", "warning", "error":
	default:
		bad("telemetry.log.level %q: want debug, info, warn or error", c.Telemetry.Log.Level)
	}
	switch c.Telemetry.Log.Format {
	case "", "text", "json":
	default:
		bad("telemetry.log.format %q: want text or json", c.Telemetry.Log.Format)
	}
	return errors.Join(errs...)
}

// syncMode returns the core sync mode Sync names.
func (c *Config) syncMode() (core.SyncMode, error) {
	switch strings.ToLower(c.Sync) {
	case "", "always":
		return core.SyncAlways, nil
	case "none":
		return core.SyncNone, nil
	}
	d, err := time.ParseDuration(c.Sync)
	if err != nil || d <= 0 {
		return core.SyncMode{}, fmt.Errorf("sync %q: want always, none or a positive interval such as 100ms: %w",
			c.Sync, interfaces.ErrInvalidArgument)
	}
	return core.SyncInterval(d), nil
}

// path resolves p against the configuration's directory.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.base == "" {
		return p
	}
	return filepath.Join(c.base, p)
}
