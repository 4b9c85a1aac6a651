package pagecache

import "github.com/lightningdb/lightning/interfaces"

// ShardOf returns the index of the shard k hashes to.
func ShardOf(c *Cache, k interfaces.CacheKey) int {
	s := c.shard(k)
	for i := range c.shards {
		if &c.shards[i] == s {
			return i
		}
	}
	return -1
}
