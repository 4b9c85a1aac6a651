// Command lightning-aesgcm serves AES-256-GCM (plugins/aesgcm) as a
// Lightning cipher plugin: the host hands it the 32-byte key its
// configuration's key source holds, and the plugin makes a cipher of that
// key with aesgcm.New: the plugin protocol passes key material and nothing
// else, so there is no key registry; each plugin process seals under a
// data key derived from the key and a random key id of its own, rolling to
// a fresh id before 2^32 seals, and opens blocks under any id.
package main

import (
	"github.com/lightningdb/lightning/host/plugin"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
)

func main() {
	plugin.Serve(plugin.Parts{
		Cipher:           newCipher,
		CipherDescriptor: aesgcm.Descriptor(),
	})
}

// newCipher makes the cipher of key, returning a nil interface (not a nil
// *aesgcm.Cipher) on error.
func newCipher(key []byte) (interfaces.Cipher, error) {
	c, err := aesgcm.New(key)
	if err != nil {
		return nil, err
	}
	return c, nil
}
