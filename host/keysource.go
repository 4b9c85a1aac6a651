package host

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/lightningdb/lightning/interfaces"
)

// readKey reads the key material a KeySource names. The caller clears it
// once the cipher is made.
func (c *Config) readKey(k KeySource) ([]byte, error) {
	var raw []byte
	encoding := k.Encoding
	switch {
	case k.Env != "":
		v, ok := os.LookupEnv(k.Env)
		if !ok || v == "" {
			return nil, fmt.Errorf("lightning/host: cipher key: environment variable %s is not set: %w", k.Env, interfaces.ErrKeyMismatch)
		}
		raw = []byte(v)
		if encoding == "" {
			encoding = "hex"
		}
	case k.File != "":
		b, err := os.ReadFile(c.path(k.File))
		if err != nil {
			return nil, fmt.Errorf("lightning/host: cipher key: %w", err)
		}
		raw = b
		if encoding == "" {
			encoding = "raw"
		}
	default:
		return nil, fmt.Errorf("lightning/host: cipher key: no source: %w", interfaces.ErrInvalidArgument)
	}
	key, err := decodeKey(raw, encoding)
	if encoding != "raw" {
		// The encoded form is a copy of the key: wipe it.
		clear(raw)
	}
	if err != nil {
		return nil, err
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("lightning/host: cipher key is empty: %w", interfaces.ErrKeyMismatch)
	}
	return key, nil
}

// decodeKey decodes key material written in encoding; text encodings may
// carry surrounding whitespace (a trailing newline in a file).
func decodeKey(raw []byte, encoding string) ([]byte, error) {
	switch encoding {
	case "raw":
		return raw, nil
	case "hex":
		s := bytes.TrimSpace(raw)
		out := make([]byte, hex.DecodedLen(len(s)))
		if _, err := hex.Decode(out, s); err != nil {
			return nil, fmt.Errorf("lightning/host: cipher key is not hex: %w", interfaces.ErrKeyMismatch)
		}
		return out, nil
	case "base64":
		s := bytes.TrimSpace(raw)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(out, s)
		if err != nil {
			return nil, fmt.Errorf("lightning/host: cipher key is not base64: %w", interfaces.ErrKeyMismatch)
		}
		return out[:n], nil
	}
	return nil, fmt.Errorf("lightning/host: cipher key encoding %q: %w", encoding, interfaces.ErrInvalidArgument)
}
