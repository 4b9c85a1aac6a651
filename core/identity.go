package core

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// The identity file, LIGHTNING, says what made a database, so that Open can
// refuse a set of parts that cannot read it before any part touches a file.
// It is text, for people who look at a data directory, with a checksum:
//
//	# Lightning database. Do not edit: the last line checksums the others.
//	format: 1
//	engine: lsm
//	codec: snappy
//	cipher: aesgcm
//	keycheck: 0a1b...       (hex; only with a cipher)
//	created: 2026-11-26T07:18:56Z
//	crc32c: 1a2b3c4d        (CRC-32C of every byte before this line, hex)
//
// Lines are "name: value"; unknown names are kept and ignored, so a newer
// minor version can add some. The key check is a fixed plaintext sealed by
// the cipher with the file name as additional data: a cipher that cannot
// open it holds the wrong key, and Open says so (ErrKeyMismatch) before the
// engine or the WAL is opened.

const (
	identityFile   = "LIGHTNING"
	formatVersion  = 1
	keyCheckPlain  = "lightning key check v1"
	identityHeader = "# Lightning database. Do not edit: the last line checksums the others.\n"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type identity struct {
	fields map[string]string
}

func (id identity) get(name string) string { return id.fields[name] }

func (id identity) encode() []byte {
	var b bytes.Buffer
	b.WriteString(identityHeader)
	names := make([]string, 0, len(id.fields))
	for n := range id.fields {
		names = append(names, n)
	}
	// A stable order: the well-known names first, the rest sorted.
	order := map[string]int{"format": 0, "engine": 1, "codec": 2, "cipher": 3, "keycheck": 4, "created": 5}
	sort.Slice(names, func(i, j int) bool {
		oi, iok := order[names[i]]
		oj, jok := order[names[j]]
		switch {
		case iok && jok:
			return oi < oj
		case iok != jok:
			return iok
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		fmt.Fprintf(&b, "%s: %s\n", n, id.fields[n])
	}
	fmt.Fprintf(&b, "crc32c: %08x\n", crc32.Checksum(b.Bytes(), castagnoli))
	return b.Bytes()
}

func decodeIdentity(data []byte, path string) (identity, error) {
	body, last, ok := cutLastLine(data)
	if !ok {
		return identity{}, interfaces.Corruptf(path, -1, "no checksum line")
	}
	sum, found := strings.CutPrefix(last, "crc32c: ")
	if !found {
		return identity{}, interfaces.Corruptf(path, int64(len(body)), "last line is not a checksum")
	}
	want, err := strconv.ParseUint(sum, 16, 32)
	if err != nil || crc32.Checksum(body, castagnoli) != uint32(want) {
		return identity{}, interfaces.Corruptf(path, int64(len(body)), "checksum mismatch")
	}
	id := identity{fields: map[string]string{}}
	off := 0
	for _, line := range strings.SplitAfter(string(body), "\n") {
		l := strings.TrimSuffix(line, "\n")
		if l != "" && !strings.HasPrefix(l, "#") {
			name, value, ok := strings.Cut(l, ": ")
			if !ok || name == "" {
				return identity{}, interfaces.Corruptf(path, int64(off), "malformed line %q", l)
			}
			id.fields[name] = value
		}
		off += len(line)
	}
	return id, nil
}

func cutLastLine(data []byte) (body []byte, last string, ok bool) {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, "", false
	}
	i := bytes.LastIndexByte(data[:len(data)-1], '\n')
	return data[:i+1], string(data[i+1 : len(data)-1]), true
}

// codecName and cipherName name parts for the identity file.
func codecName(c interfaces.Codec) string {
	if c == nil {
		return "none"
	}
	return c.Describe().Name
}

func cipherName(c interfaces.Cipher) string {
	if c == nil {
		return "none"
	}
	return c.Describe().Name
}

// checkIdentity reads dir's identity file and checks it against opts. It
// returns fresh = true when dir holds no database yet (then nothing has
// been written). A directory with files but no identity file is refused:
// it is not a Lightning database, or its creation was interrupted before
// anything but the identity file could exist.
func checkIdentity(opts *Options, dir string) (id identity, fresh bool, err error) {
	path := filepath.Join(dir, identityFile)
	data, err := readFile(opts.FS, path)
	if errors.Is(err, fs.ErrNotExist) {
		names, lerr := opts.FS.List(dir)
		if lerr != nil {
			return identity{}, false, fmt.Errorf("core: list %s: %w", dir, lerr)
		}
		for _, n := range names {
			// LOCK is ours, and a LIGHTNING.tmp is a creation that
			// crashed before its rename: still a fresh directory.
			if n != lockFile && n != identityFile+".tmp" {
				return identity{}, false, fmt.Errorf("core: %s holds %q but no %s file: not a Lightning database: %w",
					dir, n, identityFile, ErrIncompatible)
			}
		}
		return identity{}, true, nil
	}
	if err != nil {
		return identity{}, false, fmt.Errorf("core: read %s: %w", path, err)
	}
	if id, err = decodeIdentity(data, path); err != nil {
		return identity{}, false, err
	}
	if v, err := strconv.Atoi(id.get("format")); err != nil || v < 1 || v > formatVersion {
		return identity{}, false, fmt.Errorf("core: %s: format version %q, this build reads 1 to %d: %w",
			path, id.get("format"), formatVersion, ErrIncompatible)
	}
	if e := id.get("engine"); e != opts.StorageName {
		return identity{}, false, fmt.Errorf("core: %s was created with engine %q and cannot be opened with engine %q: %w",
			dir, e, opts.StorageName, ErrIncompatible)
	}
	madeWith := id.get("cipher")
	switch {
	case madeWith != "none" && opts.Cipher == nil:
		return identity{}, false, fmt.Errorf("core: %s is encrypted (cipher %q) and no cipher is configured: %w",
			dir, madeWith, ErrKeyMismatch)
	case madeWith == "none" && opts.Cipher != nil:
		return identity{}, false, fmt.Errorf("core: %s was created without encryption; it cannot be opened with cipher %q: %w",
			dir, cipherName(opts.Cipher), ErrIncompatible)
	case opts.Cipher != nil:
		if err := verifyKeyCheck(opts.Cipher, id.get("keycheck")); err != nil {
			return identity{}, false, fmt.Errorf("core: %s: the configured key does not open this database: %w", dir, err)
		}
	}
	return id, false, nil
}

func newIdentity(opts *Options) (identity, error) {
	id := identity{fields: map[string]string{
		"format":  strconv.Itoa(formatVersion),
		"engine":  opts.StorageName,
		"codec":   codecName(opts.Codec),
		"cipher":  cipherName(opts.Cipher),
		"created": time.Now().UTC().Format(time.RFC3339),
	}}
	if opts.Cipher != nil {
		sealed, err := opts.Cipher.Seal(nil, []byte(keyCheckPlain), []byte(identityFile))
		if err != nil {
			return identity{}, fmt.Errorf("core: seal the key check: %w", err)
		}
		id.fields["keycheck"] = hex.EncodeToString(sealed)
	}
	return id, nil
}

func verifyKeyCheck(c interfaces.Cipher, check string) error {
	sealed, err := hex.DecodeString(check)
	if err != nil || check == "" {
		return fmt.Errorf("malformed key check: %w", ErrKeyMismatch)
	}
	plain, err := c.Open(nil, sealed, []byte(identityFile))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyMismatch, err)
	}
	if string(plain) != keyCheckPlain {
		return fmt.Errorf("key check opened to the wrong text: %w", ErrKeyMismatch)
	}
	return nil
}

// writeIdentity writes id atomically: a temporary file, synced, renamed over
// the identity file, and the directory synced.
func writeIdentity(fsys vfs.FS, dir string, id identity) error {
	return writeFileAtomic(fsys, dir, identityFile, id.encode())
}

func writeFileAtomic(fsys vfs.FS, dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("core: create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("core: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("core: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("core: close %s: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("core: rename %s: %w", tmp, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("core: sync dir %s: %w", dir, err)
	}
	return nil
}

func readFile(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > 1<<20 {
		return nil, interfaces.Corruptf(path, -1, "file of %d bytes is too large", size)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf, nil
}

// Info is what a database's identity file (LIGHTNING) records about the
// parts that made it.
type Info struct {
	// Format is the database format version.
	Format int
	// Engine, Codec and Cipher name the parts the database was created
	// with; Cipher is "none" for a database that is not encrypted.
	Engine, Codec, Cipher string
	// Created is the creation time, RFC 3339, UTC.
	Created string
}

// Encrypted reports whether the database was created with a cipher.
func (i Info) Encrypted() bool { return i.Cipher != "none" }

// ReadInfo reads the identity of the database in dir through fsys (nil:
// the OS) without opening the database or taking its lock, so tools can
// learn which engine, codec and cipher to open it with. A directory that
// holds no database is an error matching fs.ErrNotExist; a damaged
// identity file is a *interfaces.CorruptionError.
func ReadInfo(fsys vfs.FS, dir string) (Info, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	path := filepath.Join(dir, identityFile)
	data, err := readFile(fsys, path)
	if err != nil {
		return Info{}, fmt.Errorf("core: read %s: %w", path, err)
	}
	id, err := decodeIdentity(data, path)
	if err != nil {
		return Info{}, err
	}
	format, err := strconv.Atoi(id.get("format"))
	if err != nil {
		return Info{}, interfaces.Corruptf(path, -1, "format version %q is not a number", id.get("format"))
	}
	return Info{
		Format:  format,
		Engine:  id.get("engine"),
		Codec:   id.get("codec"),
		Cipher:  id.get("cipher"),
		Created: id.get("created"),
	}, nil
}
