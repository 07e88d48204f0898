package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

func TestHistBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, 1<<40 + 12345, math.MaxUint64} {
		i := bucketOf(v)
		if i < prev || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d: out of order or range (previous %d)", v, i, prev)
		}
		prev = i
		mid := bucketMid(i)
		if bucketOf(mid) != i {
			t.Errorf("bucketMid(%d) = %d lies in bucket %d", i, mid, bucketOf(mid))
		}
		if v > 128 {
			if rel := math.Abs(float64(mid)-float64(v)) / float64(v); rel > 1.0/64 {
				t.Errorf("value %d reported as %d: %.3f off", v, mid, rel)
			}
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	var h Hist
	for v := 1; v <= 100000; v++ {
		h.Record(time.Duration(v) * time.Microsecond / 1000)
	}
	for _, c := range []struct {
		q    float64
		want float64
	}{{0.5, 50000}, {0.99, 99000}, {0.999, 99900}} {
		got := float64(h.Quantile(c.q))
		if math.Abs(got-c.want)/c.want > 0.02 {
			t.Errorf("quantile %v = %v, want about %v", c.q, got, c.want)
		}
	}
	if h.Count() != 100000 {
		t.Errorf("count %d", h.Count())
	}
	// A histogram sent by a worker and merged equals the original.
	var m Hist
	m.mergeWire(h.export())
	m.Merge(&h)
	if m.Count() != 200000 || m.Quantile(0.5) != h.Quantile(0.5) || m.Mean() != h.Mean() {
		t.Errorf("merged: count %d p50 %v mean %v; want 200000 %v %v", m.Count(), m.Quantile(0.5), m.Mean(), h.Quantile(0.5), h.Mean())
	}
	var empty Hist
	if empty.Quantile(0.5) != 0 {
		t.Error("empty histogram has a median")
	}
}

func TestFormatKey(t *testing.T) {
	for _, c := range []struct {
		size, i int
		want    string
	}{{16, 1234, "key:000000001234"}, {16, 0, "key:000000000000"}, {4, 42, "0042"}, {6, 7, "key:07"}} {
		b := make([]byte, c.size)
		formatKey(b, c.i)
		if string(b) != c.want {
			t.Errorf("formatKey(%d, %d) = %q, want %q", c.size, c.i, b, c.want)
		}
	}
	if keyDigits(1000000) != 6 || keyDigits(1000001) != 7 || keyDigits(1) != 1 {
		t.Error("keyDigits")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, args := range [][]string{
		{"-target", "mysql"},
		{"-target", "redis", "-transport", "udp"},
		{"-transport", "udp", "-depth", "4"},
		{"-keys", "1000000000000", "-keysize", "8"},
		{"-client", "lib", "-target", "memcached"},
		{"-mode", "fast"},
		{"-gets", "2"},
		{"-depth", "1000"},
	} {
		var c config
		fs := newFlagSet("t", &c)
		if err := fs.Parse(args); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if err := c.validate(); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
	var c config
	if err := newFlagSet("t", &c).Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestMemcacheParse(t *testing.T) {
	p := &memcacheProto{}
	for _, c := range []struct {
		in   string
		n    int
		st   status
		fail bool
	}{
		{"STORED\r\n", 8, stStored, false},
		{"END\r\n", 5, stMiss, false},
		{"VALUE key:1 0 3\r\nabc\r\nEND\r\nSTORED\r\n", 27, stHit, false},
		{"SERVER_ERROR out of memory\r\n", 28, stError, false},
		{"VALUE key:1 0 3\r\nabc\r\nEN", 0, 0, true},
		{"VALUE key:1 0 3\r\nabcXXXXXXX", 0, 0, true},
		{"WHAT\r\n", 0, 0, true},
	} {
		n, _, st, err := p.parse([]byte(c.in))
		if c.fail != (err != nil) || n != c.n || (err == nil && st != c.st) {
			t.Errorf("parse(%q) = %d, %v, %v", c.in, n, st, err)
		}
	}
	n, _, _, err := p.parse([]byte("VALUE k 0 3\r\nab"))
	if !errors.Is(err, errShort) || n != 0 {
		t.Errorf("partial reply: %d %v", n, err)
	}
	u := &memcacheProto{dgram: true}
	req := u.appendGet(nil, 0x1234, []byte("key:1"))
	if !bytes.Equal(req, []byte("\x12\x34\x00\x00\x00\x01\x00\x00get key:1\r\n")) {
		t.Errorf("UDP get %q", req)
	}
	n, id, st, err := u.parse([]byte("\x12\x34\x00\x00\x00\x01\x00\x00END\r\n"))
	if err != nil || id != 0x1234 || st != stMiss || n != 13 {
		t.Errorf("UDP reply: %d %#x %v %v", n, id, st, err)
	}
	if _, _, _, err := u.parse([]byte("\x12\x34\x00\x00\x00\x02\x00\x00VALUE")); err == nil {
		t.Error("multi-datagram reply accepted")
	}
	set := p.appendSet(nil, 0, []byte("k"), []byte("vv"))
	if string(set) != "set k 0 0 2\r\nvv\r\n" {
		t.Errorf("set %q", set)
	}
}

func TestRedisParse(t *testing.T) {
	var p redisProto
	if got := string(p.appendSet(nil, 0, []byte("k1"), []byte("abc"))); got != "*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$3\r\nabc\r\n" {
		t.Errorf("SET %q", got)
	}
	if got := string(p.appendGet(nil, 0, []byte("k1"))); got != "*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n" {
		t.Errorf("GET %q", got)
	}
	for _, c := range []struct {
		in   string
		n    int
		st   status
		fail bool
	}{
		{"+OK\r\n", 5, stStored, false},
		{"$-1\r\n", 5, stMiss, false},
		{"$3\r\nabc\r\n+OK\r\n", 9, stHit, false},
		{"-ERR wrong\r\n", 12, stError, false},
		{"$3\r\nab", 0, 0, true},
		{"$x\r\n", 0, 0, true},
		{"!\r\n", 0, 0, true},
	} {
		n, _, st, err := p.parse([]byte(c.in))
		if c.fail != (err != nil) || n != c.n || (err == nil && st != c.st) {
			t.Errorf("parse(%q) = %d, %v, %v", c.in, n, st, err)
		}
	}
}

func TestNmdbProto(t *testing.T) {
	for _, mode := range []string{"cache", "normal", "sync"} {
		for _, dgram := range []bool{false, true} {
			p, err := newNmdbProto(mode, dgram)
			if err != nil {
				t.Fatal(err)
			}
			msg := p.appendSet(nil, 77, []byte("key"), []byte("val"))
			if !dgram {
				if n, err := wire.FrameLen(msg[:4]); err != nil || n != len(msg)-4 {
					t.Fatalf("frame %d %v", n, err)
				}
				msg = msg[4:]
			}
			var r wire.Request
			if err := wire.DecodeRequest(msg, &r); err != nil {
				t.Fatal(err)
			}
			if r.ID != 77 || r.Op != wire.OpSet || string(r.Key) != "key" || string(r.Val) != "val" ||
				r.CacheOnly() != (mode == "cache") || r.Sync() != (mode == "sync") {
				t.Errorf("%s: decoded %+v", mode, r)
			}
			for _, c := range []struct {
				reply []byte
				st    status
			}{
				{wire.AppendValue(nil, 5, wire.CodeCacheHit, []byte("v")), stHit},
				{wire.AppendValue(nil, 5, wire.CodeOK, []byte("v")), stHit},
				{wire.AppendReply(nil, 5, wire.CodeOK), stStored},
				{wire.AppendReply(nil, 5, wire.CodeCacheMiss), stMiss},
				{wire.AppendReply(nil, 5, wire.CodeNotIn), stMiss},
				{wire.AppendError(nil, 5, wire.ErrCodeDB), stError},
			} {
				b := c.reply
				if !dgram {
					b = frame(b)
				}
				n, id, st, err := p.parse(b)
				if err != nil || n != len(b) || id != 5 || st != c.st {
					t.Errorf("parse %x = %d %d %v %v, want %v", b, n, id, st, err, c.st)
				}
				if !dgram {
					if _, _, _, err := p.parse(b[:len(b)-1]); !errors.Is(err, errShort) {
						t.Errorf("partial reply: %v", err)
					}
				}
			}
		}
	}
	if _, err := newNmdbProto("fast", false); err == nil {
		t.Error("unknown mode accepted")
	}
}

func frame(msg []byte) []byte {
	b, start := wire.BeginFrame(nil)
	return wire.EndFrame(append(b, msg...), start)
}

// fakeNmdb is a transport that answers nmdb requests itself: gets hit,
// sets succeed. With reverse set, the replies to one batch of requests
// come back in reverse order. It allocates nothing once built.
type fakeNmdb struct {
	dgram   bool
	reverse bool
	val     []byte
	out     []byte // replies not yet received
	scratch []byte
	ends    []int
}

func newFakeNmdb(dgram, reverse bool) *fakeNmdb {
	return &fakeNmdb{dgram: dgram, reverse: reverse, val: makeValue(64),
		out: make([]byte, 0, 1<<20), scratch: make([]byte, 0, 1<<20), ends: make([]int, 0, 1024)}
}

func (f *fakeNmdb) send(b []byte) error {
	f.scratch = f.scratch[:0]
	f.ends = f.ends[:0]
	for len(b) > 0 {
		msg := b
		if !f.dgram {
			n, err := wire.FrameLen(b[:4])
			if err != nil {
				return err
			}
			msg, b = b[4:4+n], b[4+n:]
		} else {
			b = nil
		}
		var r wire.Request
		if err := wire.DecodeRequest(msg, &r); err != nil {
			return err
		}
		start := 0
		if !f.dgram {
			f.scratch, start = wire.BeginFrame(f.scratch)
		}
		if r.Op == wire.OpGet {
			f.scratch = wire.AppendValue(f.scratch, r.ID, wire.CodeCacheHit, f.val)
		} else {
			f.scratch = wire.AppendReply(f.scratch, r.ID, wire.CodeOK)
		}
		if !f.dgram {
			f.scratch = wire.EndFrame(f.scratch, start)
		}
		f.ends = append(f.ends, len(f.scratch))
	}
	for i := range f.ends {
		j := i
		if f.reverse {
			j = len(f.ends) - 1 - i
		}
		lo := 0
		if j > 0 {
			lo = f.ends[j-1]
		}
		f.out = append(f.out, f.scratch[lo:f.ends[j]]...)
	}
	return nil
}

func (f *fakeNmdb) recv(b []byte) (int, error) {
	if len(f.out) == 0 {
		return 0, errTimeout
	}
	n := copy(b, f.out)
	if f.dgram {
		n = len(f.out)
	}
	f.out = f.out[:copy(f.out, f.out[n:])]
	return n, nil
}

func (f *fakeNmdb) close() error { return nil }

func TestDriverCountsAndMatchesIDs(t *testing.T) {
	for _, c := range []struct {
		dgram, reverse bool
		depth          int
		gets           float64
	}{{false, false, 1, 1}, {false, true, 16, 0.5}, {false, true, 256, 0}, {true, false, 1, 0.9}} {
		t.Run(fmt.Sprintf("dgram=%v,reverse=%v,depth=%d", c.dgram, c.reverse, c.depth), func(t *testing.T) {
			p, _ := newNmdbProto("cache", c.dgram)
			wl := &workload{keys: 1000, keySize: 16, val: makeValue(64), getFrac: c.gets}
			d := newDriver(p, newFakeNmdb(c.dgram, c.reverse), c.dgram, wire.IDMask, c.depth, wl, 1)
			w := window{t0: time.Now(), end: time.Minute, budget: 5000}
			var ts tally
			if err := d.run(&w, &ts); err != nil {
				t.Fatal(err)
			}
			if ts.ops != 5000 || ts.errs != 0 || ts.misses != 0 || ts.lost != 0 || ts.hist.Count() != 5000 {
				t.Errorf("ops %d errs %d misses %d lost %d recorded %d", ts.ops, ts.errs, ts.misses, ts.lost, ts.hist.Count())
			}
			if c.gets == 1 && ts.hits != 5000 || c.gets == 0 && ts.hits != 0 {
				t.Errorf("hits %d with gets %v", ts.hits, c.gets)
			}
		})
	}
}

func TestDriverLoopDoesNotAllocate(t *testing.T) {
	p, _ := newNmdbProto("cache", false)
	wl := &workload{keys: 1000, keySize: 16, val: makeValue(64), getFrac: 0.5}
	d := newDriver(p, newFakeNmdb(false, true), false, wire.IDMask, 8, wl, 1)
	allocs := testing.AllocsPerRun(5, func() {
		w := window{t0: time.Now(), end: time.Minute, budget: 1000}
		var ts tally
		if err := d.run(&w, &ts); err != nil {
			t.Fatal(err)
		}
	})
	// The tally holds a large histogram; it lives on the stack or is one
	// allocation, never one per request.
	if allocs > 1 {
		t.Errorf("%v allocations per 1000 requests", allocs)
	}
}

func TestIndexCRLF(t *testing.T) {
	for in, want := range map[string]int{"": -1, "abc": -1, "\n": -1, "a\nb\r\n": 3, "\r\n": 0, "ab\r": -1, "x\n\r\ny": 2} {
		if got := indexCRLF([]byte(in)); got != want {
			t.Errorf("indexCRLF(%q) = %d, want %d", in, got, want)
		}
	}
}
