package aesgcm

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// RegistryFile is the name lightning.Open gives the key registry inside a
// database directory: <dir>/KEYS.
const RegistryFile = "KEYS"

// Limits and defaults.
const (
	// KeySize is the size of every key: master keys and data keys are
	// AES-256 keys.
	KeySize = 32
	// NISTLimit is the most encryptions one key may perform with random
	// 96-bit nonces (NIST SP 800-38D, section 8.3): past it, the chance of
	// two nonces colliding stops being negligible. It is the largest value
	// Options.MaxEncryptionsPerKey accepts.
	NISTLimit uint64 = 1 << 32
	// DefaultRotateEvery is how old the current data key may grow before a
	// new one replaces it for new writes.
	DefaultRotateEvery = 30 * 24 * time.Hour
	// DefaultReserveChunk is how many encryptions one registry write
	// reserves for the current key.
	DefaultReserveChunk uint64 = 1 << 20
	// DefaultPruneGrace is how long a data key must have been retired
	// before Prune may remove it from a live database.
	DefaultPruneGrace = 10 * time.Minute
)

// Options configure a registry-backed cipher (Open). The zero value of
// every field but Path and Master means its default.
type Options struct {
	// FS holds the registry file; default vfs.Default.
	FS vfs.FS
	// Path is the registry file, e.g. filepath.Join(dir, RegistryFile).
	// Required. The registry is written as Path+".tmp" and renamed over
	// Path, so the directory must be writable.
	Path string
	// Master supplies the master key (the key-encryption key) that wraps
	// the registry. Required. It is asked once by Open, and the key is
	// kept (as a derived key-encryption key) until Close, because every
	// reservation rewrites the registry.
	Master KeyProvider
	// OldMasters are tried, in order, when Master does not open the
	// registry: a master-key rotation that crashed (or one done by an
	// operator who has already switched the configuration to the new key)
	// leaves the registry wrapped by either key. A registry opened by an
	// old master is rewrapped under Master by its next write.
	OldMasters []KeyProvider
	// MustExist makes Open fail (with an error matching both
	// interfaces.ErrKeyMismatch and fs.ErrNotExist) when the registry
	// file is missing, instead of starting a new registry. Tools that
	// inspect an existing database set it.
	MustExist bool

	// RotateEvery is the age at which the current data key is replaced
	// for new writes; default DefaultRotateEvery, negative never.
	// Rotation happens on the first Seal after the key comes of age, so a
	// database that does not write does not rotate.
	RotateEvery time.Duration
	// MaxEncryptionsPerKey is the most Seals one data key performs, across
	// every run of the process; default and maximum NISTLimit. A new data
	// key takes over before a Seal would pass it. Tests set it low to
	// force rotations.
	MaxEncryptionsPerKey uint64
	// ReserveChunk is how many encryptions one registry write reserves
	// for the current key; default DefaultReserveChunk, at most
	// MaxEncryptionsPerKey. Reservations are durable before they are
	// used, so a crash loses at most one chunk of a key's budget and never
	// lets a key exceed MaxEncryptionsPerKey.
	ReserveChunk uint64
	// PruneGrace is how long a data key must have been retired before
	// Prune may remove it: an engine may seal a block with the current
	// key and write it to its file a moment later, after the key was
	// retired. Default DefaultPruneGrace; negative means none, which is
	// safe only while no database uses the registry (the lightning CLI
	// prunes with the database closed).
	PruneGrace time.Duration

	// Now is the clock for key creation times and rotation ages; default
	// time.Now.
	Now func() time.Time
	// Logger receives a line per rotation and registry write failure. Key
	// material is never logged. Default discards.
	Logger *slog.Logger
}

// EnsureDefaults fills in every zero field with its default and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.RotateEvery == 0 {
		o.RotateEvery = DefaultRotateEvery
	}
	if o.MaxEncryptionsPerKey == 0 {
		o.MaxEncryptionsPerKey = NISTLimit
	}
	if o.ReserveChunk == 0 {
		o.ReserveChunk = min(DefaultReserveChunk, o.MaxEncryptionsPerKey)
	}
	if o.PruneGrace == 0 {
		o.PruneGrace = DefaultPruneGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Validate reports the first option that cannot work; the error matches
// interfaces.ErrInvalidArgument.
func (o *Options) Validate() error {
	var why string
	switch {
	case o.Path == "":
		why = "Path is empty"
	case o.Master == nil:
		why = "Master is nil"
	case o.MaxEncryptionsPerKey > NISTLimit:
		why = fmt.Sprintf("MaxEncryptionsPerKey %d exceeds the NIST limit of 2^32 random-nonce encryptions per key", o.MaxEncryptionsPerKey)
	case o.ReserveChunk > o.MaxEncryptionsPerKey:
		why = fmt.Sprintf("ReserveChunk %d exceeds MaxEncryptionsPerKey %d", o.ReserveChunk, o.MaxEncryptionsPerKey)
	}
	for i, p := range o.OldMasters {
		if p == nil && why == "" {
			why = fmt.Sprintf("OldMasters[%d] is nil", i)
		}
	}
	if why != "" {
		return fmt.Errorf("lightning/aesgcm: options: %s: %w", why, interfaces.ErrInvalidArgument)
	}
	return nil
}
