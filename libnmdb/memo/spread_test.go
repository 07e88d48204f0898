package memo_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/libnmdb/memo"
)

// digest is the digest a key made of rest begins with.
func digest(rest string) string {
	return fmt.Sprintf("%016x", libnmdb.KeyHash64([]byte(rest)))
}

// memoKeys returns the keys of one function, render/v3, for the arguments
// /page/0 .. /page/(n-1): arguments that differ only at their end.
func memoKeys(t *testing.T, n int) [][]byte {
	t.Helper()
	m := memo.New(nil, "render/v3", func(ctx context.Context, page string) (string, error) {
		return page, nil
	}, memo.Options{})
	keys := make([][]byte, n)
	for i := range keys {
		k, err := m.Key(fmt.Sprintf("/page/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	return keys
}

// TestKeysSpread places one function's keys on 2 to 16 servers under each
// sharding rule: every server gets within 10 % of an even share. 100,000
// keys, so that the noise of the hash (1.2 % of an even share at 16
// servers) leaves the tolerance its meaning.
func TestKeysSpread(t *testing.T) {
	keys := memoKeys(t, 100_000)
	for _, rule := range []libnmdb.Sharding{libnmdb.ShardingClassic, libnmdb.ShardingRendezvous} {
		for n := 2; n <= 16; n++ {
			if rule == libnmdb.ShardingRendezvous && n%3 != 2 {
				continue // its own tests cover it; a few sizes here
			}
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("10.0.0.%d:26010", i+1)
			}
			c := make([]int, n)
			for _, k := range keys {
				c[rule.Select(k, ids)]++
			}
			even := float64(len(keys)) / float64(n)
			for i, got := range c {
				if d := (float64(got) - even) / even; d > 0.10 || d < -0.10 {
					t.Errorf("%v, %d servers: server %d has %d keys, %.1f %% from even (%v)", rule, n, i, got, 100*d, c)
				}
			}
			if n <= 4 {
				t.Logf("%v, %d servers: %v", rule, n, c)
			}
		}
	}
}
