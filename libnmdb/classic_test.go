package libnmdb_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// TestClassicStandIn: the stand-in loses the second of two requests of
// different sizes that arrive in one read, as classic nmdb does, and
// answers requests sent one at a time.
func TestClassicStandIn(t *testing.T) {
	cs := nmdbtest.StartClassic(t)
	conn, err := net.Dial("tcp", cs.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	frame := func(b []byte, id uint32, key string) []byte {
		b, start := wire.BeginFrame(b)
		b, _ = wire.AppendRequest(b, &wire.Request{ID: id, Op: wire.OpGet, Key: []byte(key)})
		return wire.EndFrame(b, start)
	}
	reply := func() wire.Reply {
		t.Helper()
		var hdr [wire.TCPPrefix]byte
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, binary.BigEndian.Uint32(hdr[:])-wire.TCPPrefix)
		if _, err := io.ReadFull(conn, msg); err != nil {
			t.Fatal(err)
		}
		var r wire.Reply
		if err := wire.DecodeReply(msg, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Two requests in one write (one read on a quiet loopback), then a
	// third alone: only the first and the third are answered.
	if _, err := conn.Write(frame(frame(nil, 1, "a"), 2, "longer key")); err != nil {
		t.Fatal(err)
	}
	if r := reply(); r.ID != 1 {
		t.Fatalf("first reply: id %d", r.ID)
	}
	if _, err := conn.Write(frame(nil, 3, "b")); err != nil {
		t.Fatal(err)
	}
	if r := reply(); r.ID != 3 {
		t.Fatalf("reply to the request sent alone: id %d (the pipelined one was answered)", r.ID)
	}
	if cs.Lost() != 1 {
		t.Fatalf("stand-in lost %d requests, want 1", cs.Lost())
	}
}

// TestClassicServerInPool: a pool of this project's server and a classic
// one, used by 16 goroutines at once: the client keeps one request in
// flight to the classic server, so no reply is lost, while the other
// server still takes many.
func TestClassicServerInPool(t *testing.T) {
	ours := startServer(t, "tcp", nmdb.Config{})
	cs := nmdbtest.StartClassic(t)
	c := newClient(t, libnmdb.Options{Sharding: libnmdb.ShardingRendezvous}, ours)
	if err := c.AddTCPServer("127.0.0.1", cs.Port()); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	const workers, each = 16, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				k := fmt.Appendf(nil, "w%d-k%d-%s", w, i, string(make([]byte, i%7)))
				if err := c.Set(ctx, k, k); err != nil {
					errs <- err
					return
				}
				if v, err := c.Get(ctx, k); err != nil || string(v) != string(k) {
					errs <- fmt.Errorf("get %q = %q, %w", k, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if cs.Lost() != 0 {
		t.Fatalf("the classic server lost %d requests", cs.Lost())
	}
	n := cs.Len()
	if n == 0 || n == workers*each {
		t.Fatalf("the classic server holds %d of %d keys: the pool did not share them", n, workers*each)
	}
	st, err := c.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("classic server: %d keys; counters per server: %d and %d", n, len(st[0]), len(st[1]))
}
