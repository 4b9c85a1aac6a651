// Package aesgcm is Lightning's Cipher: authenticated encryption at rest
// with AES-256-GCM (crypto/aes, crypto/cipher), data keys kept in a key
// registry wrapped by a master key, and rotation of both online.
//
// # Two constructors
//
// Open returns a cipher backed by a key registry file (Options.Path; a
// database keeps it at <dir>/KEYS, see RegistryFile). This is what
// databases use:
//
//	c, err := aesgcm.Open(aesgcm.Options{
//		Path:   filepath.Join(dir, aesgcm.RegistryFile),
//		Master: aesgcm.KeyFile("/etc/lightning/master.key"),
//	})
//
// New returns a cipher without a registry, for callers that hold a raw
// key and no directory: the plugin protocol (which hands a cipher a key
// and nothing else; cmd/plugins/lightning-aesgcm) and tests. Its data keys
// are derived from the key: each cipher New makes draws a random 32-bit
// key id and seals under HKDF-SHA256(key, id), counting its encryptions
// in memory and rolling to a fresh id before a key passes NISTLimit. Since
// no two processes share an id but by a 2^-32 chance per pair, a key's
// count never needs to survive a restart. It cannot rotate on a schedule
// and has no master key to rotate. The two constructors' databases are
// not interchangeable: a registry cipher refuses New's blocks
// (ErrKeyMismatch, their ids are not in the registry) and New's ciphers
// fail to authenticate a registry's (ErrDecrypt); a database's key check
// reports either as ErrKeyMismatch.
//
// # Key hierarchy
//
// The master key (key-encryption key) comes from a KeyProvider: a key
// file, an environment variable, or the caller's function (a KMS). It
// never encrypts data: HKDF-SHA256 derives the registry's KEK from it,
// and the KEK seals the registry, which holds the data keys: random
// 256-bit keys from crypto/rand. Seal uses the current data key; Open
// uses whichever key the envelope names.
//
//   - Data-key rotation: a new key becomes current when the current one
//     reaches Options.RotateEvery, before it would pass
//     Options.MaxEncryptionsPerKey (at most NISTLimit, 2^32, the NIST
//     bound for random 96-bit nonces), or on RotateDataKey. Old keys stay
//     for reading; compaction rewrites blocks under the current key.
//   - Encryption counting: Seal takes a ticket from the current key (one
//     atomic add). Tickets are reserved in chunks (Options.ReserveChunk)
//     by rewriting the registry, durably, before any is used, and a
//     registry that is reopened counts every reserved ticket as used. So
//     no crash lets a key do more encryptions than the registry allows.
//   - Master-key rotation (RotateMaster) rewrites the registry under a KEK
//     derived from the new master key with a new salt: no data is
//     rewritten, the database stays open. The file is replaced atomically
//     (temporary file, sync, rename, directory sync): a crash leaves it
//     wrapped by the old key or the new one, and Options.OldMasters opens
//     either.
//   - Pruning: KeysInUse scans a database's files for envelopes (raw, and
//     hex as in the identity file's key check); Prune removes retired keys
//     that no file uses. Nothing else ever deletes a key.
//
// # Formats
//
// The envelope of a sealed block, Overhead (33) bytes longer than the
// plaintext:
//
//	+---------+------------+----------+-----------------+----------+
//	| version | key id     | nonce    | ciphertext      | tag      |
//	| 1 byte  | uint32 LE  | 12 bytes | len(plaintext)  | 16 bytes |
//	+---------+------------+----------+-----------------+----------+
//
// version is 1. The nonce is drawn from crypto/rand for every Seal
// (cipher.NewGCMWithRandomNonce). GCM's additional data is the first 5
// bytes (version and key id) followed by the caller's additional data,
// which names where the block lives (file number and offset, page id), so
// a block moved, swapped or relabelled fails to open.
//
// The registry file; integers little-endian:
//
//	header, 68 bytes
//	  0   8  magic "LTNGKEYS"
//	  8   2  format version, uint16 = 1
//	  10  2  flags, uint16 = 0
//	  12  4  sealed body length n, uint32
//	  16  8  generation, uint64 (rises with every write)
//	  24  16 registry id (random, fixed at creation)
//	  40  16 KEK salt (random, new at every master-key rotation)
//	  56  12 nonce (random, new at every write)
//	sealed body, n bytes = AES-256-GCM(KEK, nonce, body, ad = the header)
//	CRC-32C (Castagnoli), 4 bytes, of every byte before it
//
//	KEK = HKDF-SHA256(secret = master key, salt = KEK salt,
//	                  info = "lightning/aesgcm registry v1" || registry id)
//
//	body
//	  0   4  current key id (the highest id below)
//	  4   4  key count k, 1..65536
//	  8      k records of 64 bytes, ids strictly increasing from 1:
//	    0   4  key id          4   4  flags = 0
//	    8   8  created, unix ns          16  8  retired, unix ns (0: current)
//	    24  8  reserved encryptions (<= 2^32)
//	    32  32 key material
//
// A file that fails its CRC or framing is a *interfaces.CorruptionError;
// one that passes the CRC but not authentication was wrapped by another
// master key: interfaces.ErrKeyMismatch.
//
// A cipher made by New has no registry. Its envelopes are the ones above;
// the key id is drawn from crypto/rand (4 bytes, little-endian) when New
// runs and again whenever the key reaches NISTLimit seals, never one the
// cipher has sealed under, one it holds for Open, nor the legacy id
// below. The data key of id is
//
//	data key = HKDF-SHA256(secret = key given to New, salt = none (the
//	                       RFC 5869 default: 32 zero bytes),
//	                       info = "lightning/aesgcm static data key v2" (35 bytes)
//	                              || id, uint32 LE (4 bytes))[0:32]
//
// Open derives the key of whatever id an envelope names; the first static
// mode sealed every block of a key under one id, legacy id =
// HKDF-SHA256(key, no salt, info "lightning/aesgcm static key id v1")[0:4]
// read as uint32 LE, with data key HKDF-SHA256(key, no salt, info
// "lightning/aesgcm static data key v1")[0:32]; such blocks still open,
// and nothing seals under that id any more.
//
// # Concurrency and lifetimes
//
// A Cipher is safe for concurrent use. Seal's fast path is lock-free; a
// reservation or rotation holds the keyring's mutex while it writes the
// registry (once per ReserveChunk Seals). A cipher made by New holds it
// to roll to a new key (once per NISTLimit Seals) and to derive a key Open
// has not met yet; it keeps the 256 keys it met last. One registry file
// must have one writer: a database holds its directory lock, and
// `lightning keys` refuses a database another process has open. Share
// gives another handle on the same keys; the last Close zeroes the key
// material this package holds (for New's ciphers, the copy of the key
// they derive from). Go's AES key schedules cannot be reached to zero
// them; a keyring dropped without Close is zeroed when the garbage
// collector finds it (runtime.AddCleanup). Key material is never logged.
// This package never imports math/rand (internal/lint checks it).
package aesgcm
