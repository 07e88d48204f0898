package nmdb

import (
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/internal/version"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// TestStatsAfterClassic: the stats reply starts with the 23 classic counters
// in classic order, then this server's own, among them uptime, version, open
// connections and role, in that order.
func TestStatsAfterClassic(t *testing.T) {
	before := time.Now()
	ts := startServer(t, serverOpts{})
	after := time.Now()

	// Three connections besides the one that asks.
	for range 3 {
		c := ts.dial()
		expect(t, "set", c.Do(setReq("k", "v", wire.FlagSync)), wire.CodeOK)
	}
	c := ts.dial()
	expect(t, "get", c.Do(getReq("k", 0)), wire.CodeCacheHit, "v")
	sinceAfter := time.Since(after)
	r := c.Do(wire.Request{Op: wire.OpStats})
	sinceBefore := time.Since(before)
	expect(t, "stats", r, wire.CodeOK)
	st, err := r.Counters(nil)
	if err != nil || len(st) != wire.NumStats {
		t.Fatalf("stats: %d counters, %v; want %d", len(st), err, wire.NumStats)
	}
	// The classic counters keep their places.
	if st[wire.StatDBSet] != 3 || st[wire.StatDBGet] != 1 || st[wire.StatCacheHits] != 1 || st[wire.StatMsgTCP] != 5 {
		t.Errorf("classic counters: db set %d, db get %d, cache hits %d, msg tcp %d; want 3, 1, 1, 5",
			st[wire.StatDBSet], st[wire.StatDBGet], st[wire.StatCacheHits], st[wire.StatMsgTCP])
	}
	order := []int{wire.StatUptime, wire.StatVersion, wire.StatOpenConns, wire.StatRole}
	for i, idx := range order {
		if idx < wire.ClassicStats {
			t.Fatalf("%s at %d, inside the classic counters", wire.StatName(idx), idx)
		}
		if i > 0 && idx != order[i-1]+1 {
			t.Errorf("%s at %d, want right after %s", wire.StatName(idx), idx, wire.StatName(order[i-1]))
		}
	}
	if up := st[wire.StatUptime]; up > uint64(sinceBefore/time.Second) || up < uint64(sinceAfter/time.Second) {
		t.Errorf("uptime %d s, want between %v and %v", up, sinceAfter, sinceBefore)
	}
	if st[wire.StatVersion] != version.Number() || version.FormatNumber(st[wire.StatVersion]) != version.Release {
		t.Errorf("version %d, want %d (%s)", st[wire.StatVersion], version.Number(), version.Release)
	}
	if st[wire.StatOpenConns] != 4 {
		t.Errorf("open connections %d, want 4", st[wire.StatOpenConns])
	}
	if st[wire.StatRole] != wire.RoleActive {
		t.Errorf("role %d (%s), want active", st[wire.StatRole], wire.RoleName(st[wire.StatRole]))
	}

	// A connection that goes away is no longer counted; passive mode shows
	// in the role (read locally: a passive server does not reply).
	c.Conn.Close()
	deadline := time.Now().Add(ioTimeout)
	for ts.stat(wire.StatOpenConns) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("open connections stuck at %d after a close, want 3", ts.stat(wire.StatOpenConns))
		}
		time.Sleep(time.Millisecond)
	}
	ts.s.SetPassive(true)
	if r := ts.stat(wire.StatRole); r != wire.RolePassive || wire.RoleName(r) != "passive" {
		t.Errorf("role in passive mode: %d (%s)", r, wire.RoleName(r))
	}
	ts.s.SetPassive(false)
	if r := ts.stat(wire.StatRole); r != wire.RoleActive || wire.RoleName(r) != "active" {
		t.Errorf("role back in active mode: %d (%s)", r, wire.RoleName(r))
	}
}

// TestGetNoFill: a get with FlagNoFill is answered from the cache or the
// database as any get, but leaves a value read from the database out of
// the cache.
func TestGetNoFill(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.dial()
	expect(t, "set", c.Do(setReq("k", "v", wire.FlagSync)), wire.CodeOK)
	expect(t, "cache-only del", c.Do(delReq("k", wire.FlagCacheOnly)), wire.CodeOK)
	if n := ts.stat(wire.StatObjectsCached); n != 0 {
		t.Fatalf("%d objects cached after the cache-only del, want 0", n)
	}
	for i := range 2 {
		expect(t, "no-fill get from the database", c.Do(getReq("k", wire.FlagNoFill)), wire.CodeOK, "v")
		if n := ts.stat(wire.StatObjectsCached); n != 0 {
			t.Fatalf("no-fill get %d cached the value (%d objects cached)", i, n)
		}
	}
	expect(t, "no-fill get of an absent key", c.Do(getReq("absent", wire.FlagNoFill)), wire.CodeNotIn)
	// A plain get fills the cache; a no-fill get then hits it.
	expect(t, "get", c.Do(getReq("k", 0)), wire.CodeOK, "v")
	if n := ts.stat(wire.StatObjectsCached); n != 1 {
		t.Fatalf("%d objects cached after a plain get, want 1", n)
	}
	expect(t, "no-fill get from the cache", c.Do(getReq("k", wire.FlagNoFill)), wire.CodeCacheHit, "v")
	if got := ts.stat(wire.StatDBGet); got != 5 {
		t.Errorf("db get = %d, want 5 (no-fill gets count as gets)", got)
	}
}
