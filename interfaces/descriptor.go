package interfaces

import "slices"

// Kind names the contract a part implements.
type Kind string

// The four contracts.
const (
	KindStorage Kind = "storage"
	KindCache   Kind = "cache"
	KindCodec   Kind = "codec"
	KindCipher  Kind = "cipher"
)

// Contract versions. A contract's version changes only when its meaning
// changes incompatibly; adding an optional capability does not change it.
// The conformance suites check that a part claims the version they test,
// and host refuses to load a plugin whose version it does not speak.
const (
	StorageContractVersion = 1
	CacheContractVersion   = 1
	CodecContractVersion   = 1
	CipherContractVersion  = 1
)

// Capability is an optional behaviour a part claims. The conformance suite
// tests every claimed capability and checks that each unclaimed one answers
// ErrUnsupported.
type Capability string

// Storage capabilities.
const (
	// CapDurable: Flush makes applied versions durable on the part's
	// file system, and a reopened instance reports them through DurableTs.
	// Without it a Storage is ephemeral: Flush returns the applied ts but a
	// reopen starts empty with DurableTs 0.
	CapDurable Capability = "storage.durable"
	// CapDiscard: SetDiscardTs is honoured and Compact drops the versions
	// it allows to drop (see Storage.SetDiscardTs).
	CapDiscard Capability = "storage.discard"
	// CapCompact: Compact reorganises the given range (and garbage-collects
	// it, with CapDiscard).
	CapCompact Capability = "storage.compact"
	// CapCheck: Check verifies the part's on-disk structures.
	CapCheck Capability = "storage.check"
)

// Cache capabilities.
const (
	// CapHotKeys: HotKeys reports the keys of the entries most worth
	// keeping, so a cache can be warmed from them after a restart.
	CapHotKeys Capability = "cache.hotkeys"
)

// Descriptor is how a part describes itself: as data, so it survives a
// process boundary.
type Descriptor struct {
	// Kind is the contract implemented.
	Kind Kind
	// Name identifies the implementation ("lsm", "arc", "zstd"). The core
	// records a storage's name in the database and refuses to open the
	// database with a storage of another name.
	Name string
	// Version is the implementation's own version (semver recommended).
	Version string
	// ContractVersion is the version of the contract implemented, e.g.
	// StorageContractVersion.
	ContractVersion int
	// Capabilities lists the optional behaviours claimed.
	Capabilities []Capability
}

// Has reports whether d claims capability c.
func (d Descriptor) Has(c Capability) bool {
	return slices.Contains(d.Capabilities, c)
}
