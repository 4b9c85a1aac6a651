package wal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"sync/atomic"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// Small but real Codec and Cipher implementations: the WAL may not import
// plugins, and these make the tests independent of them.

// rleCodecID is the test codec's ID, in the third-party range.
const rleCodecID interfaces.CodecID = 200

// rleCodec is a run-length codec: uvarint(decoded length), then (run
// length 1..255, byte) pairs.
type rleCodec struct{}

func (rleCodec) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCodec, Name: "test-rle", Version: "0",
		ContractVersion: interfaces.CodecContractVersion}
}

func (rleCodec) ID() interfaces.CodecID { return rleCodecID }

func (rleCodec) Encode(dst, src []byte) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(src)))
	for i := 0; i < len(src); {
		j := i + 1
		for j < len(src) && j-i < 255 && src[j] == src[i] {
			j++
		}
		dst = append(dst, byte(j-i), src[i])
		i = j
	}
	return dst, nil
}

func (rleCodec) Decode(dst, src []byte) ([]byte, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > interfaces.MaxDecodedLen || n > uint64(len(src))*255 {
		return dst, fmt.Errorf("test-rle: bad length: %w", interfaces.ErrCorrupt)
	}
	start := len(dst)
	for p := src[k:]; len(p) > 0; p = p[2:] {
		if len(p) < 2 || p[0] == 0 {
			return dst[:start], fmt.Errorf("test-rle: bad run: %w", interfaces.ErrCorrupt)
		}
		if uint64(len(dst)-start)+uint64(p[0]) > n {
			return dst[:start], fmt.Errorf("test-rle: too long: %w", interfaces.ErrCorrupt)
		}
		for range p[0] {
			dst = append(dst, p[1])
		}
	}
	if uint64(len(dst)-start) != n {
		return dst[:start], fmt.Errorf("test-rle: short: %w", interfaces.ErrCorrupt)
	}
	return dst, nil
}

// gcmCipher is AES-256-GCM with an envelope of key id (1 byte) and nonce
// (12 bytes) before the sealed bytes.
type gcmCipher struct {
	id   byte
	aead cipher.AEAD
	// Nonces are a random salt and a counter: unique per instance.
	salt    uint32
	counter atomic.Uint64
}

func newGCMCipher(key byte) *gcmCipher {
	k := make([]byte, 32)
	for i := range k {
		k[i] = key*31 + byte(i)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	var salt [4]byte
	if _, err := rand.Read(salt[:]); err != nil {
		panic(err)
	}
	return &gcmCipher{id: key, aead: aead, salt: binary.LittleEndian.Uint32(salt[:])}
}

func (c *gcmCipher) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCipher, Name: "test-gcm", Version: "0",
		ContractVersion: interfaces.CipherContractVersion}
}

func (c *gcmCipher) Overhead() int { return 1 + 12 + 16 }

func (c *gcmCipher) Seal(dst, plaintext, ad []byte) ([]byte, error) {
	// The nonce is built inside dst, where it belongs in the envelope:
	// a separate array would escape through the AEAD interface and cost
	// an allocation per record.
	start := len(dst)
	dst = append(dst, c.id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	nonce := dst[start+1 : start+13]
	binary.LittleEndian.PutUint32(nonce, c.salt)
	binary.LittleEndian.PutUint64(nonce[4:], c.counter.Add(1))
	return c.aead.Seal(dst, nonce, plaintext, ad), nil
}

func (c *gcmCipher) Open(dst, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < c.Overhead() {
		return dst, fmt.Errorf("test-gcm: short: %w", interfaces.ErrDecrypt)
	}
	if sealed[0] != c.id {
		return dst, fmt.Errorf("test-gcm: key %d: %w", sealed[0], interfaces.ErrKeyMismatch)
	}
	out, err := c.aead.Open(dst, sealed[1:13], sealed[13:], ad)
	if err != nil {
		return dst, fmt.Errorf("test-gcm: %w", interfaces.ErrDecrypt)
	}
	return out, nil
}

func (c *gcmCipher) Close() error { return nil }

const testDir = "db/wal"

// tb is what the helpers need of a test: *testing.T and *rapid.T both
// have it.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	FailNow()
}

// memOpts returns options for a log in testDir on fsys, with small
// segments so that tests rotate.
func memOpts(fsys vfs.FS) Options {
	return Options{FS: fsys, Dir: testDir, SegmentSize: 2048}
}

// payloadOf returns the deterministic payload of the record at ts with n
// bytes: the ts, then bytes drawn from a generator seeded with it. Tests
// that know a record's ts and size know its payload.
func payloadOf(ts uint64, n int) []byte {
	p := make([]byte, n)
	r := mrand.New(mrand.NewPCG(ts, 0x77616c))
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	if n >= 8 {
		binary.LittleEndian.PutUint64(p, ts)
	}
	return p
}

// got is a record Replay returned.
type got struct {
	Ts      uint64
	Payload []byte
}

// openReplay opens the log with opts and replays it above afterTs in
// Strict mode, failing the test on error.
func openReplay(t tb, opts Options, afterTs uint64) (*Log, ReplayResult, []Record) {
	t.Helper()
	l, res, recs, err := tryOpenReplay(opts, afterTs, Strict)
	require.NoError(t, err)
	return l, res, recs
}

// tryOpenReplay opens and replays, returning the records read. On a
// Replay error the log is closed.
func tryOpenReplay(opts Options, afterTs uint64, mode RecoveryMode) (*Log, ReplayResult, []Record, error) {
	l, err := Open(opts)
	if err != nil {
		return nil, ReplayResult{}, nil, err
	}
	var recs []Record
	res, err := l.Replay(afterTs, mode, func(ts uint64, payload []byte) error {
		recs = append(recs, Record{Ts: ts, Payload: bytes.Clone(payload)})
		return nil
	})
	if err != nil {
		_ = l.Close()
		return nil, res, recs, err
	}
	return l, res, recs, nil
}

// makeGroup returns n records from ts first with payloads of sizes drawn
// by size.
func makeGroup(first uint64, n int, size func() int) []Record {
	g := make([]Record, n)
	for i := range g {
		ts := first + uint64(i)
		g[i] = Record{Ts: ts, Payload: payloadOf(ts, size())}
	}
	return g
}

// segmentFiles returns the paths of the segment files in dir.
func segmentFiles(t tb, fsys vfs.FS, dir string) []string {
	t.Helper()
	nums, err := listSegments(fsys, dir)
	require.NoError(t, err)
	paths := make([]string, len(nums))
	for i, n := range nums {
		paths[i] = filepath.Join(dir, segmentName(n))
	}
	return paths
}

// readFile returns the contents of a file.
func readFile(t tb, fsys vfs.FS, path string) []byte {
	t.Helper()
	f, err := fsys.Open(path)
	require.NoError(t, err)
	defer f.Close()
	size, err := f.Size()
	require.NoError(t, err)
	b := make([]byte, size)
	require.NoError(t, readFull(f, b, 0))
	return b
}

// writeFile replaces a file's contents, durably.
func writeFile(t tb, fsys vfs.FS, path string, b []byte) {
	t.Helper()
	f, err := fsys.Create(path)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	require.NoError(t, fsys.SyncDir(filepath.Dir(path)))
}

// segRecords lists the records of a segment file (offsets and all).
func segRecords(t tb, opts Options, path string) ([]SegmentRecord, SegmentInfo) {
	t.Helper()
	var out []SegmentRecord
	info, err := ReadSegment(opts, path, func(r SegmentRecord) error {
		r.Payload = bytes.Clone(r.Payload)
		out = append(out, r)
		return nil
	})
	require.NoError(t, err)
	return out, info
}

// requireCorruption asserts that err wraps a *interfaces.CorruptionError
// naming file, and returns it.
func requireCorruption(t tb, err error, file string) *interfaces.CorruptionError {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
	var ce *interfaces.CorruptionError
	require.ErrorAs(t, err, &ce)
	if file != "" {
		require.Equal(t, file, ce.File, "corruption names the wrong file: %v", err)
	}
	return ce
}

// cloneFS returns an independent copy of fsys with everything kept.
func cloneFS(fsys *vfs.MemFS) *vfs.MemFS {
	return fsys.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
}
