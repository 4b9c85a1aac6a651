package aesgcm_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/vfs"
)

// blockAD is additional data as engines build it: a file number and an
// offset.
func blockAD(file, offset uint64) []byte {
	ad := binary.LittleEndian.AppendUint64(nil, file)
	return binary.LittleEndian.AppendUint64(ad, offset)
}

func newRegistryCipher(t *testing.T, fs vfs.FS, master []byte, tune ...func(*aesgcm.Options)) *aesgcm.Cipher {
	t.Helper()
	o := aesgcm.Options{FS: fs, Path: "db/KEYS", Master: aesgcm.StaticKey(master)}
	for _, fn := range tune {
		fn(&o)
	}
	c, err := aesgcm.Open(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestEnvelopeLayout(t *testing.T) {
	c := newRegistryCipher(t, vfs.NewMem(), testKey(1))
	p := []byte("lightning envelope")
	sealed, err := c.Seal([]byte("prefix"), p, nil)
	require.NoError(t, err)
	require.Equal(t, "prefix", string(sealed[:6]))
	env := sealed[6:]
	require.Len(t, env, len(p)+aesgcm.Overhead)
	require.Equal(t, byte(1), env[0], "version")
	require.Equal(t, uint32(1), binary.LittleEndian.Uint32(env[1:5]), "the registry's first key is 1")
	id, err := aesgcm.KeyIDOf(env)
	require.NoError(t, err)
	require.Equal(t, aesgcm.KeyID(1), id)
	require.NotContains(t, string(env), string(p))
}

func TestKeyIDOf(t *testing.T) {
	valid := append([]byte{1, 7, 0, 0, 0}, make([]byte, aesgcm.Overhead-5)...)
	tests := []struct {
		name    string
		in      []byte
		want    aesgcm.KeyID
		wantErr error
	}{
		{"nil", nil, 0, interfaces.ErrDecrypt},
		{"one short", valid[:aesgcm.Overhead-1], 0, interfaces.ErrDecrypt},
		{"exact", valid, 7, nil},
		{"big id", append([]byte{1, 0xff, 0xff, 0xff, 0xff}, make([]byte, 40)...), 0xffffffff, nil},
		{"version 0", append([]byte{0}, valid[1:]...), 0, interfaces.ErrDecrypt},
		{"version 2", append([]byte{2}, valid[1:]...), 0, interfaces.ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := aesgcm.KeyIDOf(tt.in)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, id)
		})
	}
}

// TestTamperEveryBit flips every bit of a sealed sample block in turn:
// every flip fails to open, with ErrDecrypt, or ErrKeyMismatch where the
// bit is in the key id, and returns no bytes.
func TestTamperEveryBit(t *testing.T) {
	for _, mk := range []struct {
		name string
		c    func(t *testing.T) *aesgcm.Cipher
	}{
		{"registry", func(t *testing.T) *aesgcm.Cipher { return newRegistryCipher(t, vfs.NewMem(), testKey(1)) }},
		{"new", func(t *testing.T) *aesgcm.Cipher {
			c, err := aesgcm.New(testKey(1))
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			return c
		}},
	} {
		t.Run(mk.name, func(t *testing.T) {
			c := mk.c(t)
			ad := blockAD(12, 8192)
			p := bytes.Repeat([]byte("sample block "), 20)
			sealed, err := c.Seal(nil, p, ad)
			require.NoError(t, err)
			dst := []byte("dst")
			for bit := 0; bit < len(sealed)*8; bit++ {
				bad := bytes.Clone(sealed)
				bad[bit/8] ^= 1 << (bit % 8)
				out, err := c.Open(dst, bad, ad)
				require.Error(t, err, "bit %d", bit)
				if byteIdx := bit / 8; byteIdx >= 1 && byteIdx < 5 {
					require.True(t, interfaces.IsCorruption(err) || errorsIsMismatch(err), "bit %d: %v", bit, err)
				} else {
					require.ErrorIs(t, err, interfaces.ErrDecrypt, "bit %d", bit)
				}
				require.Equal(t, "dst", string(out), "bit %d: bytes returned on failure", bit)
			}
			out, err := c.Open(nil, sealed, ad)
			require.NoError(t, err)
			require.Equal(t, p, out)
		})
	}
}

func errorsIsMismatch(err error) bool { return errors.Is(err, interfaces.ErrKeyMismatch) }

// TestSwapBlocks moves sealed blocks between offsets and between files
// (their additional data): both fail.
func TestSwapBlocks(t *testing.T) {
	c := newRegistryCipher(t, vfs.NewMem(), testKey(1))
	type block struct {
		ad, sealed []byte
	}
	var blocks []block
	for _, at := range [][2]uint64{{1, 0}, {1, 4096}, {2, 0}, {2, 4096}} {
		ad := blockAD(at[0], at[1])
		s, err := c.Seal(nil, bytes.Repeat([]byte{byte(at[1])}, 4096), ad)
		require.NoError(t, err)
		blocks = append(blocks, block{ad, s})
	}
	for i, a := range blocks {
		for j, b := range blocks {
			_, err := c.Open(nil, a.sealed, b.ad)
			if i == j {
				require.NoError(t, err)
				continue
			}
			require.ErrorIs(t, err, interfaces.ErrDecrypt, "block %d opened as block %d", i, j)
		}
	}
}

// TestHeaderIsAuthenticated relabels a block with the id of another key
// the cipher holds: the header is part of the additional data, and the
// key differs, so it fails with ErrDecrypt.
func TestHeaderIsAuthenticated(t *testing.T) {
	c := newRegistryCipher(t, vfs.NewMem(), testKey(1))
	s1, err := c.Seal(nil, []byte("under key 1"), nil)
	require.NoError(t, err)
	id, err := c.RotateDataKey()
	require.NoError(t, err)
	require.Equal(t, aesgcm.KeyID(2), id)
	s2, err := c.Seal(nil, []byte("under key 2"), nil)
	require.NoError(t, err)
	s1[1], s2[1] = 2, 1
	_, err = c.Open(nil, s1, nil)
	require.ErrorIs(t, err, interfaces.ErrDecrypt)
	_, err = c.Open(nil, s2, nil)
	require.ErrorIs(t, err, interfaces.ErrDecrypt)
}

// FuzzOpen feeds arbitrary envelopes to Open: it never panics, never
// returns bytes with an error, and whatever opens re-seals and opens to
// the same bytes.
func FuzzOpen(f *testing.F) {
	c, err := aesgcm.New(testKey(0))
	if err != nil {
		f.Fatal(err)
	}
	good, err := c.Seal(nil, []byte("fuzz seed"), []byte("ad"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, []byte("ad"))
	f.Add(good[:len(good)-1], []byte("ad"))
	f.Add(good, []byte("other"))
	f.Add([]byte{}, []byte(nil))
	f.Add(make([]byte, aesgcm.Overhead), []byte(nil))
	f.Add(append([]byte{2}, good[1:]...), []byte("ad"))
	f.Fuzz(func(t *testing.T, sealed, ad []byte) {
		out, err := c.Open([]byte("d"), sealed, ad)
		if err != nil {
			if string(out) != "d" {
				t.Fatalf("Open failed (%v) but returned %d bytes", err, len(out)-1)
			}
			if !interfaces.IsCorruption(err) && !errorsIsMismatch(err) {
				t.Fatalf("Open failed with %v, neither ErrDecrypt nor ErrKeyMismatch", err)
			}
			return
		}
		again, err := c.Seal(nil, out[1:], ad)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Open(nil, again, ad)
		if err != nil || !bytes.Equal(back, out[1:]) {
			t.Fatalf("re-sealed block does not round-trip: %v", err)
		}
	})
}
