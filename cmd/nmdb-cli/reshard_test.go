package main

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"testing"

	"github.com/nmdb-go/nmdb/libnmdb"
)

// userPairs returns n pairs user:I -> value-I.
func userPairs(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("user:%d", i)] = fmt.Sprintf("value-%d", i)
	}
	return m
}

// reshardReport runs reshard with args and returns the keys it walked and
// the keys it moved (or would move), from its report.
func reshardReport(t *testing.T, args ...string) (seen, moved int) {
	t.Helper()
	r := must(t, exitOK, "", args...)
	m := regexp.MustCompile(`: walked (\d+) keys, (?:moved|would move) (\d+) `).FindStringSubmatch(r.err)
	if m == nil {
		t.Fatalf("report %q", r.err)
	}
	seen, _ = strconv.Atoi(m[1])
	moved, _ = strconv.Atoi(m[2])
	return seen, moved
}

// TestReshard moves pairs stored under the classic rule to the rendezvous
// rule's placement and back, and after a server is added: every pair ends
// up on the server the rule picks, none is lost or duplicated, and only
// misplaced keys move.
func TestReshard(t *testing.T) {
	pairs := userPairs(300)
	a, b, c := startServer(t), startServer(t), startServer(t)
	three := []string{"-s", a, "-s", b, "-s", c}
	classic := clientWith(t, libnmdb.ShardingClassic, a, b, c)
	for k, v := range pairs {
		if err := classic.SetSync(context.Background(), []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	checkShardedWith(t, libnmdb.ShardingClassic, pairs, a, b, c)

	// How many keys the rendezvous rule places elsewhere.
	rv := clientWith(t, libnmdb.ShardingRendezvous, a, b, c)
	misplaced := 0
	for k := range pairs {
		if rv.Servers()[rv.Shard([]byte(k))] != classic.Servers()[classic.Shard([]byte(k))] {
			misplaced++
		}
	}
	if misplaced == 0 {
		t.Fatal("the rules agree on every key; the test would prove nothing")
	}

	// A dry run counts them and moves nothing.
	seen, moved := reshardReport(t, append(three, "-sharding", "rendezvous", "reshard", "-dry-run")...)
	if seen != len(pairs) || moved != misplaced {
		t.Fatalf("dry run: %d keys, %d to move; want %d, %d", seen, moved, len(pairs), misplaced)
	}
	checkShardedWith(t, libnmdb.ShardingClassic, pairs, a, b, c)

	// A key a rendezvous client already wrote at its new place keeps
	// that value; the old copy goes.
	newer := maps.Clone(pairs)
	for k := range pairs {
		if rv.Servers()[rv.Shard([]byte(k))] != classic.Servers()[classic.Shard([]byte(k))] {
			newer[k] = "written under rendezvous"
			if err := rv.SetSync(context.Background(), []byte(k), []byte(newer[k])); err != nil {
				t.Fatal(err)
			}
			break
		}
	}

	t.Setenv("NMDB_SHARDING", "rendezvous") // the rule from the environment
	seen, moved = reshardReport(t, append(three, "reshard")...)
	// Keys moved to a server walked later are walked there again.
	if seen < len(pairs)+1 || moved != misplaced {
		t.Fatalf("reshard: walked %d keys, moved %d; want at least %d, and %d", seen, moved, len(pairs)+1, misplaced)
	}
	checkShardedWith(t, libnmdb.ShardingRendezvous, newer, a, b, c)
	// In place: nothing moves.
	if _, moved := reshardReport(t, append(three, "reshard")...); moved != 0 {
		t.Fatalf("second reshard moved %d", moved)
	}

	// A fourth server takes only its share, about a quarter.
	d := startServer(t)
	four := append(three, "-s", d)
	_, moved = reshardReport(t, append(four, "reshard")...)
	if moved == 0 || moved > len(pairs)/4*3/2 {
		t.Fatalf("adding a server moved %d of %d keys", moved, len(pairs))
	}
	checkShardedWith(t, libnmdb.ShardingRendezvous, newer, a, b, c, d)

	// And back to the classic rule, from the command line.
	reshardReport(t, append(four, "-sharding", "classic", "reshard")...)
	checkShardedWith(t, libnmdb.ShardingClassic, newer, a, b, c, d)

	must(t, exitUsage, "", append(three, "-sharding", "modulo", "reshard")...)
}
