package pagecache_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/pagecache"
)

func TestConformance(t *testing.T) {
	conformance.TestCache(t, func(capacity int64) (interfaces.Cache, error) {
		return pagecache.New(capacity)
	})
}

func TestRejectsZeroCapacity(t *testing.T) {
	_, err := pagecache.New(0)
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}

// TestSecondChance checks the CLOCK policy: when a full shard must make
// room, an entry read since the hand last passed survives and one not read
// goes.
func TestSecondChance(t *testing.T) {
	c, err := pagecache.New(16) // eight shards of two bytes each
	require.NoError(t, err)
	defer c.Close()
	var keys []interfaces.CacheKey
	for i := uint64(0); len(keys) < 3; i++ {
		k := interfaces.CacheKey{Namespace: 1, Offset: i}
		if pagecache.ShardOf(c, k) == 0 {
			keys = append(keys, k)
		}
	}
	c.Set(keys[0], []byte("a"), 1)
	c.Set(keys[1], []byte("b"), 1)
	_, ok := c.Get(keys[0])
	require.True(t, ok)
	c.Set(keys[2], []byte("c"), 1)
	_, ok = c.Get(keys[0])
	require.True(t, ok, "the entry read since it was stored has a second chance")
	_, ok = c.Get(keys[1])
	require.False(t, ok, "the entry never read is evicted")
	st := c.Stats()
	require.Equal(t, int64(1), st.Evictions)
	require.Equal(t, int64(2), st.Entries)
	// An entry larger than a shard is refused and removes the old one.
	c.Set(keys[0], []byte("big"), 3)
	_, ok = c.Get(keys[0])
	require.False(t, ok)
}
