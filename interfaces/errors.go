package interfaces

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// The sentinel errors of every contract, grouped by what went wrong. Parts
// return them wrapped with %w ("lsm: table 000012.sst: %w"), exactly once
// per layer, and callers test them with errors.Is. Each has a stable
// ErrorCode so the same test holds across gRPC (see CodeOf and ErrorFromCode).

// Lookups.
var (
	// ErrNotFound is returned by Storage.Get when the key has no version at
	// or below the read ts, or its newest such version is a tombstone.
	ErrNotFound = errors.New("lightning: not found")
)

// Lifecycle and arguments.
var (
	// ErrClosed is returned by every method of a part, and of its
	// iterators, called after the part's Close.
	ErrClosed = errors.New("lightning: closed")
	// ErrInvalidArgument is returned when an argument breaks the contract:
	// a key longer than MaxKeySize, a value longer than MaxValueSize, ts 0
	// in an entry, an entry kind that is neither KindSet nor KindDelete, an
	// inverted range. Nothing is changed.
	ErrInvalidArgument = errors.New("lightning: invalid argument")
	// ErrUnsupported is returned by an operation behind a Capability the
	// part does not claim. Nothing is changed.
	ErrUnsupported = errors.New("lightning: unsupported operation")
)

// Integrity. A corruption is reported as a *CorruptionError, which names the
// file and offset and matches ErrCorrupt; IsCorruption recognises it.
var (
	// ErrCorrupt is returned when stored or received bytes fail a checksum
	// or a structural check: a bad block, a truncated record, a codec
	// stream that does not decode. Never a panic, never a wrong answer.
	ErrCorrupt = errors.New("lightning: corrupt data")
	// ErrDecrypt is returned by Cipher.Open when a sealed block fails
	// authentication: a flipped bit, wrong additional data (a block moved
	// or swapped on disk), or a block sealed by another key with the same
	// id. An engine that meets it reading its own files reports a
	// *CorruptionError wrapping it.
	ErrDecrypt = errors.New("lightning: decryption failed")
	// ErrKeyMismatch is returned when the key material given cannot be
	// right: an envelope names a key id the cipher does not hold, or a
	// master key fails to unwrap the key registry. It is returned before
	// any file is modified.
	ErrKeyMismatch = errors.New("lightning: encryption key mismatch")
)

// Compatibility and durability.
var (
	// ErrIncompatible is returned on open when a database or file was made
	// by an incompatible engine, format version, codec or cipher, and when
	// a part speaks a contract version the caller does not.
	ErrIncompatible = errors.New("lightning: incompatible")
	// ErrFailStopped is returned by writes after a write or sync error: the
	// part (or the DB) no longer knows what reached the disk, so it refuses
	// further writes until it is reopened and recovers. Reads keep working.
	ErrFailStopped = errors.New("lightning: fail-stopped after an I/O error; reopen to recover")
)

// ErrorCode is the stable number of a sentinel error. Codes never change
// meaning; new ones are only appended.
type ErrorCode uint32

// The codes. CodeUnknown covers every error that is not one of the
// sentinels; its message still crosses the boundary.
const (
	CodeOK               ErrorCode = 0
	CodeUnknown          ErrorCode = 1
	CodeNotFound         ErrorCode = 2
	CodeClosed           ErrorCode = 3
	CodeInvalidArgument  ErrorCode = 4
	CodeUnsupported      ErrorCode = 5
	CodeCorrupt          ErrorCode = 6
	CodeDecrypt          ErrorCode = 7
	CodeKeyMismatch      ErrorCode = 8
	CodeIncompatible     ErrorCode = 9
	CodeFailStopped      ErrorCode = 10
	CodeCanceled         ErrorCode = 11
	CodeDeadlineExceeded ErrorCode = 12
)

// codeTable maps codes to sentinels. Order matters in CodeOf: the first
// match wins, and a *CorruptionError wrapping ErrDecrypt reports CodeCorrupt
// because corruption is what the caller has to act on.
var codeTable = []struct {
	code ErrorCode
	err  error
}{
	{CodeNotFound, ErrNotFound},
	{CodeClosed, ErrClosed},
	{CodeInvalidArgument, ErrInvalidArgument},
	{CodeUnsupported, ErrUnsupported},
	{CodeCorrupt, ErrCorrupt},
	{CodeDecrypt, ErrDecrypt},
	{CodeKeyMismatch, ErrKeyMismatch},
	{CodeIncompatible, ErrIncompatible},
	{CodeFailStopped, ErrFailStopped},
	{CodeCanceled, context.Canceled},
	{CodeDeadlineExceeded, context.DeadlineExceeded},
}

// CodeOf returns the code of the first sentinel that err matches, CodeOK for
// nil and CodeUnknown otherwise.
func CodeOf(err error) ErrorCode {
	if err == nil {
		return CodeOK
	}
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return CodeUnknown
}

// Sentinel returns the sentinel error for code, or nil for CodeOK and codes
// that have none (CodeUnknown, or a code newer than this package).
func (c ErrorCode) Sentinel() error {
	for _, e := range codeTable {
		if e.code == c {
			return e.err
		}
	}
	return nil
}

// String names the code.
func (c ErrorCode) String() string {
	switch c {
	case CodeOK:
		return "ok"
	case CodeUnknown:
		return "unknown"
	}
	if s := c.Sentinel(); s != nil {
		return s.Error()
	}
	return "code(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// ErrorFromCode rebuilds an error received from across a process boundary:
// its message is msg, and errors.Is(err, sentinel) holds for the sentinel of
// code. Corruption keeps its file and offset when they are given.
func ErrorFromCode(code ErrorCode, msg string, file string, offset int64) error {
	if code == CodeOK {
		return nil
	}
	if code == CodeCorrupt && (file != "" || offset != 0) {
		return &CorruptionError{File: file, Offset: offset, Reason: msg}
	}
	return &remoteError{code: code, msg: msg}
}

// remoteError is an error that came across a process boundary.
type remoteError struct {
	code ErrorCode
	msg  string
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Is(target error) bool {
	s := e.code.Sentinel()
	return s != nil && s == target
}

// CorruptionError reports corrupt data and where it lies. It matches
// ErrCorrupt with errors.Is, and unwraps to its cause (for example
// ErrDecrypt, or a codec's error).
type CorruptionError struct {
	// File is the path of the damaged file, relative to the part's
	// directory where that is clearer; empty when the data did not come
	// from a file.
	File string
	// Offset is the byte offset of the damaged record, block or page in
	// File (-1 when unknown).
	Offset int64
	// Reason says what check failed ("checksum mismatch", "key order").
	Reason string
	// Err is the underlying cause, or nil.
	Err error
}

// Corruptf returns a *CorruptionError for file at offset with a formatted
// reason. A %w verb in format becomes the error's cause.
func Corruptf(file string, offset int64, format string, args ...any) *CorruptionError {
	err := fmt.Errorf(format, args...)
	var cause error
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		cause = u.Unwrap()
	case interface{ Unwrap() []error }:
		cause = errors.Join(u.Unwrap()...)
	}
	return &CorruptionError{File: file, Offset: offset, Reason: err.Error(), Err: cause}
}

func (e *CorruptionError) Error() string {
	switch {
	case e.File == "" && e.Offset < 0:
		return "lightning: corrupt data: " + e.Reason
	case e.File == "":
		return fmt.Sprintf("lightning: corrupt data at offset %d: %s", e.Offset, e.Reason)
	case e.Offset < 0:
		return fmt.Sprintf("lightning: corrupt data in %s: %s", e.File, e.Reason)
	}
	return fmt.Sprintf("lightning: corrupt data in %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Is makes every CorruptionError match ErrCorrupt.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the cause.
func (e *CorruptionError) Unwrap() error { return e.Err }

// IsCorruption reports whether err says that data is corrupt. Failed
// authentication (ErrDecrypt) counts: to the reader, a tampered block and a
// rotted one are the same problem.
func IsCorruption(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrDecrypt)
}
