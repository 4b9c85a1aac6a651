package aesgcm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// The key registry file (doc.go and docs/FORMATS.md draw it). All integers
// are little-endian:
//
//	header, 68 bytes
//	  0   8  magic "LTNGKEYS"
//	  8   2  format version, uint16 = 1
//	  10  2  flags, uint16 = 0
//	  12  4  sealed body length n, uint32
//	  16  8  generation, uint64: one more than the file it replaced
//	  24  16 registry id: random, fixed when the registry is created
//	  40  16 KEK salt: random, new at every master-key rotation
//	  56  12 nonce: random, new at every write
//	sealed body, n bytes: AES-256-GCM(KEK, nonce, body, ad = header)
//	CRC-32C, 4 bytes, of every byte before it
//
//	KEK = HKDF-SHA256(secret = master key, salt = KEK salt,
//	                  info = "lightning/aesgcm registry v1" || registry id)
//
//	body
//	  0   4  current key id, uint32: the highest id below
//	  4   4  key count k, uint32, 1..maxKeys
//	  8      k key records, ids strictly increasing from 1, 64 bytes each:
//	    0   4  key id, uint32
//	    4   4  flags, uint32 = 0
//	    8   8  created, int64 unix nanoseconds
//	    16  8  retired, int64 unix nanoseconds: when the key stopped being
//	           current; 0 for the current key
//	    24  8  reserved, uint64: encryptions reserved for the key, an upper
//	           bound of the Seals it has done, <= NISTLimit
//	    32  32 key material
//
// The CRC tells damage (ErrCorrupt) from a wrong master key, which passes
// the CRC and fails authentication (ErrKeyMismatch). The body is sealed as
// a whole, with the header as additional data, so no record can be
// changed, moved, dropped or taken from another registry or generation.
const (
	registryMagic     = "LTNGKEYS"
	registryVersion   = 1
	registryHeaderLen = 68
	registryCRCLen    = 4
	bodyHeaderLen     = 8
	keyRecordLen      = 64
	// maxKeys bounds a registry: 65,536 keys of 2^32 encryptions each is
	// far beyond any database's life.
	maxKeys = 1 << 16
	// maxRegistrySize is the largest well-formed registry file.
	maxRegistrySize = registryHeaderLen + bodyHeaderLen + maxKeys*keyRecordLen + tagLen + registryCRCLen
	kekInfo         = "lightning/aesgcm registry v1"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32Of is the CRC-32C of b.
func crc32Of(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// keyRecord is one data key of a registry.
type keyRecord struct {
	id       KeyID
	created  int64
	retired  int64
	reserved uint64
	material [KeySize]byte
}

// registry is the decoded content of a registry file.
type registry struct {
	generation uint64
	id         [16]byte
	salt       [16]byte
	// keys are ordered by id; the last is the current key.
	keys []keyRecord
}

// registryHeader is a registry file's header and the slices of it that
// decoding needs.
type registryHeader struct {
	generation uint64
	id         [16]byte
	salt       [16]byte
	nonce      [nonceLen]byte
	// ad is the header's bytes, the additional data of the body.
	ad []byte
	// sealed is the sealed body.
	sealed []byte
}

// deriveKEK derives the key-encryption key of a registry from the master
// key.
func deriveKEK(master []byte, salt, regID [16]byte) ([]byte, error) {
	kek, err := hkdf.Key(sha256.New, master, salt[:], kekInfo+string(regID[:]), KeySize)
	if err != nil {
		return nil, fmt.Errorf("lightning/aesgcm: derive the key-encryption key: %w", err)
	}
	return kek, nil
}

func kekAEAD(kek []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("lightning/aesgcm: %w", err)
	}
	return cipher.NewGCM(block)
}

// encode seals r under kek with a fresh nonce and returns the file's bytes.
// The caller zeroes them after writing (they hold no plaintext key, but
// there is no reason to leave them around).
func (r *registry) encode(kek []byte) ([]byte, error) {
	if len(r.keys) == 0 || len(r.keys) > maxKeys {
		return nil, fmt.Errorf("lightning/aesgcm: a registry of %d keys: %w", len(r.keys), interfaces.ErrInvalidArgument)
	}
	aead, err := kekAEAD(kek)
	if err != nil {
		return nil, err
	}
	body := make([]byte, bodyHeaderLen, bodyHeaderLen+len(r.keys)*keyRecordLen)
	defer clear(body)
	binary.LittleEndian.PutUint32(body[0:], uint32(r.keys[len(r.keys)-1].id))
	binary.LittleEndian.PutUint32(body[4:], uint32(len(r.keys)))
	for i := range r.keys {
		k := &r.keys[i]
		body = binary.LittleEndian.AppendUint32(body, uint32(k.id))
		body = binary.LittleEndian.AppendUint32(body, 0)
		body = binary.LittleEndian.AppendUint64(body, uint64(k.created))
		body = binary.LittleEndian.AppendUint64(body, uint64(k.retired))
		body = binary.LittleEndian.AppendUint64(body, k.reserved)
		body = append(body, k.material[:]...)
	}
	sealedLen := len(body) + aead.Overhead()
	out := make([]byte, registryHeaderLen, registryHeaderLen+sealedLen+registryCRCLen)
	copy(out, registryMagic)
	binary.LittleEndian.PutUint16(out[8:], registryVersion)
	binary.LittleEndian.PutUint16(out[10:], 0)
	binary.LittleEndian.PutUint32(out[12:], uint32(sealedLen))
	binary.LittleEndian.PutUint64(out[16:], r.generation)
	copy(out[24:40], r.id[:])
	copy(out[40:56], r.salt[:])
	if _, err := rand.Read(out[56:68]); err != nil {
		return nil, fmt.Errorf("lightning/aesgcm: registry nonce: %w", err)
	}
	// GCM forbids additional data that overlaps dst: seal with a copy.
	hdr := [registryHeaderLen]byte(out)
	out = aead.Seal(out, hdr[56:68], body, hdr[:])
	return binary.LittleEndian.AppendUint32(out, crc32Of(out)), nil
}

// decodeRegistryHeader checks a registry file's framing: length, magic,
// version, flags and checksum. Damage is a *interfaces.CorruptionError
// naming path; another format version matches interfaces.ErrIncompatible.
func decodeRegistryHeader(data []byte, path string) (registryHeader, error) {
	var h registryHeader
	if len(data) < registryHeaderLen+tagLen+registryCRCLen {
		return h, interfaces.Corruptf(path, 0, "registry file of %d bytes is too short", len(data))
	}
	if string(data[:8]) != registryMagic {
		return h, interfaces.Corruptf(path, 0, "bad magic: not a key registry")
	}
	n := int64(binary.LittleEndian.Uint32(data[12:]))
	if int64(len(data)) != registryHeaderLen+n+registryCRCLen {
		return h, interfaces.Corruptf(path, 12, "body length %d does not match the file's %d bytes", n, len(data))
	}
	end := len(data) - registryCRCLen
	if crc32Of(data[:end]) != binary.LittleEndian.Uint32(data[end:]) {
		return h, interfaces.Corruptf(path, int64(end), "checksum mismatch")
	}
	if v := binary.LittleEndian.Uint16(data[8:]); v != registryVersion {
		return h, fmt.Errorf("lightning/aesgcm: %s: registry format version %d, this build reads %d: %w",
			path, v, registryVersion, interfaces.ErrIncompatible)
	}
	if f := binary.LittleEndian.Uint16(data[10:]); f != 0 {
		return h, fmt.Errorf("lightning/aesgcm: %s: unknown registry flags %#x: %w", path, f, interfaces.ErrIncompatible)
	}
	h.generation = binary.LittleEndian.Uint64(data[16:])
	copy(h.id[:], data[24:40])
	copy(h.salt[:], data[40:56])
	copy(h.nonce[:], data[56:68])
	h.ad = data[:registryHeaderLen]
	h.sealed = data[registryHeaderLen:end]
	return h, nil
}

// errWrongKEK is openBody's failure to authenticate: the wrong master key
// (the CRC has ruled out damage).
var errWrongKEK = errors.New("lightning/aesgcm: the master key does not open the key registry")

// openBody opens and decodes the body of h under kek. A failed
// authentication is errWrongKEK; a body that authenticates but breaks the
// format (only a bug can write one) is a *interfaces.CorruptionError.
func openBody(h registryHeader, kek []byte, path string) (*registry, error) {
	aead, err := kekAEAD(kek)
	if err != nil {
		return nil, err
	}
	body, err := aead.Open(nil, h.nonce[:], h.sealed, h.ad)
	if err != nil {
		return nil, errWrongKEK
	}
	defer clear(body)
	return decodeBody(h, body, path)
}

func decodeBody(h registryHeader, body []byte, path string) (*registry, error) {
	off := int64(registryHeaderLen)
	if len(body) < bodyHeaderLen {
		return nil, interfaces.Corruptf(path, off, "registry body of %d bytes", len(body))
	}
	current := KeyID(binary.LittleEndian.Uint32(body[0:]))
	count := int(binary.LittleEndian.Uint32(body[4:]))
	if count < 1 || count > maxKeys || len(body) != bodyHeaderLen+count*keyRecordLen {
		return nil, interfaces.Corruptf(path, off, "registry body of %d bytes for %d keys", len(body), count)
	}
	r := &registry{generation: h.generation, id: h.id, salt: h.salt, keys: make([]keyRecord, count)}
	for i := range r.keys {
		rec := body[bodyHeaderLen+i*keyRecordLen:][:keyRecordLen]
		k := &r.keys[i]
		k.id = KeyID(binary.LittleEndian.Uint32(rec[0:]))
		flags := binary.LittleEndian.Uint32(rec[4:])
		k.created = int64(binary.LittleEndian.Uint64(rec[8:]))
		k.retired = int64(binary.LittleEndian.Uint64(rec[16:]))
		k.reserved = binary.LittleEndian.Uint64(rec[24:])
		copy(k.material[:], rec[32:])
		var why string
		switch {
		case k.id == 0:
			why = "key id 0"
		case i > 0 && k.id <= r.keys[i-1].id:
			why = fmt.Sprintf("key id %d after %d", k.id, r.keys[i-1].id)
		case flags != 0:
			why = fmt.Sprintf("key %d has unknown flags %#x", k.id, flags)
		case k.reserved > NISTLimit:
			why = fmt.Sprintf("key %d reserves %d encryptions, past the NIST limit", k.id, k.reserved)
		case (i == count-1) != (k.retired == 0):
			why = fmt.Sprintf("key %d: retired time %d disagrees with being current", k.id, k.retired)
		}
		if why != "" {
			clear(r.keys[:i+1])
			return nil, interfaces.Corruptf(path, off, "%s", why)
		}
	}
	if current != r.keys[count-1].id {
		clear(r.keys)
		return nil, interfaces.Corruptf(path, off, "current key %d is not the newest, %d", current, r.keys[count-1].id)
	}
	return r, nil
}

// readRegistryFile reads the registry file at path.
func readRegistryFile(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("lightning/aesgcm: size of %s: %w", path, err)
	}
	if size > maxRegistrySize {
		return nil, interfaces.Corruptf(path, 0, "registry file of %d bytes exceeds the largest possible, %d", size, maxRegistrySize)
	}
	buf := make([]byte, size)
	if n, err := f.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && int64(n) == size) {
		return nil, fmt.Errorf("lightning/aesgcm: read %s: %w", path, err)
	}
	return buf, nil
}

// writeRegistryFile replaces the file at path with data atomically: data
// goes to path.tmp, which is synced and renamed over path, and the
// directory is synced. A crash at any point leaves path as it was or as
// data, never a mixture.
func writeRegistryFile(fsys vfs.FS, path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("lightning/aesgcm: create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("lightning/aesgcm: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("lightning/aesgcm: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("lightning/aesgcm: close %s: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("lightning/aesgcm: rename %s: %w", tmp, err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("lightning/aesgcm: sync directory of %s: %w", path, err)
	}
	return nil
}
