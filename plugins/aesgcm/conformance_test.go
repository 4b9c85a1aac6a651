package aesgcm_test

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/vfs"
)

// testKey returns the 32-byte key material of key n.
func testKey(n int) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "aesgcm test key %d", n))
	return sum[:]
}

// TestConformanceNew runs the suite on ciphers made by New from raw keys.
func TestConformanceNew(t *testing.T) {
	conformance.TestCipher(t, func(key int) (interfaces.Cipher, error) { return aesgcm.New(testKey(key)) })
}

// TestConformanceRegistry runs the suite on registry-backed ciphers: key n
// is the registry of master key n on one MemFS. The first instance of a key
// opens the registry; later ones share its keys, as two handles must (one
// registry has one writer), and may outlive it.
func TestConformanceRegistry(t *testing.T) {
	fs := vfs.NewMem()
	var mu sync.Mutex
	first := map[int]*aesgcm.Cipher{}
	conformance.TestCipher(t, func(key int) (interfaces.Cipher, error) {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := first[key]; ok {
			return c.Share()
		}
		c, err := aesgcm.Open(aesgcm.Options{
			FS: fs, Path: fmt.Sprintf("reg%d/KEYS", key), Master: aesgcm.StaticKey(testKey(key)),
			ReserveChunk: 1000, // many reservations during the suite
		})
		if err != nil {
			return nil, err
		}
		first[key] = c
		return c.Share()
	})
	mu.Lock()
	defer mu.Unlock()
	for _, c := range first {
		require.NoError(t, c.Close())
	}
}

func TestDescribe(t *testing.T) {
	c, err := aesgcm.New(testKey(0))
	require.NoError(t, err)
	defer c.Close()
	d := c.Describe()
	require.Equal(t, aesgcm.Descriptor(), d)
	require.Equal(t, interfaces.KindCipher, d.Kind)
	require.Equal(t, "aesgcm", d.Name)
	require.Equal(t, aesgcm.Overhead, c.Overhead())
	require.Equal(t, 33, aesgcm.Overhead)
}
