//go:build !race

package libnmdb

import (
	"context"
	"testing"
)

// TestDirectPathNoAllocations: a call alone on its link allocates
// nothing, over TCP and UDP, also on a connection in blocking mode
// (ThreadWait).
func TestDirectPathNoAllocations(t *testing.T) {
	for _, o := range []struct {
		network    string
		threadWait bool
	}{{"tcp", false}, {"udp", false}, {"tcp", true}, {"udp", true}} {
		network := o.network
		c, _ := directClient(t, network, Options{ThreadWait: o.threadWait})
		ctx := context.Background()
		key, val := []byte("k"), []byte("v")
		buf := make([]byte, 0, 16)
		allocs := testing.AllocsPerRun(200, func() {
			if err := c.CacheSet(ctx, key, val); err != nil {
				t.Fatal(err)
			}
			var err error
			if buf, err = c.AppendCacheGet(ctx, buf[:0], key); err != nil {
				t.Fatal(err)
			}
		})
		if o.threadWait && c.blockingCalls() == 0 {
			t.Errorf("%s, ThreadWait: no call went on a connection in blocking mode", network)
		}
		if allocs != 0 {
			t.Errorf("%s, ThreadWait %v: %.1f allocations per set and get alone, want 0", network, o.threadWait, allocs)
		}
	}
}
