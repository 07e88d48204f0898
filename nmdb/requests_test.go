package nmdb

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// TestRequests walks every request in every mode and reaches each reply
// code of the protocol.
func TestRequests(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.dial()

	// get: database miss, database hit, cache hit, cache-only miss.
	expect(t, "get absent", c.Do(getReq("k", normal)), wire.CodeNotIn)
	expect(t, "cache get absent", c.Do(getReq("k", cOnly)), wire.CodeCacheMiss)
	expect(t, "set", c.Do(setReq("k", "v1", normal)), wire.CodeOK)
	expect(t, "get cached", c.Do(getReq("k", normal)), wire.CodeCacheHit, "v1")
	expect(t, "cache get", c.Do(getReq("k", cOnly)), wire.CodeCacheHit, "v1")
	// Drop it from the cache only: the database still has it.
	expect(t, "cache del", c.Do(delReq("k", cOnly)), wire.CodeOK)
	expect(t, "cache del absent", c.Do(delReq("k", cOnly)), wire.CodeNotIn)
	expect(t, "cache get after cache del", c.Do(getReq("k", cOnly)), wire.CodeCacheMiss)
	expect(t, "get from database", c.Do(getReq("k", normal)), wire.CodeOK, "v1")
	expect(t, "get refilled", c.Do(getReq("k", cOnly)), wire.CodeCacheHit, "v1")

	// set: sync and cache-only.
	expect(t, "set sync", c.Do(setReq("s", "sv", syncF)), wire.CodeOK)
	expect(t, "cache set", c.Do(setReq("c", "cv", cOnly)), wire.CodeOK)
	expect(t, "get cache-only value", c.Do(getReq("c", normal)), wire.CodeCacheHit, "cv")
	expect(t, "cache del c", c.Do(delReq("c", cOnly)), wire.CodeOK)
	expect(t, "cache set is not stored", c.Do(getReq("c", normal)), wire.CodeNotIn)
	expect(t, "empty value", c.Do(setReq("e", "", normal)), wire.CodeOK)
	expect(t, "get empty", c.Do(getReq("e", normal)), wire.CodeCacheHit, "")
	expect(t, "empty key", c.Do(setReq("", "ek", normal)), wire.CodeOK)
	expect(t, "get empty key", c.Do(getReq("", normal)), wire.CodeCacheHit, "ek")

	// del: normal, sync present and absent.
	expect(t, "del", c.Do(delReq("k", normal)), wire.CodeOK)
	expect(t, "get deleted", c.Do(getReq("k", normal)), wire.CodeNotIn)
	expect(t, "del sync", c.Do(delReq("s", syncF)), wire.CodeOK)
	expect(t, "del sync absent", c.Do(delReq("s", syncF)), wire.CodeNotIn)
	expect(t, "del absent (normal)", c.Do(delReq("nothing", normal)), wire.CodeOK)

	// cas, cache-only.
	expect(t, "cache cas absent", c.Do(casReq("x", "a", "b", cOnly)), wire.CodeNotIn)
	expect(t, "cache set x", c.Do(setReq("x", "a", cOnly)), wire.CodeOK)
	expect(t, "cache cas nomatch", c.Do(casReq("x", "z", "b", cOnly)), wire.CodeNoMatch)
	expect(t, "cache cas", c.Do(casReq("x", "a", "b", cOnly)), wire.CodeOK)
	expect(t, "cache get after cas", c.Do(getReq("x", cOnly)), wire.CodeCacheHit, "b")

	// cas, database decides.
	expect(t, "cas absent", c.Do(casReq("y", "a", "b", normal)), wire.CodeNotIn)
	expect(t, "set y", c.Do(setReq("y", "a", normal)), wire.CodeOK)
	expect(t, "cas nomatch (cache)", c.Do(casReq("y", "q", "b", normal)), wire.CodeNoMatch)
	expect(t, "cas", c.Do(casReq("y", "a", "b", normal)), wire.CodeOK)
	expect(t, "get after cas", c.Do(getReq("y", normal)), wire.CodeCacheHit, "b")
	expect(t, "cache del y", c.Do(delReq("y", cOnly)), wire.CodeOK)
	expect(t, "cas nomatch (database)", c.Do(casReq("y", "a", "c", normal)), wire.CodeNoMatch)
	expect(t, "cas uncached", c.Do(casReq("y", "b", "c", normal)), wire.CodeOK)
	expect(t, "get after uncached cas", c.Do(getReq("y", normal)), wire.CodeCacheHit, "c")

	// incr, cache-only.
	expect(t, "cache incr absent", c.Do(incrReq("n", 1, cOnly)), wire.CodeNotIn)
	expect(t, "cache set n", c.Do(setReq("n", "41\x00", cOnly)), wire.CodeOK)
	r := c.Do(incrReq("n", 1, cOnly))
	expect(t, "cache incr", r, wire.CodeOK)
	if v, err := r.Int64(); err != nil || v != 42 {
		t.Fatalf("cache incr: %d, %v; want 42", v, err)
	}
	expect(t, "cache get n", c.Do(getReq("n", cOnly)), wire.CodeCacheHit, counterVal(42))
	expect(t, "cache set text", c.Do(setReq("t", "text", cOnly)), wire.CodeOK)
	expect(t, "cache incr text", c.Do(incrReq("t", 1, cOnly)), wire.CodeNoMatch)

	// incr, database decides.
	expect(t, "incr absent", c.Do(incrReq("m", 1, normal)), wire.CodeNotIn)
	expect(t, "set m", c.Do(setReq("m", " -7\x00", normal)), wire.CodeOK)
	r = c.Do(incrReq("m", 10, normal))
	expect(t, "incr", r, wire.CodeOK)
	if v, err := r.Int64(); err != nil || v != 3 {
		t.Fatalf("incr: %d, %v; want 3", v, err)
	}
	expect(t, "get after incr", c.Do(getReq("m", normal)), wire.CodeCacheHit, counterVal(3))
	expect(t, "set text", c.Do(setReq("u", "12", normal)), wire.CodeOK) // no NUL
	expect(t, "incr text", c.Do(incrReq("u", 1, normal)), wire.CodeNoMatch)
	expect(t, "get after failed incr", c.Do(getReq("u", normal)), wire.CodeCacheHit, "12")

	// stats.
	r = c.Do(wire.Request{Op: wire.OpStats})
	expect(t, "stats", r, wire.CodeOK)
	st, err := r.Counters(nil)
	if err != nil || len(st) != wire.NumStats {
		t.Fatalf("stats: %d counters, %v; want %d", len(st), err, wire.NumStats)
	}
	if st[wire.StatMsgTCP] == 0 || st[wire.StatCacheHits] == 0 || st[wire.StatDBGet] == 0 ||
		st[wire.StatCacheIncr] != 3 || st[wire.StatObjectsCached] == 0 {
		t.Fatalf("stats look wrong: %v", st)
	}

	// firstkey / nextkey walk every stored key once.
	want := map[string]bool{"": true, "e": true, "y": true, "m": true, "u": true}
	got := map[string]bool{}
	r = c.Do(wire.Request{Op: wire.OpFirstKey})
	for r.Code == wire.CodeOK {
		k := string(r.Val)
		if got[k] {
			t.Fatalf("key %q walked twice", k)
		}
		got[k] = true
		r = c.Do(wire.Request{Op: wire.OpNextKey, Key: []byte(k)})
	}
	expect(t, "walk end", r, wire.CodeNotIn)
	if len(got) != len(want) {
		t.Fatalf("walked %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("walk missed %q (got %v)", k, got)
		}
	}
}

// TestEvictedGetReadsDatabase checks that with a tiny cache evicted keys
// come back from the database, and that the cache bound holds.
func TestEvictedGetReadsDatabase(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{CacheObjects: 4}})
	c := ts.dial()
	for i := range 50 {
		k := string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		expect(t, "set", c.Do(setReq(k, k+"-v", normal)), wire.CodeOK)
	}
	if n := ts.stat(wire.StatObjectsCached); n > 4 {
		t.Fatalf("%d objects cached, bound is 4", n)
	}
	for i := range 50 {
		k := string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		r := c.Do(getReq(k, normal))
		if (r.Code != wire.CodeOK && r.Code != wire.CodeCacheHit) || string(r.Val) != k+"-v" {
			t.Fatalf("get %q: %v %q", k, r.Code, r.Val)
		}
	}
	if ts.stat(wire.StatDBHits) == 0 {
		t.Fatal("no get reached the database")
	}
}

// TestLargeValues moves the biggest values the protocol allows.
func TestLargeValues(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{CacheObjects: 1}})
	c := ts.dial()
	big := bytes.Repeat([]byte("0123456789abcdef"), wire.MaxData/16)
	big = big[:wire.MaxData-1]
	expect(t, "set big", c.Do(wire.Request{Op: wire.OpSet, Key: []byte("b"), Val: big}), wire.CodeOK)
	expect(t, "set other", c.Do(setReq("o", "o", normal)), wire.CodeOK) // evicts b
	expect(t, "get big", c.Do(getReq("b", normal)), wire.CodeOK, string(big))
	expect(t, "get big cached", c.Do(getReq("b", normal)), wire.CodeCacheHit, string(big))
	tooBig := wire.Request{Op: wire.OpSet, Key: []byte("b"), Val: append(big, 'x', 'y')}
	if _, err := wire.AppendRequest(nil, &tooBig); err == nil {
		t.Fatal("encoder accepted an oversized set")
	}
}

// TestReadOnly refuses writes in read-only mode and serves reads.
func TestReadOnly(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{ReadOnly: true}})
	c := ts.dial()
	if !ts.s.ReadOnly() {
		t.Fatal("ReadOnly() false with Config.ReadOnly")
	}
	for _, f := range []wire.Flags{normal, cOnly, syncF} {
		expectErr(t, "set", c.Do(setReq("k", "v", f)), wire.ErrCodeReadOnly)
		expectErr(t, "del", c.Do(delReq("k", f)), wire.ErrCodeReadOnly)
		expectErr(t, "cas", c.Do(casReq("k", "v", "w", f)), wire.ErrCodeReadOnly)
		expectErr(t, "incr", c.Do(incrReq("k", 1, f)), wire.ErrCodeReadOnly)
	}
	expect(t, "get", c.Do(getReq("k", normal)), wire.CodeNotIn)
	expect(t, "firstkey", c.Do(wire.Request{Op: wire.OpFirstKey}), wire.CodeNotIn)
	ts.s.SetReadOnly(false)
	expect(t, "set after read-only", c.Do(setReq("k", "v", normal)), wire.CodeOK)
	ts.s.SetReadOnly(true)
	expectErr(t, "set read-only again", c.Do(setReq("k", "w", normal)), wire.ErrCodeReadOnly)
	expect(t, "get", c.Do(getReq("k", normal)), wire.CodeCacheHit, "v")
}

// TestPassive acts on requests without replying.
func TestPassive(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{Passive: true}, udp: true})
	if !ts.s.Passive() {
		t.Fatal("Passive() false with Config.Passive")
	}
	c, u := ts.dial(), ts.dialUDP()
	for i, cl := range []*client{c, u} {
		p := string(rune('a' + i))
		cl.Send(setReq(p+"k", "v", normal))
		cl.Send(setReq(p+"s", "sv", syncF))
		cl.Send(setReq(p+"c", "cv", cOnly))
		cl.Send(getReq(p+"k", normal))
		cl.Send(getReq(p+"nothing", normal))
		cl.Send(delReq(p+"d", syncF))
		cl.Send(casReq(p+"k", "v", "v2", normal))
		cl.Send(incrReq(p+"k", 1, normal))
		cl.Send(wire.Request{Op: wire.OpStats})
		cl.Send(wire.Request{Op: wire.OpFirstKey})
		cl.SendRaw([]byte{0xff, 0, 0, 0, 1, 1, 0, 0}) // wrong version
	}
	// Wait until the server has taken every request in; the mode is read
	// when a request arrives.
	ts.waitStat(wire.StatMsgTCP, 11)
	ts.waitStat(wire.StatMsgUDP, 11)
	ts.s.SetPassive(false)
	for i, cl := range []*client{c, u} {
		p := string(rune('a' + i))
		id := cl.Send(getReq(p+"k", normal))
		r := cl.Recv()
		if r.ID != id {
			t.Fatalf("passive server replied to request %d", r.ID)
		}
		expectVal(t, "get after passive", r, "v2")
	}
	expect(t, "cache-only set in passive", c.Do(getReq("ac", cOnly)), wire.CodeCacheHit, "cv")
	expect(t, "sync set in passive", c.Do(getReq("as", normal)), wire.CodeCacheHit, "sv")
	expect(t, "UDP sync set in passive", c.Do(getReq("bs", normal)), wire.CodeCacheHit, "sv")
	if n := ts.stat(wire.StatMsgUDP); n != 12 {
		t.Fatalf("msg udp = %d, want 12", n)
	}
}
