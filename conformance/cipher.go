package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"

	"github.com/lightningdb/lightning/interfaces"
)

// TestCipher runs the Cipher suite against the ciphers newCipher makes. It
// asks for key 0 several times (instances that must interoperate) and for
// key 1 (which must not open key 0's blocks).
//
// The suite checks:
//
//   - Describe: Kind cipher, a name, the CipherContractVersion.
//   - RoundTrip: Open(Seal(p, ad), ad) == p for empty, small, 4 KiB and
//     1 MiB plaintexts with nil, empty, short and 4 KiB additional data;
//     nil and empty additional data are the same (gRPC cannot tell them
//     apart).
//   - Overhead: constant, and exactly what Seal adds, for many sizes.
//   - Append: Seal and Open append to dst and keep its prefix; results
//     share no memory with the inputs.
//   - Tamper: flipping any single bit of a small sealed block (every bit)
//     or of a larger one (random bits) fails Open with ErrDecrypt, or
//     ErrKeyMismatch where the bit names the key; Open then returns no
//     plaintext bytes.
//   - Truncated: every proper prefix, and every extension, of a sealed
//     block fails likewise.
//   - WrongAD: other additional data (a bit flipped, shorter, longer, nil)
//     fails with ErrDecrypt.
//   - OtherKey: a cipher of key 1 refuses key 0's blocks and the other way
//     round, with ErrDecrypt or ErrKeyMismatch.
//   - SameKey: two instances of key 0 open each other's blocks.
//   - NonceUniqueness: 10,000 seals (2,000 under -short) of one plaintext
//     and additional data, split over two instances of one key, are all
//     distinct, and no two share their encrypted body (see below).
//   - KeystreamReuse: the first seals of two fresh instances, and pairs of
//     different plaintexts, never reveal the XOR of their plaintexts.
//   - Concurrent: goroutines seal and open at once (run under -race), and
//     their seals of one plaintext stay distinct.
//   - Close: Close returns nil; Seal and Open then return ErrClosed; other
//     instances of the key keep working, and open a block sealed before
//     the suite closed any instance.
//
// How keystream reuse is detected without knowing the envelope: every
// AEAD built on a stream cipher (AES-GCM, ChaCha20-Poly1305, AES-CTR with a
// MAC) encrypts the plaintext as P XOR keystream(key, nonce), placed at
// some offset h of the sealed block, with the rest of the Overhead bytes
// (key id, nonce, tag) before and after it. If a nonce repeats, two seals
// of P1 and P2 satisfy S1[h:h+n] XOR S2[h:h+n] == P1 XOR P2, and two seals
// of one P share S[h:h+n]. The suite does not know h, so it tries every
// h from 0 to Overhead(): it seals plaintexts of n = Overhead()+32 bytes
// (so every window holds at least 32 body bytes) and fails if any window
// repeats across seals of one plaintext, or if any window's XOR across two
// seals equals P1 XOR P2. Chance matches are 2^-256 events.
//
// A panic in the cipher fails the test instead of crashing the runner.
func TestCipher(t T, newCipher CipherFactory) {
	t.Helper()
	c0 := newCipherOrFatal(t, newCipher, 0)
	c0b := newCipherOrFatal(t, newCipher, 0)
	c1 := newCipherOrFatal(t, newCipher, 1)
	s := seed()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cipher suite seed %d (replay with LIGHTNING_CONFORMANCE_SEED=%d)", s, s)
		}
	})
	// A block sealed before any instance is closed must open at the end:
	// instances that share key material must not destroy it on Close.
	early := cipherSample{p: []byte("sealed before any Close"), ad: []byte("early")}
	early.sealed = sealOrFail(t, c0, early.p, early.ad)
	run(t, "Describe", func(t T) { testCipherDescribe(t, c0) })
	run(t, "RoundTrip", func(t T) { testCipherRoundTrip(t, c0, s) })
	run(t, "Overhead", func(t T) { testCipherOverhead(t, c0, c1, s) })
	run(t, "Append", func(t T) { testCipherAppend(t, c0, s) })
	run(t, "Tamper", func(t T) { testCipherTamper(t, c0, s) })
	run(t, "Truncated", func(t T) { testCipherTruncated(t, c0, s) })
	run(t, "WrongAD", func(t T) { testCipherWrongAD(t, c0, s) })
	run(t, "OtherKey", func(t T) { testCipherOtherKey(t, c0, c1, s) })
	run(t, "SameKey", func(t T) { testCipherSameKey(t, c0, c0b, s) })
	run(t, "NonceUniqueness", func(t T) { testCipherNonceUniqueness(t, c0, c0b, s) })
	run(t, "KeystreamReuse", func(t T) { testCipherKeystreamReuse(t, c0, newCipher, s) })
	run(t, "Concurrent", func(t T) { testCipherConcurrent(t, c0, c0b, s) })
	run(t, "Close", func(t T) { testCipherClose(t, c0, newCipher, early) })
}

// newCipherOrFatal makes a cipher of key and closes it when the test ends.
func newCipherOrFatal(t T, newCipher CipherFactory, key int) interfaces.Cipher {
	t.Helper()
	var c interfaces.Cipher
	var err error
	if !guardPart(t, fmt.Sprintf("CipherFactory(%d)", key), func() { c, err = newCipher(key) }) {
		t.FailNow()
	}
	if err != nil {
		t.Fatalf("CipherFactory(%d): %v", key, err)
	}
	if c == nil {
		t.Fatalf("CipherFactory(%d) returned a nil cipher", key)
	}
	t.Cleanup(func() { guardPart(t, "Close", func() { _ = c.Close() }) })
	return c
}

// ---------------------------------------------------------------------
// Guarded calls into the cipher.

func cipherSeal(t T, c interfaces.Cipher, dst, p, ad []byte) (out []byte, err error) {
	t.Helper()
	if !guardPart(t, fmt.Sprintf("Seal(dst of %d bytes, plaintext of %d bytes, ad of %d bytes)", len(dst), len(p), len(ad)), func() {
		out, err = c.Seal(dst, p, ad)
	}) {
		return nil, errPartPanicked
	}
	return out, err
}

func cipherOpen(t T, c interfaces.Cipher, dst, sealed, ad []byte) (out []byte, err error) {
	t.Helper()
	if !guardPart(t, fmt.Sprintf("Open(dst of %d bytes, sealed %d bytes, ad of %d bytes)", len(dst), len(sealed), len(ad)), func() {
		out, err = c.Open(dst, sealed, ad)
	}) {
		return nil, errPartPanicked
	}
	return out, err
}

func cipherOverhead(t T, c interfaces.Cipher) (int, bool) {
	t.Helper()
	var o int
	ok := guardPart(t, "Overhead", func() { o = c.Overhead() })
	return o, ok
}

// sealOrFail seals p and reports a failure; nil after one.
func sealOrFail(t T, c interfaces.Cipher, p, ad []byte) []byte {
	t.Helper()
	out, err := cipherSeal(t, c, nil, p, ad)
	if err != nil {
		if err != errPartPanicked {
			t.Errorf("Seal of %d bytes with %d bytes of ad: %v", len(p), len(ad), err)
		}
		return nil
	}
	return out
}

// checkRefused checks that Open of damaged or foreign input failed as the
// contract says: ErrDecrypt (or, when allowMismatch, ErrKeyMismatch), and
// no bytes appended to dst.
func checkRefused(budget *failBudget, what string, dst, out []byte, err error, allowMismatch bool) {
	switch {
	case err == errPartPanicked:
		budget.t.Fail()
	case err == nil:
		budget.errorf("%s: Open succeeded (%d bytes); want ErrDecrypt", what, len(out)-len(dst))
	case errors.Is(err, interfaces.ErrDecrypt):
	case allowMismatch && errors.Is(err, interfaces.ErrKeyMismatch):
	default:
		budget.errorf("%s: Open failed with %v, which matches neither ErrDecrypt nor ErrKeyMismatch", what, err)
	}
	if err != nil && err != errPartPanicked && len(out) > len(dst) {
		budget.errorf("%s: Open failed but returned %d bytes past dst: unauthenticated plaintext must not be returned",
			what, len(out)-len(dst))
	}
}

// ---------------------------------------------------------------------
// The checks.

func testCipherDescribe(t T, c interfaces.Cipher) {
	var d interfaces.Descriptor
	if !guardPart(t, "Describe", func() { d = c.Describe() }) {
		return
	}
	if d.Kind != interfaces.KindCipher {
		t.Errorf("Describe().Kind = %q, want %q", d.Kind, interfaces.KindCipher)
	}
	if d.Name == "" {
		t.Errorf("Describe().Name is empty")
	}
	if d.ContractVersion != interfaces.CipherContractVersion {
		t.Errorf("Describe().ContractVersion = %d, want %d", d.ContractVersion, interfaces.CipherContractVersion)
	}
	if d.Version == "" {
		t.Logf("Describe().Version is empty; a semantic version is recommended")
	}
}

func testCipherRoundTrip(t T, c interfaces.Cipher, s int64) {
	r := partRand(s, "RoundTrip")
	o, ok := cipherOverhead(t, c)
	if !ok {
		return
	}
	plaintexts := [][]byte{nil, {}, {0x42}, randomBytes(r, 100), randomBytes(r, 4<<10), randomBytes(r, 1<<20)}
	ads := [][]byte{nil, {}, []byte("file 000012 offs"), randomBytes(r, 4<<10)}
	budget := newFailBudget(t, 5)
	for _, p := range plaintexts {
		for _, ad := range ads {
			sealed := sealOrFail(t, c, p, ad)
			if sealed == nil {
				continue
			}
			if len(sealed) != len(p)+o {
				budget.errorf("Seal of %d bytes gave %d bytes, want %d (Overhead %d)", len(p), len(sealed), len(p)+o, o)
			}
			out, err := cipherOpen(t, c, nil, sealed, ad)
			if err != nil || !bytes.Equal(out, p) {
				budget.errorf("round trip of %d bytes with %d bytes of ad failed: %d bytes back, err %v",
					len(p), len(ad), len(out), err)
			}
		}
	}
	// nil and empty additional data are one value: across gRPC they
	// cannot be told apart.
	p := []byte("nil and empty ad are the same")
	for _, pair := range [][2][]byte{{nil, {}}, {{}, nil}} {
		sealed := sealOrFail(t, c, p, pair[0])
		if sealed == nil {
			continue
		}
		out, err := cipherOpen(t, c, nil, sealed, pair[1])
		if err != nil || !bytes.Equal(out, p) {
			t.Errorf("sealed with %s ad, opened with %s ad: %v; nil and empty ad must be equivalent",
				adName(pair[0]), adName(pair[1]), err)
		}
	}
}

func adName(ad []byte) string {
	if ad == nil {
		return "nil"
	}
	return fmt.Sprintf("%d-byte", len(ad))
}

func testCipherOverhead(t T, c0, c1 interfaces.Cipher, s int64) {
	r := partRand(s, "Overhead")
	o, ok := cipherOverhead(t, c0)
	if !ok {
		return
	}
	if o < 0 {
		t.Fatalf("Overhead() = %d, negative", o)
	}
	if again, ok := cipherOverhead(t, c0); ok && again != o {
		t.Errorf("Overhead() changed between calls: %d then %d", o, again)
	}
	if other, ok := cipherOverhead(t, c1); ok && other != o {
		t.Logf("instances of keys 0 and 1 report different overheads: %d and %d", o, other)
	}
	sizes := []int{}
	for n := 0; n <= 300; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 1000, 1023, 1024, 4095, 4096, 4097, 65536+7)
	budget := newFailBudget(t, 5)
	for _, n := range sizes {
		p := randomBytes(r, n)
		sealed := sealOrFail(t, c0, p, []byte("ad"))
		if sealed != nil && len(sealed) != n+o {
			budget.errorf("Seal of %d bytes gave %d bytes; Overhead() = %d promises %d", n, len(sealed), o, n+o)
		}
	}
}

func testCipherAppend(t T, c interfaces.Cipher, s int64) {
	r := partRand(s, "Append")
	prefix := []byte("conformance prefix: must survive")
	ad := []byte("page 7 generation 3")
	for _, p := range [][]byte{{}, []byte("lightning"), randomBytes(r, 4<<10)} {
		sealed := sealOrFail(t, c, p, ad)
		if sealed == nil {
			continue
		}
		for _, dst := range appendDsts(prefix, len(p)+len(sealed)+64) {
			out, err := cipherSeal(t, c, dst.b, p, ad)
			if err != nil {
				if err != errPartPanicked {
					t.Errorf("Seal of %d bytes into %s: %v", len(p), dst.name, err)
				}
				continue
			}
			if len(out) < len(prefix) || !bytes.Equal(out[:len(prefix)], prefix) {
				t.Errorf("Seal into %s did not keep dst's %d bytes as a prefix of its result", dst.name, len(prefix))
				continue
			}
			if len(out) != len(prefix)+len(sealed) {
				t.Errorf("Seal of %d bytes into %s appended %d bytes, want %d", len(p), dst.name, len(out)-len(prefix), len(sealed))
			}
			back, err := cipherOpen(t, c, nil, out[len(prefix):], ad)
			if err != nil || !bytes.Equal(back, p) {
				t.Errorf("Seal into %s appended bytes that do not open (err %v)", dst.name, err)
			}
		}
		for _, dst := range appendDsts(prefix, len(p)+64) {
			out, err := cipherOpen(t, c, dst.b, sealed, ad)
			if err != nil {
				if err != errPartPanicked {
					t.Errorf("Open of %d bytes into %s: %v", len(sealed), dst.name, err)
				}
				continue
			}
			if len(out) < len(prefix) || !bytes.Equal(out[:len(prefix)], prefix) {
				t.Errorf("Open into %s did not keep dst's %d bytes as a prefix of its result", dst.name, len(prefix))
				continue
			}
			if !bytes.Equal(out[len(prefix):], p) {
				t.Errorf("Open into %s appended %d bytes that differ from the %d sealed", dst.name, len(out)-len(prefix), len(p))
			}
		}
		// Results must not share memory with inputs.
		pCopy, adCopy := slices.Clone(p), slices.Clone(ad)
		sealed2 := sealOrFail(t, c, pCopy, adCopy)
		if sealed2 == nil {
			continue
		}
		for i := range pCopy {
			pCopy[i] ^= 0xff
		}
		sealedCopy := slices.Clone(sealed2)
		back, err := cipherOpen(t, c, nil, sealedCopy, ad)
		if err != nil || !bytes.Equal(back, p) {
			t.Errorf("Seal's result changed when its plaintext was overwritten afterwards: it aliases the plaintext (err %v)", err)
			continue
		}
		for i := range sealedCopy {
			sealedCopy[i] ^= 0xff
		}
		if !bytes.Equal(back, p) {
			t.Errorf("Open's result changed when its input was overwritten afterwards: it aliases the input")
		}
	}
}

func testCipherTamper(t T, c interfaces.Cipher, s int64) {
	r := partRand(s, "Tamper")
	prefix := []byte("prefix")
	ad := []byte("file 000042 offset 8192")
	budget := newFailBudget(t, 5)
	small := sealOrFail(t, c, []byte("a small block: every bit is flipped"), ad)
	if small != nil {
		for bit := 0; bit < len(small)*8 && !budget.exhausted(); bit++ {
			bad := slices.Clone(small)
			bad[bit/8] ^= 1 << (bit % 8)
			out, err := cipherOpen(t, c, slices.Clip(slices.Clone(prefix)), bad, ad)
			checkRefused(budget, fmt.Sprintf("small sealed block, bit %d flipped", bit), prefix, out, err, true)
		}
	}
	flips := 512
	if short(t) {
		flips = 128
	}
	large := sealOrFail(t, c, randomBytes(r, 4<<10), ad)
	if large != nil {
		for i := 0; i < flips && !budget.exhausted(); i++ {
			bad := slices.Clone(large)
			bit := r.IntN(len(bad) * 8)
			bad[bit/8] ^= 1 << (bit % 8)
			out, err := cipherOpen(t, c, nil, bad, ad)
			checkRefused(budget, fmt.Sprintf("4 KiB sealed block, bit %d flipped", bit), nil, out, err, true)
		}
	}
}

func testCipherTruncated(t T, c interfaces.Cipher, s int64) {
	r := partRand(s, "Truncated")
	ad := []byte("wal segment 9 record 77")
	budget := newFailBudget(t, 5)
	for _, p := range [][]byte{{}, []byte("truncate me"), randomBytes(r, 4<<10)} {
		sealed := sealOrFail(t, c, p, ad)
		if sealed == nil {
			continue
		}
		cuts := make([]int, 0, len(sealed))
		if len(sealed) <= 256 {
			for i := 0; i < len(sealed); i++ {
				cuts = append(cuts, i)
			}
		} else {
			cuts = append(cuts, 0, 1, len(sealed)-1)
			for i := 0; i < 100; i++ {
				cuts = append(cuts, r.IntN(len(sealed)))
			}
		}
		for _, n := range cuts {
			if budget.exhausted() {
				break
			}
			out, err := cipherOpen(t, c, nil, slices.Clone(sealed[:n]), ad)
			checkRefused(budget, fmt.Sprintf("the first %d of %d sealed bytes", n, len(sealed)), nil, out, err, true)
		}
		for _, tail := range [][]byte{{0}, randomBytes(r, 16)} {
			out, err := cipherOpen(t, c, nil, append(slices.Clone(sealed), tail...), ad)
			checkRefused(budget, fmt.Sprintf("%d sealed bytes followed by %d more", len(sealed), len(tail)), nil, out, err, true)
		}
	}
}

func testCipherWrongAD(t T, c interfaces.Cipher, s int64) {
	r := partRand(s, "WrongAD")
	ad := []byte("file 000012 offset 4096")
	p := randomBytes(r, 200)
	sealed := sealOrFail(t, c, p, ad)
	if sealed == nil {
		return
	}
	budget := newFailBudget(t, 5)
	others := []namedBytes{
		{"nil ad", nil},
		{"empty ad", []byte{}},
		{"ad one byte shorter", ad[:len(ad)-1]},
		{"ad one byte longer", append(slices.Clone(ad), 0)},
		{"another block's ad", []byte("file 000012 offset 8192")},
		{"the ad of another file", []byte("file 000013 offset 4096")},
	}
	for i := 0; i < len(ad)*8; i += 3 {
		bad := slices.Clone(ad)
		bad[i/8] ^= 1 << (i % 8)
		others = append(others, namedBytes{fmt.Sprintf("ad with bit %d flipped", i), bad})
	}
	for _, o := range others {
		out, err := cipherOpen(t, c, nil, sealed, o.b)
		checkRefused(budget, o.name, nil, out, err, false)
	}
	// And the other way round: sealed without ad, opened with some.
	bare := sealOrFail(t, c, p, nil)
	if bare != nil {
		out, err := cipherOpen(t, c, nil, bare, []byte("x"))
		checkRefused(budget, "sealed with nil ad, opened with 1 byte of ad", nil, out, err, false)
	}
}

func testCipherOtherKey(t T, c0, c1 interfaces.Cipher, s int64) {
	r := partRand(s, "OtherKey")
	budget := newFailBudget(t, 5)
	for _, p := range [][]byte{{}, randomBytes(r, 64), randomBytes(r, 4<<10)} {
		ad := randomBytes(r, 16)
		if sealed := sealOrFail(t, c0, p, ad); sealed != nil {
			out, err := cipherOpen(t, c1, nil, sealed, ad)
			checkRefused(budget, fmt.Sprintf("key 0's %d-byte block opened by key 1", len(p)), nil, out, err, true)
		}
		if sealed := sealOrFail(t, c1, p, ad); sealed != nil {
			out, err := cipherOpen(t, c0, nil, sealed, ad)
			checkRefused(budget, fmt.Sprintf("key 1's %d-byte block opened by key 0", len(p)), nil, out, err, true)
		}
	}
}

func testCipherSameKey(t T, c0, c0b interfaces.Cipher, s int64) {
	r := partRand(s, "SameKey")
	for _, p := range [][]byte{{}, randomBytes(r, 64), randomBytes(r, 64<<10)} {
		ad := randomBytes(r, 24)
		for _, pair := range [][2]interfaces.Cipher{{c0, c0b}, {c0b, c0}} {
			sealed := sealOrFail(t, pair[0], p, ad)
			if sealed == nil {
				continue
			}
			out, err := cipherOpen(t, pair[1], nil, sealed, ad)
			if err != nil || !bytes.Equal(out, p) {
				t.Errorf("a block of %d bytes sealed by one instance of key 0 did not open in another: %v", len(p), err)
			}
		}
	}
}

// bodyWindows tracks, for each offset h in 0..overhead, the hashes of the
// n-byte windows at h of a set of sealed blocks of one plaintext, and
// reports the first repeat.
type bodyWindows struct {
	seed maphash.Seed
	n    int
	seen []map[uint64]int // per offset: window hash -> index of the block
}

func newBodyWindows(overhead, n, expected int) *bodyWindows {
	w := &bodyWindows{seed: maphash.MakeSeed(), n: n, seen: make([]map[uint64]int, overhead+1)}
	for i := range w.seen {
		w.seen[i] = make(map[uint64]int, expected)
	}
	return w
}

// add records sealed as block i and returns the offset and earlier block
// of a repeated window, or -1.
func (w *bodyWindows) add(i int, sealed []byte) (offset, earlier int) {
	for h := range w.seen {
		if h+w.n > len(sealed) {
			break
		}
		sum := maphash.Bytes(w.seed, sealed[h:h+w.n])
		if j, dup := w.seen[h][sum]; dup {
			return h, j
		}
		w.seen[h][sum] = i
	}
	return -1, -1
}

func testCipherNonceUniqueness(t T, c0, c0b interfaces.Cipher, s int64) {
	r := partRand(s, "NonceUniqueness")
	n := 10000
	if short(t) {
		n = 2000
	}
	o, ok := cipherOverhead(t, c0)
	if !ok || o < 0 {
		return
	}
	p := randomBytes(r, o+32)
	ad := []byte("the same block, sealed again and again")
	whole := make(map[string]int, n)
	windows := newBodyWindows(o, len(p), n)
	budget := newFailBudget(t, 3)
	for i := 0; i < n && !budget.exhausted(); i++ {
		c := c0
		if i%2 == 1 {
			c = c0b
		}
		sealed := sealOrFail(t, c, p, ad)
		if sealed == nil {
			budget.t.Fail()
			continue
		}
		if j, dup := whole[string(sealed)]; dup {
			budget.errorf("seals #%d and #%d of one plaintext are identical: Seal must use a fresh nonce every call (across instances of a key too)", j, i)
			continue
		}
		whole[string(sealed)] = i
		if h, j := windows.add(i, sealed); h >= 0 {
			budget.errorf("seals #%d and #%d of one plaintext share the %d bytes at offset %d: the keystream (nonce) was reused",
				j, i, len(p), h)
		}
	}
}

// xorRevealsPlaintexts reports the offset h at which s1[h:h+n] XOR
// s2[h:h+n] equals p1 XOR p2 (n = len(p1) = len(p2)), or -1.
func xorRevealsPlaintexts(s1, s2, p1, p2 []byte, overhead int) int {
	n := len(p1)
	for h := 0; h <= overhead; h++ {
		if h+n > len(s1) || h+n > len(s2) {
			break
		}
		match := true
		for i := 0; i < n; i++ {
			if s1[h+i]^s2[h+i] != p1[i]^p2[i] {
				match = false
				break
			}
		}
		if match {
			return h
		}
	}
	return -1
}

func testCipherKeystreamReuse(t T, c0 interfaces.Cipher, newCipher CipherFactory, s int64) {
	r := partRand(s, "KeystreamReuse")
	o, ok := cipherOverhead(t, c0)
	if !ok || o < 0 {
		return
	}
	n := o + 32
	ad := []byte("keystream reuse probe")
	budget := newFailBudget(t, 3)
	check := func(what string, a, b interfaces.Cipher) {
		p1, p2 := randomBytes(r, n), randomBytes(r, n)
		s1, s2 := sealOrFail(t, a, p1, ad), sealOrFail(t, b, p2, ad)
		if s1 == nil || s2 == nil {
			return
		}
		if h := xorRevealsPlaintexts(s1, s2, p1, p2, o); h >= 0 {
			budget.errorf("%s: the XOR of two sealed blocks at offset %d is the XOR of their plaintexts: the keystream (nonce) was reused", what, h)
		}
	}
	// Fresh instances: a nonce counter that starts alike in every
	// instance repeats on their first seals.
	for i := 0; i < 3; i++ {
		a := newCipherOrFatal(t, newCipher, 0)
		b := newCipherOrFatal(t, newCipher, 0)
		check(fmt.Sprintf("first seals of two fresh instances of key 0 (try %d)", i+1), a, b)
	}
	for i := 0; i < 64 && !budget.exhausted(); i++ {
		check(fmt.Sprintf("pair %d of one instance", i), c0, c0)
	}
}

func testCipherConcurrent(t T, c0, c0b interfaces.Cipher, s int64) {
	workers, iters := 8, 200
	if short(t) {
		workers, iters = 4, 50
	}
	common := []byte("sealed by every goroutine at once")
	ad := []byte("concurrent")
	budget := newFailBudget(t, 5)
	var mu sync.Mutex
	seals := make(map[string]bool, workers*iters)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := partRand(s, fmt.Sprintf("Concurrent/%d", w))
			var buf []byte
			for i := 0; i < iters && !budget.exhausted(); i++ {
				sealer, opener := c0, c0b
				if (w+i)%2 == 1 {
					sealer, opener = c0b, c0
				}
				p := randomBytes(r, r.IntN(4<<10))
				myAD := randomBytes(r, r.IntN(32))
				sealed, err := cipherSeal(t, sealer, buf[:0], p, myAD)
				if err != nil {
					budget.errorf("worker %d: Seal: %v", w, err)
					continue
				}
				buf = sealed
				out, err := cipherOpen(t, opener, nil, sealed, myAD)
				if err != nil || !bytes.Equal(out, p) {
					budget.errorf("worker %d: concurrent round trip of %d bytes failed: %v", w, len(p), err)
				}
				same, err := cipherSeal(t, sealer, nil, common, ad)
				if err != nil {
					budget.errorf("worker %d: Seal: %v", w, err)
					continue
				}
				mu.Lock()
				dup := seals[string(same)]
				seals[string(same)] = true
				mu.Unlock()
				if dup {
					budget.errorf("worker %d: two concurrent seals of one plaintext are identical: nonce reused", w)
				}
			}
		}()
	}
	wg.Wait()
}

// cipherSample is a plaintext, its additional data, and its sealed form.
type cipherSample struct {
	p, ad, sealed []byte
}

func testCipherClose(t T, c0 interfaces.Cipher, newCipher CipherFactory, early cipherSample) {
	c := newCipherOrFatal(t, newCipher, 0)
	p, ad := []byte("sealed before Close"), []byte("ad")
	sealed := sealOrFail(t, c, p, ad)
	if sealed == nil {
		return
	}
	var err error
	if !guardPart(t, "Close", func() { err = c.Close() }) {
		return
	}
	if err != nil {
		t.Errorf("Close: %v", err)
	}
	if out, err := cipherSeal(t, c, nil, p, ad); err != errPartPanicked && !errors.Is(err, interfaces.ErrClosed) {
		t.Errorf("Seal after Close: %d bytes, err %v; want ErrClosed", len(out), err)
	}
	if out, err := cipherOpen(t, c, nil, sealed, ad); err != errPartPanicked && !errors.Is(err, interfaces.ErrClosed) {
		t.Errorf("Open after Close: %d bytes, err %v; want ErrClosed", len(out), err)
	}
	if guardPart(t, "a second Close", func() { err = c.Close() }) && err != nil && !errors.Is(err, interfaces.ErrClosed) {
		t.Errorf("a second Close: %v; want nil or ErrClosed", err)
	}
	// Closing one instance drops its key material, not the key's: other
	// instances keep working, on blocks sealed at any time.
	out, err := cipherOpen(t, c0, nil, sealed, ad)
	if err != nil || !bytes.Equal(out, p) {
		t.Errorf("after closing one instance of key 0, another could not open its block: %v", err)
	}
	if early.sealed != nil {
		out, err := cipherOpen(t, c0, nil, early.sealed, early.ad)
		if err != nil || !bytes.Equal(out, early.p) {
			t.Errorf("after other instances of key 0 were closed, a block it sealed at the start no longer opens: %v", err)
		}
	}
}
