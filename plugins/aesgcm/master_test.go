package aesgcm_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
)

func TestParseKey(t *testing.T) {
	key := testKey(9)
	h := hex.EncodeToString(key)
	b64 := base64.StdEncoding.EncodeToString(key)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"raw", string(key), true},
		{"hex", h, true},
		{"hex upper", strings.ToUpper(h), true},
		{"hex with newline", h + "\n", true},
		{"hex with spaces", "  " + h + " \r\n", true},
		{"base64", b64, true},
		{"base64 with newline", b64 + "\n", true},
		{"empty", "", false},
		{"short hex", h[:62], false},
		{"long hex", h + "00", false},
		{"not hex", strings.Repeat("zz", 32), false},
		{"base64 of 31 bytes", base64.StdEncoding.EncodeToString(key[:31]) + "AA==", false},
		{"raw 31", string(key[:31]), false},
		{"raw 33", string(key) + "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := aesgcm.ParseKey([]byte(tt.in))
			if !tt.ok {
				require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
				if len(tt.in) >= 8 {
					require.NotContains(t, err.Error(), tt.in[:8], "the error quotes the input")
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, key, k)
		})
	}
}

func FuzzParseKey(f *testing.F) {
	key := testKey(3)
	f.Add(key)
	f.Add([]byte(hex.EncodeToString(key)))
	f.Add([]byte(base64.StdEncoding.EncodeToString(key) + "\n"))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{' '}, 70))
	f.Fuzz(func(t *testing.T, in []byte) {
		k, err := aesgcm.ParseKey(in)
		if err != nil {
			if !errors.Is(err, interfaces.ErrInvalidArgument) || k != nil {
				t.Fatalf("ParseKey failed with %v and %d bytes", err, len(k))
			}
			return
		}
		if len(k) != aesgcm.KeySize {
			t.Fatalf("ParseKey returned %d bytes", len(k))
		}
	})
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	key := testKey(4)
	path := filepath.Join(dir, "master.key")
	require.NoError(t, os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600))
	p := aesgcm.KeyFile(path)
	require.Equal(t, "file "+path, p.String())
	k, err := p.MasterKey()
	require.NoError(t, err)
	require.Equal(t, key, k)
	// Read on every call: a rotation swaps the file.
	require.NoError(t, os.WriteFile(path, testKey(5), 0o600))
	k, err = p.MasterKey()
	require.NoError(t, err)
	require.Equal(t, testKey(5), k)

	_, err = aesgcm.KeyFile(filepath.Join(dir, "missing")).MasterKey()
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, os.WriteFile(path, []byte("not a key"), 0o600))
	_, err = p.MasterKey()
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}

func TestKeyEnv(t *testing.T) {
	key := testKey(6)
	t.Setenv("LIGHTNING_AESGCM_TEST_KEY", hex.EncodeToString(key))
	p := aesgcm.KeyEnv("LIGHTNING_AESGCM_TEST_KEY")
	k, err := p.MasterKey()
	require.NoError(t, err)
	require.Equal(t, key, k)
	require.NotContains(t, p.String(), hex.EncodeToString(key))
	t.Setenv("LIGHTNING_AESGCM_TEST_KEY", base64.StdEncoding.EncodeToString(key))
	k, err = p.MasterKey()
	require.NoError(t, err)
	require.Equal(t, key, k)
	t.Setenv("LIGHTNING_AESGCM_TEST_KEY", strings.Repeat("a", 32))
	_, err = p.MasterKey()
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument, "32 characters are not taken as a raw key")
	t.Setenv("LIGHTNING_AESGCM_TEST_KEY", "")
	_, err = p.MasterKey()
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	_, err = aesgcm.KeyEnv("LIGHTNING_AESGCM_TEST_UNSET").MasterKey()
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
}

func TestStaticKeyAndKeyFunc(t *testing.T) {
	key := testKey(7)
	p := aesgcm.StaticKey(key)
	clear(key) // the provider kept its own copy
	k, err := p.MasterKey()
	require.NoError(t, err)
	require.Equal(t, testKey(7), k)
	clear(k) // and hands out copies
	k, err = p.MasterKey()
	require.NoError(t, err)
	require.Equal(t, testKey(7), k)

	kms := aesgcm.KeyFunc("kms", func() ([]byte, error) { return testKey(8), nil })
	require.Equal(t, "kms", kms.String())
	k, err = kms.MasterKey()
	require.NoError(t, err)
	require.Equal(t, testKey(8), k)
	_, err = aesgcm.KeyFunc("short", func() ([]byte, error) { return make([]byte, 16), nil }).MasterKey()
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	boom := errors.New("kms unreachable")
	_, err = aesgcm.KeyFunc("down", func() ([]byte, error) { return nil, boom }).MasterKey()
	require.ErrorIs(t, err, boom)

	g, err := aesgcm.GenerateKey()
	require.NoError(t, err)
	require.Len(t, g, aesgcm.KeySize)
	g2, err := aesgcm.GenerateKey()
	require.NoError(t, err)
	require.NotEqual(t, g, g2)
}
