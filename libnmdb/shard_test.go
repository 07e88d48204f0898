package libnmdb_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmdb-go/nmdb/libnmdb"
)

// spreadKeys is how many keys the spread and movement tests place. With
// fewer, the noise of any hash (one standard deviation is sqrt(k/n) keys
// per server) is too close to the tolerance to say anything: 4 % of an
// even share on 16 servers for 10,000 keys, 1.2 % for 100,000.
const spreadKeys = 100_000

// userKeys returns user:0 .. user:(n-1), keys that differ only at their
// end.
func userKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "user:%d", i)
	}
	return keys
}

// identitySets returns n server identities in each of the forms a client
// makes: IPv4 hosts on one port, one host on several ports, IPv6 hosts,
// TIPC ports.
func identitySets(n int) map[string][]string {
	sets := map[string][]string{}
	for i := range n {
		sets["hosts"] = append(sets["hosts"], fmt.Sprintf("10.0.0.%d:26010", i+1))
		sets["ports"] = append(sets["ports"], fmt.Sprintf("127.0.0.1:%d", 26010+i))
		sets["ipv6"] = append(sets["ipv6"], fmt.Sprintf("[fd00::%x]:26010", i+1))
		sets["tipc"] = append(sets["tipc"], fmt.Sprintf("tipc:%d", 10+i))
	}
	return sets
}

// counts places keys on servers under rule r and counts the keys per
// server.
func counts(r libnmdb.Sharding, keys [][]byte, servers []string) []int {
	c := make([]int, len(servers))
	for _, k := range keys {
		c[r.Select(k, servers)]++
	}
	return c
}

// worstSpread returns the largest distance of a count from an even share,
// as a fraction of that share.
func worstSpread(c []int, total int) float64 {
	even := float64(total) / float64(len(c))
	worst := 0.0
	for _, n := range c {
		d := (float64(n) - even) / even
		worst = max(worst, d, -d)
	}
	return worst
}

func joinCounts(c []int) string {
	s := make([]string, len(c))
	for i, n := range c {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, " / ")
}

// TestRendezvousSpread places user:N keys on 2 to 16 servers: every
// server gets within 5 % of an even share, for every form of identity.
func TestRendezvousSpread(t *testing.T) {
	keys := userKeys(spreadKeys)
	for n := 2; n <= 16; n++ {
		for name, ids := range identitySets(n) {
			c := counts(libnmdb.ShardingRendezvous, keys, ids)
			w := worstSpread(c, len(keys))
			if w > 0.05 {
				t.Errorf("%s, %d servers: %s: %.1f %% from even", name, n, joinCounts(c), 100*w)
			}
			if n <= 4 && name == "hosts" {
				t.Logf("rendezvous, %d servers: %s", n, joinCounts(c))
			}
		}
	}
}

// TestClassicDoesNotSpread documents the classic rule's behaviour on the
// same keys (SPEC section 4): what rendezvous is an opt-in against.
func TestClassicDoesNotSpread(t *testing.T) {
	keys := userKeys(spreadKeys)
	ids := identitySets(2)["hosts"]
	c := counts(libnmdb.ShardingClassic, keys, ids)
	if c[0] != 0 {
		t.Errorf("classic, 2 servers: %s; the classic rule puts all of user:N on server 1", joinCounts(c))
	}
	for n := 2; n <= 4; n++ {
		t.Logf("classic, %d servers: %s", n, joinCounts(counts(libnmdb.ShardingClassic, keys, identitySets(n)["hosts"])))
	}
}

// TestRendezvousMovement adds a server to n and removes each of n in
// turn: only keys of the server added or removed move, about 1/(n+1) of
// all, and no other key changes server.
func TestRendezvousMovement(t *testing.T) {
	keys := userKeys(spreadKeys)
	for _, n := range []int{1, 2, 3, 4, 7, 8, 15, 16} {
		for name, all := range identitySets(n + 1) {
			if name != "hosts" && name != "tipc" {
				continue // spare the machine: the spread test covers every form
			}
			before := all[:n]
			placed := make([]int, len(keys))
			for i, k := range keys {
				placed[i] = libnmdb.ShardingRendezvous.Select(k, before)
			}
			// Added: the new server is last, in any order the rule
			// depends only on identities.
			moved := 0
			for i, k := range keys {
				got := libnmdb.ShardingRendezvous.Select(k, all)
				if got == placed[i] {
					continue
				}
				if got != n {
					t.Fatalf("%s, %d->%d servers: key %q moved from %d to %d, not to the new server", name, n, n+1, k, placed[i], got)
				}
				moved++
			}
			limit := 1.05 * float64(len(keys)) / float64(n+1)
			if float64(moved) > limit {
				t.Errorf("%s, %d->%d servers: %d keys moved, more than %.0f", name, n, n+1, moved, limit)
			}
			if moved == 0 {
				t.Errorf("%s, %d->%d servers: no key moved to the new server", name, n, n+1)
			}
			if name == "hosts" && (n <= 3 || n == 16) {
				cl := classicMoved(keys, n)
				t.Logf("%d->%d servers: rendezvous moves %d (%.1f %%), classic %d (%.1f %%)",
					n, n+1, moved, 100*float64(moved)/float64(len(keys)), cl, 100*float64(cl)/float64(len(keys)))
			}
		}
	}
	// Removed: with n servers, dropping server r moves exactly its keys,
	// each to the server that had the next highest weight.
	for _, n := range []int{2, 5, 16} {
		all := identitySets(n)["hosts"]
		for _, r := range []int{0, n / 2, n - 1} {
			rest := append(append([]string(nil), all[:r]...), all[r+1:]...)
			moved := 0
			for _, k := range keys {
				was := libnmdb.ShardingRendezvous.Select(k, all)
				now := libnmdb.ShardingRendezvous.Select(k, rest)
				if now >= r {
					now++ // index in all
				}
				switch {
				case was == r:
					moved++
				case now != was:
					t.Fatalf("%d servers less %d: key %q moved from %d to %d", n, r, k, was, now)
				}
			}
			if limit := 1.05 * float64(len(keys)) / float64(n); float64(moved) > limit {
				t.Errorf("%d servers less %d: %d keys moved, more than %.0f", n, r, moved, limit)
			}
		}
	}
}

// classicMoved counts the keys the classic rule places differently on n
// and n+1 servers.
func classicMoved(keys [][]byte, n int) int {
	moved := 0
	for _, k := range keys {
		if libnmdb.Select(k, n) != libnmdb.Select(k, n+1) {
			moved++
		}
	}
	return moved
}

// TestRendezvousOrderFree: the rule depends on the servers' identities,
// not on their order, except for the index it returns.
func TestRendezvousOrderFree(t *testing.T) {
	ids := identitySets(5)["hosts"]
	rev := make([]string, len(ids))
	for i, id := range ids {
		rev[len(ids)-1-i] = id
	}
	for _, k := range userKeys(2000) {
		a := ids[libnmdb.ShardingRendezvous.Select(k, ids)]
		b := rev[libnmdb.ShardingRendezvous.Select(k, rev)]
		if a != b {
			t.Fatalf("key %q: %s in one order, %s in the other", k, a, b)
		}
	}
}

// TestShardingClassicVectors: the classic rule through Sharding.Select
// still picks what the compatibility vectors say.
func TestShardingClassicVectors(t *testing.T) {
	checkVectorsWith(t, filepath.Join("testdata", "select.tsv"), func(key []byte, n int) int {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("10.0.0.%d:26010", i+1)
		}
		return libnmdb.ShardingClassic.Select(key, ids)
	})
}

func TestParseSharding(t *testing.T) {
	for in, want := range map[string]libnmdb.Sharding{
		"": libnmdb.ShardingClassic, "classic": libnmdb.ShardingClassic,
		"rendezvous": libnmdb.ShardingRendezvous, "HRW": libnmdb.ShardingRendezvous,
	} {
		got, err := libnmdb.ParseSharding(in)
		if err != nil || got != want {
			t.Errorf("ParseSharding(%q) = %v, %v; want %v", in, got, err, want)
		}
		if in != "" && in != "HRW" && got.String() != in {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	if _, err := libnmdb.ParseSharding("modulo"); err == nil {
		t.Error("ParseSharding(modulo) did not fail")
	}
}

// TestKeyHash64 pins the hash: clients in other languages can check their
// copy against it.
func TestKeyHash64(t *testing.T) {
	for in, want := range map[string]uint64{
		"":                0xefd01f60ba992926,
		"a":               0x82a2a958a9bece5b,
		"user:0":          0x6eaf32832a9c1c70,
		"127.0.0.1:26010": 0xf2b794de72f05e9f,
	} {
		if got := libnmdb.KeyHash64([]byte(in)); got != want {
			t.Errorf("KeyHash64(%q) = %#x, want %#x", in, got, want)
		}
	}
}
