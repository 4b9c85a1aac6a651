package lockmgr

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHashCollisions forces keys onto one hash, which maphash makes
// practically impossible to reach through Lock, and checks that the chain
// keeps them apart through every order of removal.
func TestHashCollisions(t *testing.T) {
	orders := [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}, {1, 2, 0}, {0, 2, 1}, {2, 0, 1}}
	for _, order := range orders {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			s := &keyShard{locks: make(map[uint64]*entry)}
			const h = 42
			keys := []string{"x", "y", ""}
			var es []*entry
			for i, k := range keys {
				require.Nil(t, s.findLocked(h, []byte(k)))
				es = append(es, s.insertLocked(h, []byte(k), TxnID(i+1)))
			}
			require.Len(t, s.locks, 1, "one hash, one map slot")
			require.Equal(t, 3, s.n)
			require.Nil(t, s.findLocked(h, []byte("z")))
			require.Nil(t, s.findLocked(h+1, []byte("x")))
			gone := map[int]bool{}
			for _, i := range order {
				s.removeLocked(es[i])
				gone[i] = true
				for j, k := range keys {
					e := s.findLocked(h, []byte(k))
					if gone[j] {
						require.Nil(t, e, "key %q after removing %v", k, order)
					} else {
						require.NotNil(t, e, "key %q after removing %v", k, order)
						require.Equal(t, TxnID(j+1), e.holder)
					}
				}
			}
			require.Empty(t, s.locks)
			require.Zero(t, s.n)
			require.Equal(t, 3, s.nfree)
		})
	}
}

func TestFreeListsAreBounded(t *testing.T) {
	s := &keyShard{locks: make(map[uint64]*entry)}
	var es []*entry
	for i := range maxFree + 10 {
		es = append(es, s.insertLocked(uint64(i), fmt.Appendf(nil, "k%d", i), 1))
	}
	es[0].waiters = make([]*waiter, 0, maxKeptWaiters+1)
	for _, e := range es {
		s.removeLocked(e)
	}
	require.Equal(t, maxFree, s.nfree)
	for e := s.free; e != nil; e = e.next {
		require.LessOrEqual(t, cap(e.waiters), maxKeptWaiters)
	}
	// Reuse takes from the free list and leaves nothing of the old life.
	e := s.insertLocked(7, []byte("new"), 9)
	require.Equal(t, maxFree-1, s.nfree)
	require.Equal(t, entry{key: "new", hash: 7, shard: s, holder: 9, waiters: e.waiters}, *e)
	require.Empty(t, e.waiters)

	ts := &txnShard{txns: make(map[TxnID]*txnState)}
	var sts []*txnState
	for i := range maxFree + 10 {
		ts.addLocked(TxnID(i), e)
		sts = append(sts, ts.takeLocked(TxnID(i)))
	}
	big := &txnState{held: make([]*entry, 1, maxKeptHeld+1)}
	ts.recycleLocked(big)
	for _, st := range sts {
		ts.recycleLocked(st)
	}
	require.Len(t, ts.free, maxFree)
	require.NotContains(t, ts.free, big)
	for _, st := range ts.free {
		require.Empty(t, st.held)
	}
	require.Nil(t, ts.takeLocked(12345))
}
