package nmdb

import (
	"testing"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// A catch-up's copied values never beat live writes: a key set or deleted
// live keeps the live outcome, a key changed live by incr is left for a
// second fetch, and the local keys can be walked for the ones to delete.
func TestCatchUpLiveWins(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.dial()
	sync := wire.FlagSync
	expect(t, "set old", c.Do(setReq("old", "local", sync)), wire.CodeOK)
	expect(t, "set gone", c.Do(setReq("gone", "local", sync)), wire.CodeOK)
	expect(t, "set ctr", c.Do(setReq("ctr", counterVal(1), sync)), wire.CodeOK)

	cu := ts.s.StartCatchUp()
	// Live writes while the copy runs.
	expect(t, "live set", c.Do(setReq("live", "live value", sync)), wire.CodeOK)
	expect(t, "live del", c.Do(delReq("gone", sync)), wire.CodeOK)
	expect(t, "live incr", c.Do(incrReq("ctr", 1, 0)), wire.CodeOK)
	// Cache-only writes do not touch the database: not noted.
	expect(t, "cache set", c.Do(setReq("conly", "c", wire.FlagCacheOnly)), wire.CodeOK)

	for _, kv := range [][2]string{{"live", "copied"}, {"gone", "copied"}, {"ctr", "copied"}, {"new", "copied"}, {"conly", "copied"}} {
		stored, err := cu.Copy([]byte(kv[0]), []byte(kv[1]))
		if err != nil {
			t.Fatal(err)
		}
		want := kv[0] == "new" || kv[0] == "conly"
		if stored != want {
			t.Errorf("Copy(%q) stored %v, want %v", kv[0], stored, want)
		}
	}
	rel := cu.Relative()
	if len(rel) != 1 || rel["ctr"] != 1 {
		t.Fatalf("Relative() = %v, want ctr once", rel)
	}
	// A second live incr makes the first refetch stale.
	expect(t, "live incr 2", c.Do(incrReq("ctr", 1, 0)), wire.CodeOK)
	if stored, err := cu.CopyAfter([]byte("ctr"), []byte(counterVal(40)), 1); err != nil || stored {
		t.Errorf("stale CopyAfter stored %v (%v)", stored, err)
	}
	if stored, err := cu.CopyAfter([]byte("ctr"), []byte(counterVal(42)), cu.Relative()["ctr"]); err != nil || !stored {
		t.Errorf("CopyAfter stored %v (%v)", stored, err)
	}
	if stored, err := cu.Delete([]byte("live")); err != nil || stored {
		t.Errorf("Delete of a live key stored %v (%v)", stored, err)
	}
	if stored, err := cu.Delete([]byte("old")); err != nil || !stored {
		t.Errorf("Delete(old) stored %v (%v)", stored, err)
	}
	if copied, deleted := cu.Counts(); copied != 3 || deleted != 1 {
		t.Errorf("Counts = %d copied, %d deleted; want 3, 1", copied, deleted)
	}
	cu.Finish()
	// After Finish live writes are not noted any more.
	expect(t, "set after", c.Do(setReq("after", "x", sync)), wire.CodeOK)
	if stored, _ := cu.Copy([]byte("after"), []byte("y")); !stored {
		t.Error("a write after Finish was noted")
	}
	expect(t, "set after again", c.Do(setReq("after", "x", sync)), wire.CodeOK)

	for _, kv := range [][2]string{{"live", "live value"}, {"new", "copied"}, {"ctr", counterVal(42)}, {"conly", "copied"}, {"after", "x"}} {
		expectVal(t, "get "+kv[0], c.Do(getReq(kv[0], 0)), kv[1])
	}
	for _, k := range []string{"gone", "old"} {
		expect(t, "get "+k, c.Do(getReq(k, 0)), wire.CodeNotIn)
	}
	var keys []string
	if err := cu.LocalKeys(func(k []byte) error { keys = append(keys, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 {
		t.Errorf("LocalKeys = %q, want 5 keys", keys)
	}
}

// The group's counters follow the classic ones; its role shows only while
// the server is passive.
func TestGroupStats(t *testing.T) {
	ts := startServer(t, serverOpts{})
	if ts.stat(wire.StatPromotions) != 0 || ts.stat(wire.StatCatchUps) != 0 {
		t.Fatal("group counters move without a group")
	}
	ts.s.SetGroupStats(func() GroupStats {
		return GroupStats{Role: wire.RoleMirror, Promotions: 2, StepDowns: 3, CatchUpKeys: 4, CatchUps: 5}
	})
	st := ts.s.Stats()
	if st[wire.StatRole] != wire.RoleActive {
		t.Errorf("role of an answering server: %s", wire.RoleName(st[wire.StatRole]))
	}
	if st[wire.StatPromotions] != 2 || st[wire.StatStepDowns] != 3 || st[wire.StatCatchUpKeys] != 4 || st[wire.StatCatchUps] != 5 {
		t.Errorf("group counters %v", st[wire.StatPromotions:])
	}
	ts.s.SetPassive(true)
	if r := ts.stat(wire.StatRole); r != wire.RoleMirror || wire.RoleName(r) != "mirror" {
		t.Errorf("role of a passive group member: %d (%s)", r, wire.RoleName(r))
	}
	for i, name := range map[int]string{wire.StatPromotions: "promotions", wire.StatCatchUpKeys: "catchup keys"} {
		if wire.StatName(i) != name {
			t.Errorf("StatName(%d) = %q", i, wire.StatName(i))
		}
	}
	if wire.RoleName(wire.RoleCatchingUp) != "catching up" {
		t.Error("RoleName(RoleCatchingUp)")
	}
}
