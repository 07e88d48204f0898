package libnmdb_test

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// benchClient starts a server and returns a client for it and the key and
// 100-byte value the benchmark uses, stored on the server when stored is
// set.
func benchClient(b *testing.B, stored bool) (c *libnmdb.Client, key, val []byte) {
	b.Helper()
	c = newClient(b, libnmdb.Options{}, startServer(b, "tcp", nmdb.Config{}))
	key, val = []byte("bench-key"), make([]byte, 100)
	if stored {
		if err := c.SetSync(context.Background(), key, val); err != nil {
			b.Fatal(err)
		}
	}
	return c, key, val
}

// runParallel runs op from 64 goroutines sharing the client and its one
// TCP connection. Each goroutine gets its own op from newOp.
func runParallel(b *testing.B, newOp func() func() error) {
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		op := newOp()
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the processor time the process has used (client and
// server alike, both in it), which a loaded machine disturbs less than
// the time per op.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGetParallel: 64 goroutines share one client and one TCP
// connection, reading a cached value.
func BenchmarkGetParallel(b *testing.B) {
	c, key, _ := benchClient(b, true)
	ctx := context.Background()
	runParallel(b, func() func() error {
		return func() error {
			_, err := c.Get(ctx, key)
			return err
		}
	})
}

// BenchmarkGetParallelSharedContext is BenchmarkGetParallel with every
// call under one context with a deadline, as a program's root context.
func BenchmarkGetParallelSharedContext(b *testing.B) {
	c, key, _ := benchClient(b, true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	runParallel(b, func() func() error {
		return func() error {
			_, err := c.Get(ctx, key)
			return err
		}
	})
}

// BenchmarkAppendGetParallel is BenchmarkGetParallel reading into a
// buffer each goroutine reuses.
func BenchmarkAppendGetParallel(b *testing.B) {
	c, key, _ := benchClient(b, true)
	ctx := context.Background()
	runParallel(b, func() func() error {
		buf := make([]byte, 0, 128)
		return func() error {
			var err error
			buf, err = c.AppendGet(ctx, buf[:0], key)
			return err
		}
	})
}

// BenchmarkSetParallel: 64 goroutines storing cache-only values through one
// client.
func BenchmarkSetParallel(b *testing.B) {
	c, key, val := benchClient(b, false)
	ctx := context.Background()
	runParallel(b, func() func() error {
		return func() error { return c.CacheSet(ctx, key, val) }
	})
}

// BenchmarkGet: one request at a time, the classic client's pattern.
func BenchmarkGet(b *testing.B) {
	c, key, _ := benchClient(b, true)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}

// seqKey and seqVal are the sizes of the one-request-at-a-time rows of
// make bench: a 16-byte key and a 64-byte value.
var seqKey, seqVal = []byte("seq-bench-key-16"), bytes.Repeat([]byte{'v'}, 64)

// BenchmarkSeq compares one goroutine making one cache-only request at a
// time through a Client with the same requests written and read by hand
// over a plain net.Conn (one write and one read each), against one
// server. The two take turns every 100 requests, so that both see the
// same machine; each op of the benchmark is one request of each.
// client-ns and raw-ns are their times per request, and rate-ratio the
// client's rate over the loop's; the cpu metrics are the processor time
// per request of each turn (client or loop, and the server).
func BenchmarkSeq(b *testing.B) {
	srv := startServer(b, "tcp", nmdb.Config{})
	for _, op := range []string{"set", "get"} {
		b.Run(op, func(b *testing.B) {
			c := newClient(b, libnmdb.Options{}, srv)
			ctx := context.Background()
			if err := c.CacheSet(ctx, seqKey, seqVal); err != nil {
				b.Fatal(err)
			}
			conn, err := net.Dial("tcp", srv.Addr.String())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			conn.(*net.TCPConn).SetNoDelay(true)
			req := wire.Request{Op: wire.OpSet, Flags: wire.FlagCacheOnly, Key: seqKey, Val: seqVal}
			if op == "get" {
				req = wire.Request{Op: wire.OpGet, Flags: wire.FlagCacheOnly, Key: seqKey}
			}
			rt := newRawTripper(conn)
			buf := make([]byte, 0, 128)
			var client, raw, clientCPU, rawCPU time.Duration
			const turn = 100
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n += turn {
				k := min(turn, b.N-n)
				c0 := cpuTime()
				t0 := time.Now()
				for range k {
					if op == "set" {
						err = c.CacheSet(ctx, seqKey, seqVal)
					} else {
						buf, err = c.AppendCacheGet(ctx, buf[:0], seqKey)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				t1 := time.Now()
				c1 := cpuTime()
				for range k {
					rt.roundTrip(b, &req)
				}
				client += t1.Sub(t0)
				raw += time.Since(t1)
				clientCPU += c1 - c0
				rawCPU += cpuTime() - c1
			}
			b.ReportMetric(float64(client.Nanoseconds())/float64(b.N), "client-ns")
			b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns")
			b.ReportMetric(float64(raw)/float64(client), "rate-ratio")
			b.ReportMetric(float64(clientCPU.Nanoseconds())/float64(b.N), "client-cpu-ns")
			b.ReportMetric(float64(rawCPU.Nanoseconds())/float64(b.N), "raw-cpu-ns")
		})
	}
}

// rawTripper makes requests over a plain connection, as a program
// speaking the wire protocol by hand would.
type rawTripper struct {
	conn    net.Conn
	in, out []byte
}

func newRawTripper(conn net.Conn) *rawTripper {
	return &rawTripper{conn: conn, in: make([]byte, wire.TCPPrefix+wire.MaxMessage), out: make([]byte, 0, 256)}
}

// roundTrip writes req as one frame and reads until its reply is in:
// one write and, usually, one read system call.
func (rt *rawTripper) roundTrip(b *testing.B, req *wire.Request) {
	req.ID = (req.ID + 1) & wire.IDMask
	if req.ID == 0 {
		req.ID = 1
	}
	p, start := wire.BeginFrame(rt.out[:0])
	p, err := wire.AppendRequest(p, req)
	if err != nil {
		b.Fatal(err)
	}
	p = wire.EndFrame(p, start)
	if _, err := rt.conn.Write(p); err != nil {
		b.Fatal(err)
	}
	have := 0
	for {
		n, err := rt.conn.Read(rt.in[have:])
		if err != nil {
			b.Fatal(err)
		}
		have += n
		if have < wire.TCPPrefix {
			continue
		}
		size, err := wire.FrameLen(rt.in[:wire.TCPPrefix])
		if err != nil {
			b.Fatal(err)
		}
		if have >= wire.TCPPrefix+size {
			var r wire.Reply
			if err := wire.DecodeReply(rt.in[wire.TCPPrefix:wire.TCPPrefix+size], &r); err != nil || r.ID != req.ID || r.Code == wire.CodeErr {
				b.Fatalf("reply %+v: %v", r, err)
			}
			return
		}
	}
}
