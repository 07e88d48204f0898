package nmdb

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/nmdb-go/nmdb/internal/store"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// discardPC is a packet socket whose writes vanish: a reply sink for
// measuring the request path alone.
type discardPC struct{ memPacketConn }

func (*discardPC) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }

// benchHandler returns a server on the null store and a reply target that
// discards replies.
func benchHandler(b *testing.B, cfg Config) (*Server, *replyTo) {
	cfg.Backend = "null"
	s := newServer(cfg, store.Null{})
	b.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	pk := &packetConn{s: s, pc: &discardPC{}, t: SCTP, stat: wire.StatMsgSCTP}
	return s, &replyTo{pk: pk, addr: memAddr("bench")}
}

func encode(b *testing.B, r wire.Request) []byte {
	r.ID = 1
	m, err := wire.AppendRequest(nil, &r)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkGetHit measures a get answered from the cache.
func BenchmarkGetHit(b *testing.B) {
	s, rt := benchHandler(b, Config{})
	sc := make([]byte, 0, 512)
	s.handle(encode(b, setReq("key:12345", "a value of some thirty bytes..", cOnly)), rt, &sc)
	msg := encode(b, getReq("key:12345", normal))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.handle(msg, rt, &sc)
	}
	if s.stats[wire.StatCacheHits].Load() == 0 {
		b.Fatal("no cache hits")
	}
}

// BenchmarkCacheSet measures a cache-only set of an existing key.
func BenchmarkCacheSet(b *testing.B) {
	s, rt := benchHandler(b, Config{})
	sc := make([]byte, 0, 512)
	msg := encode(b, setReq("key:12345", "a value of some thirty bytes..", cOnly))
	b.ReportAllocs()
	for b.Loop() {
		s.handle(msg, rt, &sc)
	}
}

// BenchmarkSetQueued measures a normal set: cache, queue, and the worker
// applying it to the (null) store.
func BenchmarkSetQueued(b *testing.B) {
	s, rt := benchHandler(b, Config{})
	sc := make([]byte, 0, 512)
	msg := encode(b, setReq("key:12345", "a value of some thirty bytes..", normal))
	b.ReportAllocs()
	for b.Loop() {
		s.handle(msg, rt, &sc)
	}
}

// tcpGetBench starts a server holding one cached key and returns a
// connection to it, a framed get of that key, and a buffer the size of its
// reply.
func tcpGetBench(b *testing.B) (*client, []byte, []byte) {
	ts := startServer(b, serverOpts{cfg: Config{Backend: "null"}})
	c := ts.dial()
	expect(b, "set", c.Do(setReq("key:12345", "a value of some thirty bytes..", cOnly)), wire.CodeOK)
	req, _ := wire.AppendRequest(nil, &wire.Request{ID: 1, Op: wire.OpGet, Key: []byte("key:12345")})
	frame := binary.BigEndian.AppendUint32(nil, uint32(4+len(req)))
	return c, append(frame, req...), make([]byte, 4+8+4+30)
}

// BenchmarkTCPGetHit measures gets over a real TCP connection, 64 in
// flight at a time.
func BenchmarkTCPGetHit(b *testing.B) {
	c, frame, reply := tcpGetBench(b)
	const window = 64
	batch := make([]byte, 0, window*len(frame))
	for range window {
		batch = append(batch, frame...)
	}
	rd := bufio.NewReaderSize(c.Conn, 64<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += window {
		if _, err := c.Conn.Write(batch); err != nil {
			b.Fatal(err)
		}
		for range window {
			if _, err := io.ReadFull(rd, reply); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkTCPGetOneInFlight measures gets over a real TCP connection,
// one at a time: the reading, writing and wake-ups one request costs.
func BenchmarkTCPGetOneInFlight(b *testing.B) {
	c, frame, reply := tcpGetBench(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Conn.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c.Conn, reply); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTCPSetSync measures sync sets on pebble from parallel
// connections, one in flight each: group commit shares the fsyncs.
func BenchmarkTCPSetSync(b *testing.B) {
	ts := startServer(b, serverOpts{})
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := ts.dial()
		for pb.Next() {
			if r := c.Do(setReq("key", "value", syncF)); r.Code != wire.CodeOK {
				b.Errorf("sync set: %v", r.Code)
				return
			}
		}
	})
}

// BenchmarkTCPIncr measures incr on pebble from parallel connections, one
// in flight each: each is answered once its write is synced, the syncs
// grouped as for sync sets.
func BenchmarkTCPIncr(b *testing.B) {
	ts := startServer(b, serverOpts{})
	c := ts.dial()
	expect(b, "counter", c.Do(setReq("n", counterVal(0), syncF)), wire.CodeOK)
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := ts.dial()
		for pb.Next() {
			if r := c.Do(incrReq("n", 1, normal)); r.Code != wire.CodeOK {
				b.Errorf("incr: %v", r.Code)
				return
			}
		}
	})
}

// BenchmarkIdleConns reports the memory an idle connection costs the
// process (server side, plus the test's own client socket).
func BenchmarkIdleConns(b *testing.B) {
	ts := startServer(b, serverOpts{cfg: Config{Backend: "null", MaxConns: 1 << 20}})
	const n = 400
	var before, after runtime.MemStats
	for range b.N {
		runtime.GC()
		runtime.ReadMemStats(&before)
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("tcp", ts.tcp)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		// Every connection has been served once, then left idle.
		for _, c := range conns {
			req, _ := wire.AppendRequest(nil, &wire.Request{ID: 1, Op: wire.OpStats})
			_, _ = c.Write(binary.BigEndian.AppendUint32(nil, uint32(4+len(req))))
			_, _ = c.Write(req)
		}
		for _, c := range conns {
			var p [4]byte
			if _, err := io.ReadFull(c, p[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(p[:])-4)); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse+after.StackInuse-before.HeapInuse-before.StackInuse)/n, "bytes/conn")
		for _, c := range conns {
			_ = c.Close()
		}
	}
}
