// Package page holds the on-disk formats of the B+tree engine
// (plugins/btree): the page header, leaf and branch node images, the meta
// page and free-list records. It is pure: encoders append to byte slices and
// decoders read them, with no I/O, so every decoder can be fuzzed on its own.
//
// # Trust
//
// A decoder never panics and never reads out of bounds, whatever bytes it is
// given: Verify checks a page's checksum and header, and ValidateLeaf /
// ValidateBranch check every offset, length and varint of a node image and
// the order of its keys. The accessors of Leaf and Branch (Entry, Search,
// Child) assume an image that passed validation: the engine validates an
// image once, when it first reads it from the file, and keeps only validated
// images in its cache.
//
// # Page layout
//
// Every page is PageSize bytes (a power of two from MinPageSize to
// MaxPageSize). All integers are little-endian except where noted;
// CRC-32C is the Castagnoli CRC.
//
//	header, HeaderSize (40) bytes, never sealed
//	  0   4  CRC-32C of bytes 4..PageSize of the page
//	  4   1  page type: 1 meta, 2 branch, 3 leaf, 4 value, 5 free-list
//	  5   1  flags: bit 0 payload sealed by the Cipher, bit 1 blob
//	         compressed by the codec named in byte 6 (first page of a
//	         blob only), bit 2 continuation page of a blob; other bits 0
//	  6   1  codec ID of a compressed blob, else 0
//	  7   1  reserved, 0
//	  8   8  page id: the page's own number, so a misdirected read or
//	         write is caught
//	  16  8  generation: the transaction that wrote the page
//	  24  8  next: the id of the blob's next page, 0 on its last page
//	  32  4  payload length n in this page
//	  36  4  first page of a blob: the blob's length after unsealing and
//	         decompression; continuation pages: 0
//	40  n  payload; the rest of the page is zero
//
// A blob is a byte string stored in a chain of pages of one type and one
// generation: a node image (leaf or branch), an out-of-line value, or a
// free-list record. A blob that fits one page's capacity takes one page.
// When sealed, each page's payload is sealed on its own with the additional
// data AD(id, gen, type), so a page moved or replayed from another
// generation fails to open.
package page
