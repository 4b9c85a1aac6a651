package ordered

import (
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
)

// Options configure New. The zero value is valid: a durable store named
// "ordered".
type Options struct {
	// Name is the Storage's Descriptor.Name; default "ordered". The core
	// records it in the database and refuses to reopen the database with a
	// storage of another name, so a third party wrapping bbolt would say
	// "bbolt".
	Name string

	// Version is the Descriptor.Version; default DefaultVersion.
	Version string

	// Ephemeral says the Store does not keep data across a reopen (an
	// in-memory store) or should not be trusted to. The Storage then does
	// not claim interfaces.CapDurable, never calls Sync, and New empties the
	// store, so a reopened instance starts empty with DurableTs 0 as the
	// contract requires of an ephemeral part. Leave it false for a store
	// that persists: New never deletes data of a durable store except the
	// versions above DurableTs.
	Ephemeral bool

	// BatchOps bounds the ops of each Write issued by Compact, crash
	// recovery and the emptying of an ephemeral store, so that a large
	// cleanup never builds one huge transaction; default 1024.
	BatchOps int

	// BatchBytes bounds the key bytes of each such Write; default 4 MiB.
	BatchBytes int
}

// DefaultVersion is the Descriptor.Version reported when Options.Version is
// empty.
const DefaultVersion = "1.0.0"

// EnsureDefaults fills the zero fields of o with defaults and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.Name == "" {
		o.Name = "ordered"
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.BatchOps == 0 {
		o.BatchOps = 1024
	}
	if o.BatchBytes == 0 {
		o.BatchBytes = 4 << 20
	}
	return o
}

// Validate reports an error matching interfaces.ErrInvalidArgument when o
// cannot be used.
func (o *Options) Validate() error {
	if o.BatchOps < 0 {
		return fmt.Errorf("lightning/ordered: options: BatchOps %d is negative: %w", o.BatchOps, interfaces.ErrInvalidArgument)
	}
	if o.BatchBytes < 0 {
		return fmt.Errorf("lightning/ordered: options: BatchBytes %d is negative: %w", o.BatchBytes, interfaces.ErrInvalidArgument)
	}
	return nil
}
