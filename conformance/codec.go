package conformance

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
)

// TestCodec runs the Codec suite against the codecs newCodec makes. It
// calls newCodec a few times; every codec it returns must be the same
// format.
//
// The suite checks:
//
//   - Describe: Kind codec, a name, the CodecContractVersion.
//   - ID: stable across calls and instances; IDs 0-3 carry the names
//     none, snappy, lz4 and zstd, IDs 4-127 are reserved, and a codec
//     named like an in-tree one uses that one's ID.
//   - RoundTrip: Decode(Encode(x)) == x for empty, nil, 1-byte, tiny,
//     4 KiB text, 64 KiB random, half-compressible, all-zero, long-repeat
//     and short-period data, sizes around block boundaries, and 16 MiB
//     (4 MiB under -short). The none codec (ID 0) must encode x as x.
//   - Append: Encode and Decode append to a non-empty dst, with and
//     without spare capacity, leave its prefix intact, and return bytes
//     that share no memory with src.
//   - DecodeDeterministic: one input decodes alike every time, into any
//     dst, valid or damaged.
//   - Concurrent: goroutines encode and decode at once (run under -race).
//   - Truncated: every proper prefix of an encoding fails with ErrCorrupt
//     (for the identity codec, decodes to itself).
//   - BitFlips: flipped bits and replaced bytes either fail with
//     ErrCorrupt or decode (formats without checksums cannot tell) —
//     never panic, never more than MaxDecodedLen bytes.
//   - Garbage: random and structured junk, likewise.
//   - OversizeClaims: for the in-tree formats (IDs 1-3), streams claiming
//     more than MaxDecodedLen, or far more than their size can encode,
//     fail with ErrCorrupt without a large allocation.
//   - BoundedAllocation: decoding any input of at most 64 bytes allocates
//     less than 32 MiB.
//
// A panic in the codec fails the test instead of crashing the runner
// (panics in goroutines the codec starts itself cannot be caught).
func TestCodec(t T, newCodec CodecFactory) {
	t.Helper()
	c := newCodecOrFatal(t, newCodec)
	s := seed()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("codec suite seed %d (replay with LIGHTNING_CONFORMANCE_SEED=%d)", s, s)
		}
	})
	run(t, "Describe", func(t T) { testCodecDescribe(t, c) })
	run(t, "ID", func(t T) { testCodecID(t, c, newCodec) })
	run(t, "RoundTrip", func(t T) { testCodecRoundTrip(t, c, s) })
	run(t, "Append", func(t T) { testCodecAppend(t, c, s) })
	run(t, "DecodeDeterministic", func(t T) { testCodecDeterministic(t, c, s) })
	run(t, "Concurrent", func(t T) { testCodecConcurrent(t, c, s) })
	run(t, "Truncated", func(t T) { testCodecTruncated(t, c, s) })
	run(t, "BitFlips", func(t T) { testCodecBitFlips(t, c, s) })
	run(t, "Garbage", func(t T) { testCodecGarbage(t, c, s) })
	run(t, "OversizeClaims", func(t T) { testCodecOversizeClaims(t, c) })
	run(t, "BoundedAllocation", func(t T) { testCodecBoundedAllocation(t, c, s) })
}

// inTreeCodecNames maps Lightning's codec IDs to the names they carry.
var inTreeCodecNames = map[interfaces.CodecID]string{
	interfaces.CodecNone:   "none",
	interfaces.CodecSnappy: "snappy",
	interfaces.CodecLZ4:    "lz4",
	interfaces.CodecZstd:   "zstd",
}

func newCodecOrFatal(t T, newCodec CodecFactory) interfaces.Codec {
	t.Helper()
	var c interfaces.Codec
	var err error
	if !guardPart(t, "CodecFactory", func() { c, err = newCodec() }) {
		t.FailNow()
	}
	if err != nil {
		t.Fatalf("CodecFactory: %v", err)
	}
	if c == nil {
		t.Fatalf("CodecFactory returned a nil codec")
	}
	return c
}

// ---------------------------------------------------------------------
// Shared by the suites: panic guards, seeds and failure budgets.

// errPartPanicked stands in for the result of a call into the part that
// panicked. The panic is already reported as a failure when a caller
// sees it.
var errPartPanicked = errors.New("conformance: the part panicked")

// guardPart runs fn, a call into the part under test, and reports a panic
// in it as a test failure (with the stack) rather than letting it crash
// the runner. It reports whether fn returned normally. FailNow inside fn
// still ends the test goroutine.
func guardPart(t T, what string, fn func()) (ok bool) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v\n%s", what, p, debug.Stack())
		}
	}()
	fn()
	return true
}

// partRand returns the random source of the subtest called name, derived
// from the suite's seed so each subtest replays alike on its own.
func partRand(s int64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(uint64(s), h.Sum64()))
}

// failBudget caps the failures one loop reports: a broken part fails a
// thousand cases alike, and the first few say it all. Safe for
// concurrent use.
type failBudget struct {
	t    T
	left atomic.Int64
	told atomic.Bool
}

func newFailBudget(t T, n int64) *failBudget {
	b := &failBudget{t: t}
	b.left.Store(n)
	return b
}

// errorf reports a failure while the budget lasts; afterwards it only
// marks the test failed (once saying that more failures are suppressed).
func (b *failBudget) errorf(format string, args ...any) {
	b.t.Helper()
	if b.left.Add(-1) >= 0 {
		b.t.Errorf(format, args...)
		return
	}
	if !b.told.Swap(true) {
		b.t.Errorf("further failures of this check are suppressed")
	}
	b.t.Fail()
}

// exhausted reports whether the budget is spent, so a loop can stop.
func (b *failBudget) exhausted() bool { return b.left.Load() < 0 }

// ---------------------------------------------------------------------
// Guarded calls into the codec.

func codecEncode(t T, c interfaces.Codec, dst, src []byte) (out []byte, err error) {
	t.Helper()
	if !guardPart(t, fmt.Sprintf("Encode(dst of %d bytes, src of %d bytes)", len(dst), len(src)), func() {
		out, err = c.Encode(dst, src)
	}) {
		return nil, errPartPanicked
	}
	return out, err
}

func codecDecode(t T, c interfaces.Codec, dst, src []byte) (out []byte, err error) {
	t.Helper()
	if !guardPart(t, fmt.Sprintf("Decode(dst of %d bytes, src of %d bytes: %s)", len(dst), len(src), preview(src)), func() {
		out, err = c.Decode(dst, src)
	}) {
		return nil, errPartPanicked
	}
	return out, err
}

// preview renders the start of b for failure messages.
func preview(b []byte) string {
	const max = 24
	if len(b) <= max {
		return fmt.Sprintf("% x", b)
	}
	return fmt.Sprintf("% x ...", b[:max])
}

// roundTrip encodes src into a fresh slice and decodes it back, reporting
// failures; it returns the encoding, or nil after a failure.
func roundTrip(t T, c interfaces.Codec, name string, src []byte) []byte {
	t.Helper()
	enc, err := codecEncode(t, c, nil, src)
	if err != nil {
		if err != errPartPanicked {
			t.Errorf("%s: Encode of %d bytes: %v", name, len(src), err)
		}
		return nil
	}
	dec, err := codecDecode(t, c, nil, enc)
	if err != nil {
		if err != errPartPanicked {
			t.Errorf("%s: Decode of the %d-byte encoding of %d bytes: %v", name, len(enc), len(src), err)
		}
		return nil
	}
	if !bytes.Equal(dec, src) {
		t.Errorf("%s: round trip of %d bytes gave %d bytes, first difference at %d",
			name, len(src), len(dec), firstDiff(dec, src))
		return nil
	}
	return enc
}

// firstDiff returns the first index at which a and b differ, or the
// shorter length.
func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// ---------------------------------------------------------------------
// Sample data.

// HalfCompressible returns n bytes of sample data, the same for the same
// n and seed, that LZ-family codecs compress to about half: 32-byte chunks,
// each either fresh random bytes or a copy of an earlier chunk within the
// last 32 KiB. Benchmarks of every codec use it, so their figures compare.
func HalfCompressible(n int, seed uint64) []byte {
	return halfCompressible(rand.New(rand.NewPCG(seed, 0x5eed)), n)
}

func halfCompressible(r *rand.Rand, n int) []byte {
	const chunk = 32
	b := make([]byte, 0, n+chunk)
	for len(b) < n {
		if len(b) < 4*chunk || r.IntN(2) == 0 {
			for range chunk {
				b = append(b, byte(r.Uint32()))
			}
			continue
		}
		back := min(len(b), 32<<10)
		from := len(b) - back + r.IntN(back-chunk+1)
		b = append(b, b[from:from+chunk]...)
	}
	return b[:n]
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// textBytes returns n bytes of English-like text from a small vocabulary.
func textBytes(r *rand.Rand, n int) []byte {
	words := []string{"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
		"lightning", "database", "block", "compaction", "level", "key", "value",
		"transaction", "commit", "snapshot", "iterator", "a", "of", "and", "to", "in"}
	b := make([]byte, 0, n+16)
	for len(b) < n {
		b = append(b, words[r.IntN(len(words))]...)
		if r.IntN(12) == 0 {
			b = append(b, ".\n"...)
		} else {
			b = append(b, ' ')
		}
	}
	return b[:n]
}

// repeated returns n bytes of a random pattern of length period, repeated.
func repeated(r *rand.Rand, n, period int) []byte {
	pattern := randomBytes(r, period)
	b := make([]byte, n)
	for i := 0; i < n; i += period {
		copy(b[i:], pattern)
	}
	return b
}

// ---------------------------------------------------------------------
// The checks.

func testCodecDescribe(t T, c interfaces.Codec) {
	var d interfaces.Descriptor
	if !guardPart(t, "Describe", func() { d = c.Describe() }) {
		return
	}
	if d.Kind != interfaces.KindCodec {
		t.Errorf("Describe().Kind = %q, want %q", d.Kind, interfaces.KindCodec)
	}
	if d.Name == "" {
		t.Errorf("Describe().Name is empty")
	}
	if d.ContractVersion != interfaces.CodecContractVersion {
		t.Errorf("Describe().ContractVersion = %d, want %d", d.ContractVersion, interfaces.CodecContractVersion)
	}
	if d.Version == "" {
		t.Logf("Describe().Version is empty; a semantic version is recommended")
	}
}

func testCodecID(t T, c interfaces.Codec, newCodec CodecFactory) {
	var id, again interfaces.CodecID
	var d interfaces.Descriptor
	if !guardPart(t, "ID/Describe", func() { id, again, d = c.ID(), c.ID(), c.Describe() }) {
		return
	}
	if id != again {
		t.Errorf("ID() changed between calls: %d then %d", id, again)
	}
	c2 := newCodecOrFatal(t, newCodec)
	var id2 interfaces.CodecID
	var d2 interfaces.Descriptor
	if guardPart(t, "ID/Describe of a second instance", func() { id2, d2 = c2.ID(), c2.Describe() }) {
		if id2 != id || d2.Name != d.Name {
			t.Errorf("two instances disagree: ID %d name %q, then ID %d name %q", id, d.Name, id2, d2.Name)
		}
	}
	if id < interfaces.CodecThirdParty {
		want, ok := inTreeCodecNames[id]
		switch {
		case !ok:
			t.Errorf("ID %d is reserved for Lightning (0-127); third-party codecs use %d-255",
				id, interfaces.CodecThirdParty)
		case d.Name != want:
			t.Errorf("ID %d belongs to %q, but the codec is named %q", id, want, d.Name)
		}
		return
	}
	for inTreeID, name := range inTreeCodecNames {
		if d.Name == name {
			t.Errorf("a codec named %q must use ID %d, not %d", name, inTreeID, id)
		}
	}
}

func testCodecRoundTrip(t T, c interfaces.Codec, s int64) {
	r := partRand(s, "RoundTrip")
	big := 16 << 20
	if short(t) {
		big = 4 << 20
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"1 byte", []byte{0x42}},
		{"tiny", []byte("lightning")},
		{"4 KiB text", textBytes(r, 4<<10)},
		{"64 KiB random", randomBytes(r, 64<<10)},
		{"64 KiB half-compressible", halfCompressible(r, 64<<10)},
		{"1 MiB zeros", make([]byte, 1<<20)},
		{"1 MiB of a 100 KiB pattern", repeated(r, 1<<20, 100<<10)},
		{"64 KiB of a 7-byte pattern", repeated(r, 64<<10, 7)},
		{"64 KiB - 1 half-compressible", halfCompressible(r, 64<<10-1)},
		{"64 KiB + 1 half-compressible", halfCompressible(r, 64<<10+1)},
		{"128 KiB + 1 text", textBytes(r, 128<<10+1)},
		{fmt.Sprintf("%d MiB half-compressible", big>>20), halfCompressible(r, big)},
	}
	for n := 2; n <= 40; n++ {
		cases = append(cases, struct {
			name string
			data []byte
		}{fmt.Sprintf("%d random bytes", n), randomBytes(r, n)})
	}
	var id interfaces.CodecID
	if !guardPart(t, "ID", func() { id = c.ID() }) {
		return
	}
	for _, tc := range cases {
		enc := roundTrip(t, c, tc.name, tc.data)
		if enc == nil {
			continue
		}
		if id == interfaces.CodecNone && !bytes.Equal(enc, tc.data) {
			t.Errorf("%s: the none codec (ID 0) must encode data as itself; %d bytes became %d",
				tc.name, len(tc.data), len(enc))
		}
	}
}

func testCodecAppend(t T, c interfaces.Codec, s int64) {
	r := partRand(s, "Append")
	prefix := []byte("conformance prefix: must survive")
	samples := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"tiny", []byte("lightning")},
		{"4 KiB text", textBytes(r, 4<<10)},
		{"64 KiB half-compressible", halfCompressible(r, 64<<10)},
	}
	for _, sm := range samples {
		src := sm.data
		enc := roundTrip(t, c, sm.name, src)
		if enc == nil {
			continue
		}
		for _, dst := range appendDsts(prefix, len(src)+len(enc)+64) {
			out, err := codecEncode(t, c, dst.b, src)
			if err != nil {
				if err != errPartPanicked {
					t.Errorf("%s: Encode into %s: %v", sm.name, dst.name, err)
				}
				continue
			}
			if len(out) < len(prefix) || !bytes.Equal(out[:len(prefix)], prefix) {
				t.Errorf("%s: Encode into %s did not keep dst's %d bytes as a prefix of its result", sm.name, dst.name, len(prefix))
				continue
			}
			dec, err := codecDecode(t, c, nil, out[len(prefix):])
			if err != nil || !bytes.Equal(dec, src) {
				t.Errorf("%s: Encode into %s appended bytes that do not decode back (err %v)", sm.name, dst.name, err)
			}
		}
		for _, dst := range appendDsts(prefix, len(src)+64) {
			out, err := codecDecode(t, c, dst.b, enc)
			if err != nil {
				if err != errPartPanicked {
					t.Errorf("%s: Decode into %s: %v", sm.name, dst.name, err)
				}
				continue
			}
			if len(out) < len(prefix) || !bytes.Equal(out[:len(prefix)], prefix) {
				t.Errorf("%s: Decode into %s did not keep dst's %d bytes as a prefix of its result", sm.name, dst.name, len(prefix))
				continue
			}
			if !bytes.Equal(out[len(prefix):], src) {
				t.Errorf("%s: Decode into %s appended %d bytes that differ from the %d decoded",
					sm.name, dst.name, len(out)-len(prefix), len(src))
			}
		}

		// Results stay valid after later calls: a codec must not hand out
		// a buffer of its own that the next call overwrites.
		other := textBytes(r, len(src)+17)
		encOther, errOther := codecEncode(t, c, nil, other)
		decOther, errDecOther := codecDecode(t, c, nil, encOther)
		if errOther == nil && errDecOther == nil {
			if dec, err := codecDecode(t, c, nil, enc); err != nil || !bytes.Equal(dec, src) {
				t.Errorf("%s: an encoding changed when Encode was called again: Encode must not return a buffer it reuses (err %v)", sm.name, err)
			}
			if !bytes.Equal(decOther, other) {
				t.Errorf("%s: a decoding changed when Decode was called again: Decode must not return a buffer it reuses", sm.name)
			}
		}

		// The results must not share memory with the inputs: callers
		// reuse their buffers as soon as a call returns.
		srcCopy := slices.Clone(src)
		enc2, err := codecEncode(t, c, nil, srcCopy)
		if err != nil {
			continue
		}
		for i := range srcCopy {
			srcCopy[i] ^= 0xff
		}
		encCopy := slices.Clone(enc2)
		dec, err := codecDecode(t, c, nil, encCopy)
		if err != nil || !bytes.Equal(dec, src) {
			t.Errorf("%s: Encode's result changed when its src was overwritten afterwards: it aliases src (err %v)", sm.name, err)
			continue
		}
		for i := range encCopy {
			encCopy[i] ^= 0xff
		}
		if !bytes.Equal(dec, src) {
			t.Errorf("%s: Decode's result changed when its src was overwritten afterwards: it aliases src", sm.name)
		}
	}
}

// namedBytes is a test input with a name for failure messages.
type namedBytes struct {
	name string
	b    []byte
}

// appendDsts returns the dst shapes Append tries: the prefix with no
// spare capacity, and with spare capacity full of junk.
func appendDsts(prefix []byte, spare int) []namedBytes {
	exact := slices.Clip(slices.Clone(prefix))
	roomy := make([]byte, len(prefix), len(prefix)+spare)
	copy(roomy, prefix)
	junk := roomy[len(prefix):cap(roomy)]
	for i := range junk {
		junk[i] = 0xa5
	}
	return []namedBytes{
		{"a dst without spare capacity", exact},
		{"a dst with spare capacity", roomy},
	}
}

func testCodecDeterministic(t T, c interfaces.Codec, s int64) {
	r := partRand(s, "DecodeDeterministic")
	src := halfCompressible(r, 16<<10)
	enc := roundTrip(t, c, "16 KiB half-compressible", src)
	if enc == nil {
		return
	}
	for i := 0; i < 3; i++ {
		dst := []byte(nil)
		if i > 0 {
			dst = make([]byte, i*7, i*7+len(src))
		}
		out, err := codecDecode(t, c, dst, enc)
		if err != nil || !bytes.Equal(out[len(dst):], src) {
			t.Errorf("decode #%d of one encoding differs from the first (err %v)", i+1, err)
		}
	}
	// Damaged inputs decode alike every time too, whether they fail or not.
	budget := newFailBudget(t, 3)
	for i := 0; i < 50 && !budget.exhausted(); i++ {
		bad := slices.Clone(enc)
		pos := r.IntN(len(bad))
		bad[pos] ^= byte(1 << r.IntN(8))
		out1, err1 := codecDecode(t, c, nil, bad)
		out2, err2 := codecDecode(t, c, nil, bad)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(out1, out2) {
			budget.errorf("a damaged input (bit flipped at byte %d) decoded differently twice: %d bytes/err %v, then %d bytes/err %v",
				pos, len(out1), err1, len(out2), err2)
		}
	}
}

func testCodecConcurrent(t T, c interfaces.Codec, s int64) {
	workers, iters := 8, 40
	if short(t) {
		workers, iters = 4, 10
	}
	shared := halfCompressible(partRand(s, "Concurrent/shared"), 32<<10)
	sharedEnc := roundTrip(t, c, "shared sample", shared)
	if sharedEnc == nil {
		return
	}
	budget := newFailBudget(t, 5)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := partRand(s, fmt.Sprintf("Concurrent/%d", w))
			var encBuf, decBuf []byte
			for i := 0; i < iters && !budget.exhausted(); i++ {
				var src []byte
				switch n := r.IntN(64 << 10); r.IntN(3) {
				case 0:
					src = halfCompressible(r, n)
				case 1:
					src = textBytes(r, n)
				default:
					src = randomBytes(r, n)
				}
				// Reuse buffers across iterations, as engines do.
				enc, err := codecEncode(t, c, encBuf[:0], src)
				if err != nil {
					budget.errorf("worker %d: Encode of %d bytes: %v", w, len(src), err)
					continue
				}
				encBuf = enc
				dec, err := codecDecode(t, c, decBuf[:0], enc)
				if err != nil || !bytes.Equal(dec, src) {
					budget.errorf("worker %d: concurrent round trip of %d bytes failed (err %v)", w, len(src), err)
					continue
				}
				decBuf = dec
				out, err := codecDecode(t, c, nil, sharedEnc)
				if err != nil || !bytes.Equal(out, shared) {
					budget.errorf("worker %d: concurrent decode of a shared input failed (err %v)", w, err)
				}
			}
		}()
	}
	wg.Wait()
}

// checkDecodeOutcome checks the result of decoding damaged or foreign
// input: an error must match ErrCorrupt, and success must stay within
// MaxDecodedLen. It reports whether Decode succeeded.
func checkDecodeOutcome(budget *failBudget, what string, out []byte, err error) bool {
	switch {
	case err == errPartPanicked:
		budget.t.Fail()
		return false
	case err != nil:
		if !errors.Is(err, interfaces.ErrCorrupt) {
			budget.errorf("%s: Decode failed with %v, which does not match ErrCorrupt", what, err)
		}
		return false
	case len(out) > interfaces.MaxDecodedLen:
		budget.errorf("%s: Decode returned %d bytes, more than MaxDecodedLen", what, len(out))
	}
	return true
}

func testCodecTruncated(t T, c interfaces.Codec, s int64) {
	r := partRand(s, "Truncated")
	var id interfaces.CodecID
	if !guardPart(t, "ID", func() { id = c.ID() }) {
		return
	}
	samples := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"1 byte", []byte{7}},
		{"tiny", []byte("lightning")},
		{"4 KiB text", textBytes(r, 4<<10)},
		{"4 KiB half-compressible", halfCompressible(r, 4<<10)},
		{"2 KiB random", randomBytes(r, 2<<10)},
	}
	budget := newFailBudget(t, 5)
	for _, sm := range samples {
		enc := roundTrip(t, c, sm.name, sm.data)
		if enc == nil {
			continue
		}
		for i := 0; i < len(enc) && !budget.exhausted(); i++ {
			// A copy, so a decoder that reads past len sees nothing of
			// the rest of the encoding.
			trunc := slices.Clone(enc[:i])
			out, err := codecDecode(t, c, nil, trunc)
			what := fmt.Sprintf("%s: the first %d of %d encoded bytes", sm.name, i, len(enc))
			if id == interfaces.CodecNone {
				if err != nil || !bytes.Equal(out, enc[:i]) {
					budget.errorf("%s: the none codec must decode any input to itself (err %v)", what, err)
				}
				continue
			}
			if checkDecodeOutcome(budget, what, out, err) {
				budget.errorf("%s: Decode succeeded with %d bytes; a truncated encoding must fail with ErrCorrupt", what, len(out))
			}
		}
	}
}

func testCodecBitFlips(t T, c interfaces.Codec, s int64) {
	r := partRand(s, "BitFlips")
	flips := 2000
	if short(t) {
		flips = 300
	}
	budget := newFailBudget(t, 5)
	var tried, detected int
	try := func(what string, bad []byte) {
		out, err := codecDecode(t, c, nil, bad)
		tried++
		if !checkDecodeOutcome(budget, what, out, err) {
			detected++
		}
	}
	// Every bit of a small encoding.
	if enc := roundTrip(t, c, "tiny", []byte("lightning strikes twice")); enc != nil {
		for bit := 0; bit < len(enc)*8 && !budget.exhausted(); bit++ {
			bad := slices.Clone(enc)
			bad[bit/8] ^= 1 << (bit % 8)
			try(fmt.Sprintf("tiny sample, bit %d flipped", bit), bad)
		}
	}
	// Random damage to larger ones.
	for _, src := range [][]byte{halfCompressible(r, 4<<10), textBytes(r, 16<<10), randomBytes(r, 1<<10)} {
		enc := roundTrip(t, c, fmt.Sprintf("%d-byte sample", len(src)), src)
		if enc == nil {
			continue
		}
		for i := 0; i < flips && !budget.exhausted(); i++ {
			bad := slices.Clone(enc)
			var what string
			switch i % 4 {
			case 0, 1: // one bit
				bit := r.IntN(len(bad) * 8)
				bad[bit/8] ^= 1 << (bit % 8)
				what = fmt.Sprintf("bit %d flipped", bit)
			case 2: // one byte replaced
				pos := r.IntN(len(bad))
				bad[pos] = byte(r.Uint32())
				what = fmt.Sprintf("byte %d replaced", pos)
			default: // a burst of random bytes
				pos := r.IntN(len(bad))
				n := min(1+r.IntN(16), len(bad)-pos)
				for j := range n {
					bad[pos+j] = byte(r.Uint32())
				}
				what = fmt.Sprintf("%d bytes at %d replaced", n, pos)
			}
			try(fmt.Sprintf("%d-byte sample, %s", len(src), what), bad)
		}
	}
	t.Logf("%d of %d damaged encodings were detected", detected, tried)
}

func testCodecGarbage(t T, c interfaces.Codec, s int64) {
	r := partRand(s, "Garbage")
	n := 1000
	if short(t) {
		n = 200
	}
	budget := newFailBudget(t, 5)
	var inputs [][]byte
	for i := 0; i < n; i++ {
		size := r.IntN(65)
		if i%10 == 0 {
			size = r.IntN(8 << 10)
		}
		inputs = append(inputs, randomBytes(r, size))
	}
	for _, size := range []int{1, 2, 5, 16, 100, 4096} {
		inputs = append(inputs, bytes.Repeat([]byte{0}, size), bytes.Repeat([]byte{0xff}, size),
			bytes.Repeat([]byte{0x80}, size))
	}
	// Valid encodings with junk after them, and valid heads with junk
	// bodies: the shapes a misplaced block length gives.
	src := halfCompressible(r, 2<<10)
	var trailing int
	if enc := roundTrip(t, c, "2 KiB sample", src); enc != nil {
		for _, tail := range [][]byte{{0}, {0xff}, randomBytes(r, 7), enc} {
			in := append(slices.Clone(enc), tail...)
			out, err := codecDecode(t, c, nil, in)
			if checkDecodeOutcome(budget, fmt.Sprintf("a valid encoding followed by %d more bytes", len(tail)), out, err) {
				trailing++
			}
		}
		for i := 0; i < 50; i++ {
			head := r.IntN(min(len(enc), 16) + 1)
			in := append(slices.Clone(enc[:head]), randomBytes(r, r.IntN(len(enc)))...)
			inputs = append(inputs, in)
		}
	}
	if trailing > 0 {
		t.Logf("%d of 4 valid encodings followed by extra bytes decoded without error", trailing)
	}
	for i, in := range inputs {
		if budget.exhausted() {
			break
		}
		out, err := codecDecode(t, c, nil, in)
		checkDecodeOutcome(budget, fmt.Sprintf("garbage input #%d (%d bytes: %s)", i, len(in), preview(in)), out, err)
	}
}

// oversizeClaims returns streams in the format of an in-tree codec that
// claim a decoded length they cannot back: above MaxDecodedLen, or far
// above what their few bytes can encode. Nil for other IDs.
func oversizeClaims(id interfaces.CodecID) []namedBytes {
	const limit = interfaces.MaxDecodedLen
	varint := func(v uint64, body ...byte) []byte {
		return append(binary.AppendUvarint(nil, v), body...)
	}
	switch id {
	case interfaces.CodecSnappy, interfaces.CodecLZ4:
		// A uvarint decoded length, then the start of a body: a snappy
		// literal tag, or an LZ4 token, followed by a few bytes.
		body := []byte{0xf0, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06}
		return []namedBytes{
			{"length MaxDecodedLen+1", varint(limit+1, body...)},
			{"length 2^32-1", varint(1<<32-1, body...)},
			{"length 2^63", varint(1<<63, body...)},
			{"length MaxDecodedLen in 10 bytes", varint(limit, body[:5]...)},
			{"length 200 MiB in 10 bytes", varint(200<<20, body[:5]...)},
		}
	case interfaces.CodecZstd:
		// A single-segment frame with an 8-byte content size (FHD 0xE0),
		// then a raw block of one byte, or an RLE block (the densest
		// block: 128 KiB from 4 bytes).
		frame := func(size uint64, block ...byte) []byte {
			b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xe0}
			for i := 0; i < 8; i++ {
				b = append(b, byte(size>>(8*i)))
			}
			return append(b, block...)
		}
		// A block header is 3 bytes, little-endian: bit 0 last block,
		// bits 1-2 type (0 raw, 1 RLE), bits 3-23 size.
		blockHeader := func(typ, size uint32) []byte {
			v := 1 | typ<<1 | size<<3
			return []byte{byte(v), byte(v >> 8), byte(v >> 16)}
		}
		raw := append(blockHeader(0, 1), 0x41)
		rle := append(blockHeader(1, 128<<10), 0x41)
		return []namedBytes{
			{"content size MaxDecodedLen+1", frame(limit+1, raw...)},
			{"content size 2^63", frame(1<<63, raw...)},
			{"content size MaxDecodedLen in a 17-byte frame", frame(limit, raw...)},
			{"content size 200 MiB with one RLE block", frame(200<<20, rle...)},
		}
	}
	return nil
}

func testCodecOversizeClaims(t T, c interfaces.Codec) {
	var id interfaces.CodecID
	if !guardPart(t, "ID", func() { id = c.ID() }) {
		return
	}
	claims := oversizeClaims(id)
	if claims == nil {
		t.Logf("ID %d: no hand-made oversize streams for this format; BoundedAllocation still applies", id)
		return
	}
	for _, cl := range claims {
		out, alloc, err := decodeMeasured(t, c, cl.b)
		switch {
		case err == errPartPanicked:
		case err == nil:
			t.Errorf("%s (% x): Decode succeeded with %d bytes; want an error matching ErrCorrupt", cl.name, cl.b, len(out))
		case !errors.Is(err, interfaces.ErrCorrupt):
			t.Errorf("%s: Decode failed with %v, which does not match ErrCorrupt", cl.name, err)
		}
		if alloc > 4<<20 {
			t.Errorf("%s: Decode of %d bytes allocated %d bytes before refusing them", cl.name, len(cl.b), alloc)
		}
	}
}

// decodeMeasured decodes src and returns the bytes allocated meanwhile,
// as the smallest of three tries: allocation by other goroutines (a
// parallel test, the GC) can only add to one try.
func decodeMeasured(t T, c interfaces.Codec, src []byte) (out []byte, alloc uint64, err error) {
	t.Helper()
	alloc = ^uint64(0)
	var ms runtime.MemStats
	for try := 0; try < 3; try++ {
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		out, err = codecDecode(t, c, nil, src)
		runtime.ReadMemStats(&ms)
		alloc = min(alloc, ms.TotalAlloc-before)
		if err == errPartPanicked || alloc < 1<<20 {
			break
		}
	}
	return out, alloc, err
}

func testCodecBoundedAllocation(t T, c interfaces.Codec, s int64) {
	const limit = 32 << 20
	r := partRand(s, "BoundedAllocation")
	n := 200
	if short(t) {
		n = 50
	}
	var id interfaces.CodecID
	if !guardPart(t, "ID", func() { id = c.ID() }) {
		return
	}
	var inputs [][]byte
	for _, cl := range oversizeClaims(id) {
		if len(cl.b) <= 64 {
			inputs = append(inputs, cl.b)
		}
	}
	for i := 0; i < n; i++ {
		inputs = append(inputs, randomBytes(r, 1+r.IntN(64)))
	}
	// Garbage that starts like a valid encoding.
	if enc := roundTrip(t, c, "sample", textBytes(r, 1<<10)); enc != nil {
		for i := 0; i < n/4; i++ {
			head := min(len(enc), 1+r.IntN(12))
			inputs = append(inputs, append(slices.Clone(enc[:head]), randomBytes(r, r.IntN(64-head+1))...))
		}
	}
	budget := newFailBudget(t, 3)
	for _, in := range inputs {
		if budget.exhausted() {
			break
		}
		_, alloc, err := decodeMeasured(t, c, in)
		if err == errPartPanicked {
			budget.t.Fail()
			continue
		}
		if alloc > limit {
			budget.errorf("Decode of %d bytes (% x) allocated %d bytes; %d-byte inputs must not cost more than %d",
				len(in), in, alloc, len(in), limit)
		}
	}
}
