package libnmdb_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// TestServerStats: the counters of a real server and of a classic one, by
// name.
func TestServerStats(t *testing.T) {
	srv := nmdbtest.Start(t, "tcp", nmdb.Config{})
	cs := nmdbtest.StartClassic(t)
	c := libnmdb.New(libnmdb.Options{})
	defer c.Close()
	for _, port := range []int{srv.Port(), cs.Port()} {
		if err := c.AddTCPServer("127.0.0.1", port); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	// One key on each server, by the client's own sharding.
	var keys [2][]byte
	for i := 0; keys[0] == nil || keys[1] == nil; i++ {
		if i == 1000 {
			t.Fatal("1000 keys, all on one server")
		}
		k := []byte(fmt.Sprintf("%d-key", i))
		if n := c.Shard(k); keys[n] == nil {
			keys[n] = k
		}
	}
	for _, k := range keys {
		if err := c.CacheSet(ctx, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CacheGet(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	st, err := c.ServerStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Servers are held in sharding order, not in the order added.
	oi, ci := 0, 1
	if strings.HasSuffix(c.Servers()[0], fmt.Sprintf(":%d", cs.Port())) {
		oi, ci = 1, 0
	}
	ours := st[oi]
	if ours.Classic || len(ours.Raw) != wire.NumStats {
		t.Errorf("our server: classic %v with %d counters", ours.Classic, len(ours.Raw))
	}
	if ours.CacheSet != 1 || ours.CacheGet != 1 || ours.CacheHits != 1 || ours.MsgTCP < 2 {
		t.Errorf("our server: cache set %d, get %d, hits %d, TCP messages %d; want 1, 1, 1, >= 2",
			ours.CacheSet, ours.CacheGet, ours.CacheHits, ours.MsgTCP)
	}
	if ours.Version == 0 || ours.ObjectsCached != 1 || ours.BytesCached == 0 || ours.Role != wire.RoleActive {
		t.Errorf("our server: version %d, objects %d, bytes %d, role %d", ours.Version, ours.ObjectsCached, ours.BytesCached, ours.Role)
	}
	classic := st[ci]
	if !classic.Classic || len(classic.Raw) != wire.ClassicStats || classic.Version != 0 || classic.Uptime != 0 {
		t.Errorf("classic server: classic %v, %d counters, version %d, uptime %v", classic.Classic, len(classic.Raw), classic.Version, classic.Uptime)
	}
}

// TestServerStatsEveryCounter: every counter a server sends has its field.
func TestServerStatsEveryCounter(t *testing.T) {
	raw := make([]uint64, wire.NumStats)
	for i := range raw {
		raw[i] = uint64(i) + 1
	}
	s := libnmdb.NewServerStatsForTest(raw)
	seen := map[uint64]bool{}
	v := reflect.ValueOf(s)
	for i := range v.NumField() {
		f := v.Field(i)
		switch v.Type().Field(i).Name {
		case "Raw", "Classic":
		case "Uptime":
			seen[uint64(s.Uptime.Seconds())] = true
		default:
			seen[f.Uint()] = true
		}
	}
	for i := range raw {
		if !seen[raw[i]] {
			t.Errorf("counter %d (%s) has no field", i, wire.StatName(i))
		}
	}
}
