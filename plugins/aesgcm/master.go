package aesgcm

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/lightningdb/lightning/interfaces"
)

// KeyProvider supplies a master key. Implementations read the key when
// asked, so that a key file or variable can change between calls (a
// rotation swaps it); they never log it.
type KeyProvider interface {
	// MasterKey returns a fresh copy of the KeySize-byte master key; the
	// caller zeroes it when done. A source that holds no key (a missing
	// file or variable) returns an error matching
	// interfaces.ErrKeyMismatch; one that holds something other than a
	// key, an error matching interfaces.ErrInvalidArgument.
	MasterKey() ([]byte, error)
	// String names the source, never the key ("file /etc/db.key").
	String() string
}

// KeyFile reads the master key from the file at path on the operating
// system's file system, each time it is asked. The file holds the key as
// 64 hex digits or 44 base64 characters (surrounding whitespace ignored),
// or as exactly 32 raw bytes; see ParseKey. Keep it readable by the
// database's user only.
func KeyFile(path string) KeyProvider { return keyFile(path) }

type keyFile string

func (f keyFile) String() string { return "file " + string(f) }

func (f keyFile) MasterKey() ([]byte, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return nil, fmt.Errorf("lightning/aesgcm: master key %s: %w: %w", f.String(), interfaces.ErrKeyMismatch, err)
	}
	defer clear(b)
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("lightning/aesgcm: master key %s: %w", f.String(), err)
	}
	return k, nil
}

// KeyEnv reads the master key from the environment variable name, each
// time it is asked, as 64 hex digits or 44 base64 characters.
func KeyEnv(name string) KeyProvider { return keyEnv(name) }

type keyEnv string

func (e keyEnv) String() string { return "environment variable " + string(e) }

func (e keyEnv) MasterKey() ([]byte, error) {
	v, ok := os.LookupEnv(string(e))
	if !ok || v == "" {
		return nil, fmt.Errorf("lightning/aesgcm: master key: %s is not set: %w", e.String(), interfaces.ErrKeyMismatch)
	}
	b := []byte(v)
	defer clear(b)
	if len(b) == KeySize {
		// Raw bytes cannot be told from text in a variable; only the
		// text forms are accepted there.
		return nil, fmt.Errorf("lightning/aesgcm: master key: %s holds %d characters, not 64 hex digits or 44 base64 characters: %w",
			e.String(), len(b), interfaces.ErrInvalidArgument)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("lightning/aesgcm: master key %s: %w", e.String(), err)
	}
	return k, nil
}

// StaticKey returns a provider of a key held in memory. It keeps its own
// copy of key (the caller may zero key afterwards) for as long as the
// provider lives; prefer KeyFile or KeyEnv, which keep nothing.
func StaticKey(key []byte) KeyProvider { return &staticKey{key: bytes.Clone(key)} }

type staticKey struct{ key []byte }

func (s *staticKey) String() string { return "static key" }

func (s *staticKey) MasterKey() ([]byte, error) {
	if len(s.key) != KeySize {
		return nil, fmt.Errorf("lightning/aesgcm: static master key of %d bytes, want %d: %w", len(s.key), KeySize, interfaces.ErrInvalidArgument)
	}
	return bytes.Clone(s.key), nil
}

// KeyFunc adapts a function to a KeyProvider named name, for a key
// management service or a secret store. fn must return a fresh slice the
// cipher may zero.
func KeyFunc(name string, fn func() ([]byte, error)) KeyProvider { return &keyFunc{name: name, fn: fn} }

type keyFunc struct {
	name string
	fn   func() ([]byte, error)
}

func (k *keyFunc) String() string { return k.name }

func (k *keyFunc) MasterKey() ([]byte, error) {
	b, err := k.fn()
	if err != nil {
		return nil, fmt.Errorf("lightning/aesgcm: master key %s: %w", k.name, err)
	}
	if len(b) != KeySize {
		clear(b)
		return nil, fmt.Errorf("lightning/aesgcm: master key %s has %d bytes, want %d: %w", k.name, len(b), KeySize, interfaces.ErrInvalidArgument)
	}
	return b, nil
}

// ParseKey decodes a key written as 64 hex digits or 44 base64 characters
// (standard alphabet, padded), with surrounding whitespace ignored, or as
// exactly KeySize raw bytes. The forms cannot be confused: the text forms
// are longer than KeySize bytes. Anything else is an error matching
// interfaces.ErrInvalidArgument; the error never quotes the input.
func ParseKey(text []byte) ([]byte, error) {
	if len(text) == KeySize {
		return bytes.Clone(text), nil
	}
	s := bytes.TrimSpace(text)
	switch len(s) {
	case hex.EncodedLen(KeySize):
		k := make([]byte, KeySize)
		if _, err := hex.Decode(k, s); err == nil {
			return k, nil
		}
		clear(k)
	case base64.StdEncoding.EncodedLen(KeySize):
		k := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		if n, err := base64.StdEncoding.Decode(k, s); err == nil && n == KeySize {
			return k[:KeySize], nil
		}
		clear(k)
	}
	return nil, fmt.Errorf("lightning/aesgcm: a key is 64 hex digits, 44 base64 characters or %d raw bytes; got %d bytes that are none of these: %w",
		KeySize, len(text), interfaces.ErrInvalidArgument)
}

// GenerateKey returns a new random key from crypto/rand, for a master key.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("lightning/aesgcm: generate key: %w", err)
	}
	return k, nil
}
