//go:build !race

package libnmdb

import (
	"context"
	"testing"
)

// TestDirectPathNoAllocations: a call alone on its link allocates
// nothing, over TCP and UDP.
func TestDirectPathNoAllocations(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		c, _ := directClient(t, network, Options{})
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
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per set and get alone, want 0", network, allocs)
		}
	}
}
