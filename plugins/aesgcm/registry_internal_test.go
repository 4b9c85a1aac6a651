package aesgcm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

func sampleRegistry() *registry {
	r := &registry{generation: 7}
	copy(r.id[:], "registry id 0123")
	copy(r.salt[:], "salt salt salt s")
	for i := 1; i <= 3; i++ {
		rec := keyRecord{id: KeyID(i * 2), created: int64(i) * 1e9, reserved: uint64(i) * 1000}
		if i < 3 {
			rec.retired = int64(i)*1e9 + 5
		}
		rec.material = sha256.Sum256([]byte{byte(i)})
		r.keys = append(r.keys, rec)
	}
	return r
}

var testKEK = bytes.Repeat([]byte{0x42}, KeySize)

func TestRegistryRoundTrip(t *testing.T) {
	r := sampleRegistry()
	data, err := r.encode(testKEK)
	require.NoError(t, err)
	require.Len(t, data, registryHeaderLen+bodyHeaderLen+3*keyRecordLen+tagLen+registryCRCLen)
	require.Equal(t, registryMagic, string(data[:8]))
	h, err := decodeRegistryHeader(data, "KEYS")
	require.NoError(t, err)
	got, err := openBody(h, testKEK, "KEYS")
	require.NoError(t, err)
	require.Equal(t, r, got)
	for _, k := range r.keys {
		require.False(t, bytes.Contains(data, k.material[:]), "key material in the clear")
	}
	// Another KEK passes the CRC but not authentication.
	_, err = openBody(h, bytes.Repeat([]byte{0x43}, KeySize), "KEYS")
	require.ErrorIs(t, err, errWrongKEK)
}

// TestRegistryDamage: every single-bit flip is caught, by the CRC (a
// CorruptionError), never mistaken for a wrong key or accepted.
func TestRegistryDamage(t *testing.T) {
	data, err := sampleRegistry().encode(testKEK)
	require.NoError(t, err)
	for bit := 0; bit < len(data)*8; bit++ {
		bad := bytes.Clone(data)
		bad[bit/8] ^= 1 << (bit % 8)
		h, err := decodeRegistryHeader(bad, "KEYS")
		if err == nil {
			_, err = openBody(h, testKEK, "KEYS")
		}
		require.Error(t, err, "bit %d", bit)
		require.True(t, interfaces.IsCorruption(err), "bit %d: %v", bit, err)
	}
	for n := 0; n < len(data); n += 7 {
		_, err := decodeRegistryHeader(data[:n], "KEYS")
		require.ErrorIs(t, err, interfaces.ErrCorrupt, "truncated to %d", n)
	}
}

// withCRC recomputes the checksum of a hand-edited registry file.
func withCRC(data []byte) []byte {
	end := len(data) - registryCRCLen
	binary.LittleEndian.PutUint32(data[end:], crc32Of(data[:end]))
	return data
}

func TestRegistryHeaderChecks(t *testing.T) {
	data, err := sampleRegistry().encode(testKEK)
	require.NoError(t, err)
	tests := []struct {
		name string
		edit func([]byte) []byte
		want error
	}{
		{"version 2", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[8:], 2); return withCRC(b) }, interfaces.ErrIncompatible},
		{"flags", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[10:], 1); return withCRC(b) }, interfaces.ErrIncompatible},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return withCRC(b) }, interfaces.ErrCorrupt},
		{"length", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 5); return withCRC(b) }, interfaces.ErrCorrupt},
		{"extra byte", func(b []byte) []byte { return withCRC(append(b, 0)) }, interfaces.ErrCorrupt},
		// Authenticated header fields: a rewritten generation passes the CRC
		// but fails authentication.
		{"generation", func(b []byte) []byte { b[16]++; return withCRC(b) }, errWrongKEK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := tt.edit(bytes.Clone(data))
			h, err := decodeRegistryHeader(bad, "KEYS")
			if err == nil {
				_, err = openBody(h, testKEK, "KEYS")
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestDecodeBodyChecks(t *testing.T) {
	good := func() []byte {
		var b []byte
		b = binary.LittleEndian.AppendUint32(b, 2)
		b = binary.LittleEndian.AppendUint32(b, 2)
		for id := 1; id <= 2; id++ {
			b = binary.LittleEndian.AppendUint32(b, uint32(id))
			b = binary.LittleEndian.AppendUint32(b, 0)
			b = binary.LittleEndian.AppendUint64(b, 1)
			retired := uint64(0)
			if id == 1 {
				retired = 2
			}
			b = binary.LittleEndian.AppendUint64(b, retired)
			b = binary.LittleEndian.AppendUint64(b, 10)
			b = append(b, make([]byte, KeySize)...)
		}
		return b
	}
	_, err := decodeBody(registryHeader{}, good(), "KEYS")
	require.NoError(t, err)
	tests := []struct {
		name string
		edit func([]byte)
	}{
		{"current is not the newest", func(b []byte) { b[0] = 1 }},
		{"zero keys", func(b []byte) { binary.LittleEndian.PutUint32(b[4:], 0) }},
		{"count mismatch", func(b []byte) { binary.LittleEndian.PutUint32(b[4:], 3) }},
		{"id 0", func(b []byte) { binary.LittleEndian.PutUint32(b[8:], 0) }},
		{"ids out of order", func(b []byte) { binary.LittleEndian.PutUint32(b[8:], 5) }},
		{"flags", func(b []byte) { b[12] = 1 }},
		{"reserved past the NIST limit", func(b []byte) { binary.LittleEndian.PutUint64(b[8+24:], NISTLimit+1) }},
		{"current key retired", func(b []byte) { binary.LittleEndian.PutUint64(b[8+64+16:], 9) }},
		{"old key not retired", func(b []byte) { binary.LittleEndian.PutUint64(b[8+16:], 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := good()
			tt.edit(b)
			_, err := decodeBody(registryHeader{}, b, "KEYS")
			require.ErrorIs(t, err, interfaces.ErrCorrupt)
		})
	}
}

// FuzzRegistryFile decodes arbitrary registry files under a fixed KEK:
// never a panic, errors are corruption, incompatibility or a wrong key,
// and what decodes re-encodes to a file that decodes the same.
func FuzzRegistryFile(f *testing.F) {
	data, err := sampleRegistry().encode(testKEK)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)-1])
	f.Add([]byte(registryMagic))
	f.Add([]byte{})
	one := &registry{keys: []keyRecord{{id: 1, reserved: 5}}}
	if d, err := one.encode(testKEK); err == nil {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := decodeRegistryHeader(data, "KEYS")
		if err == nil {
			var r *registry
			r, err = openBody(h, testKEK, "KEYS")
			if err == nil {
				again, err := r.encode(testKEK)
				if err != nil {
					t.Fatalf("decoded registry does not encode: %v", err)
				}
				h2, err := decodeRegistryHeader(again, "KEYS")
				if err != nil {
					t.Fatal(err)
				}
				r2, err := openBody(h2, testKEK, "KEYS")
				if err != nil {
					t.Fatal(err)
				}
				if len(r2.keys) != len(r.keys) || r2.generation != r.generation {
					t.Fatalf("round trip changed the registry")
				}
				return
			}
		}
		if !interfaces.IsCorruption(err) && !errors.Is(err, interfaces.ErrIncompatible) && !errors.Is(err, errWrongKEK) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzRegistryBody decodes arbitrary authenticated bodies: never a panic,
// only corruption errors, and a body that decodes re-encodes to itself.
func FuzzRegistryBody(f *testing.F) {
	r := sampleRegistry()
	data, err := r.encode(testKEK)
	if err != nil {
		f.Fatal(err)
	}
	h, _ := decodeRegistryHeader(data, "KEYS")
	aead, _ := kekAEAD(testKEK)
	body, err := aead.Open(nil, h.nonce[:], h.sealed, h.ad)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add(body[:8])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeBody(registryHeader{}, body, "KEYS")
		if err != nil {
			if !interfaces.IsCorruption(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(r.keys) == 0 || r.keys[len(r.keys)-1].retired != 0 {
			t.Fatalf("decoded registry breaks its invariants")
		}
	})
}

// TestCloseZeroesKeyMaterial: the last Close zeroes every data key and the
// KEK the keyring held; an earlier handle's Close zeroes nothing.
func TestCloseZeroesKeyMaterial(t *testing.T) {
	c, err := Open(Options{FS: vfs.NewMem(), Path: "KEYS", Master: StaticKey(testKEK)})
	require.NoError(t, err)
	_, err = c.Seal(nil, []byte("x"), nil)
	require.NoError(t, err)
	_, err = c.RotateDataKey()
	require.NoError(t, err)
	var bufs []*[KeySize]byte
	for _, k := range c.kr.set.Load().order {
		bufs = append(bufs, k.material)
	}
	bufs = append(bufs, c.kr.kek)
	require.Len(t, bufs, 3)
	other, err := c.Share()
	require.NoError(t, err)
	require.NoError(t, c.Close())
	for _, b := range bufs {
		require.NotEqual(t, [KeySize]byte{}, *b, "zeroed while a handle is open")
	}
	require.NoError(t, other.Close())
	for _, b := range bufs {
		require.Equal(t, [KeySize]byte{}, *b, "not zeroed by the last Close")
	}
	require.Empty(t, c.kr.sec.bufs)
}
