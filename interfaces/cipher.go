package interfaces

// Cipher seals blocks with authenticated encryption. Engines and the WAL
// seal every block they write when a cipher is configured, passing where the
// block lives (file id and offset, or page id and generation) as additional
// data, so a block moved or swapped on disk fails to open.
//
// The sealed envelope names the key that sealed it, so keys can rotate: Open
// accepts blocks sealed under any key the cipher still holds.
//
// A nil and an empty ad are the same additional data (gRPC cannot tell them
// apart).
//
// Implementations are safe for concurrent use.
type Cipher interface {
	// Describe returns the part's self-description. Its Kind is
	// KindCipher.
	Describe() Descriptor

	// Seal appends the sealed form of plaintext, bound to ad, to dst and
	// returns the extended slice. Every call uses a fresh nonce, so sealing
	// the same plaintext twice gives different bytes. The result is exactly
	// Overhead() bytes longer than plaintext.
	Seal(dst, plaintext, ad []byte) ([]byte, error)

	// Open appends the plaintext of sealed to dst and returns the extended
	// slice. It returns an error matching ErrDecrypt when authentication
	// fails (any changed bit, other additional data, another key under the
	// same id), and one matching ErrKeyMismatch when the envelope names a
	// key the cipher does not hold. It never returns unauthenticated bytes.
	Open(dst, sealed, ad []byte) ([]byte, error)

	// Overhead returns the exact number of bytes Seal adds.
	Overhead() int

	// Close drops the key material (zeroing it where Go allows). Seal and
	// Open return ErrClosed afterwards.
	Close() error
}
