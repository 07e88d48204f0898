package libnmdb_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/internal/sctp"
	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/tipc"
)

// servePacket serves pc with a fresh server until the test ends.
func servePacket(t *testing.T, pc net.PacketConn, tr nmdb.Transport) *nmdb.Server {
	return nmdbtest.StartPacket(t, pc, tr, nmdb.Config{}).Server
}

// testDirect checks that calls made one at a time on c, whose only server
// is srv, read their own replies, and that such a call still times out
// when no reply comes.
func testDirect(t *testing.T, c *libnmdb.Client, srv *nmdb.Server) {
	ctx := context.Background()
	direct, handoffs := libnmdb.DirectCalls(c)
	for range 20 {
		if err := c.CacheSet(ctx, []byte("direct"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CacheGet(ctx, []byte("direct")); err != nil {
			t.Fatal(err)
		}
	}
	d, h := libnmdb.DirectCalls(c)
	if d-direct != 40 || h != handoffs {
		t.Errorf("40 calls one at a time: %d read their own reply, %d handed over", d-direct, h-handoffs)
	}
	srv.SetPassive(true)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err := c.CacheGet(short, []byte("direct"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("get from a passive server: %v, want a timeout", err)
	}
	srv.SetPassive(false)
	if _, err := c.CacheGet(ctx, []byte("direct")); err != nil {
		t.Errorf("get after a timeout: %v", err)
	}
}

// testBlocking checks that clients with ThreadWait, whose only server is
// srv, fresh, added by add, make their calls with context.Background() on
// connections in blocking mode: every operation, and calls that time out
// when no reply comes and work again after.
func testBlocking(t *testing.T, srv *nmdb.Server, add func(*libnmdb.Client) error) {
	ctx := context.Background()
	ops := libnmdb.New(libnmdb.Options{ThreadWait: true})
	defer ops.Close()
	if err := add(ops); err != nil {
		t.Fatal(err)
	}
	testOperationsCtx(t, ctx, ops, false)
	if libnmdb.BlockingCalls(ops) == 0 {
		t.Error("no call went on a connection in blocking mode")
	}
	c := libnmdb.New(libnmdb.Options{ThreadWait: true, Timeout: 300 * time.Millisecond, RetryInterval: 50 * time.Millisecond, Backoff: -1})
	defer c.Close()
	if err := add(c); err != nil {
		t.Fatal(err)
	}
	before := libnmdb.BlockingCalls(c)
	direct, _ := libnmdb.DirectCalls(c)
	for range 20 {
		if err := c.CacheSet(ctx, []byte("blocking"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if v, err := c.CacheGet(ctx, []byte("blocking")); err != nil || string(v) != "v" {
			t.Fatalf("get: %q, %v", v, err)
		}
	}
	if b := libnmdb.BlockingCalls(c) - before; b != 40 {
		t.Errorf("40 calls with ThreadWait: %d in blocking mode, want 40", b)
	}
	if d, _ := libnmdb.DirectCalls(c); d != direct {
		t.Errorf("40 calls with ThreadWait: %d took the direct path, want none", d-direct)
	}
	srv.SetPassive(true)
	if _, err := c.CacheGet(ctx, []byte("blocking")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("get from a passive server with ThreadWait: %v, want a timeout", err)
	}
	srv.SetPassive(false)
	if _, err := c.CacheGet(ctx, []byte("blocking")); err != nil {
		t.Errorf("get after a timeout with ThreadWait: %v", err)
	}
}

// TestTIPC runs every operation over TIPC where the kernel has it; where
// it does not, adding a TIPC server must say so clearly.
func TestTIPC(t *testing.T) {
	c := libnmdb.New(libnmdb.Options{Backoff: -1}) // the passive server of testDirect stays in use
	defer c.Close()
	probe, err := tipc.Dial()
	if err != nil {
		if !errors.Is(err, tipc.ErrUnsupported) {
			t.Fatalf("tipc.Dial: %v", err)
		}
		err := c.AddTIPCServer(-1)
		if !errors.Is(err, tipc.ErrUnsupported) || !strings.Contains(err.Error(), "modprobe tipc") {
			t.Fatalf("AddTIPCServer without kernel TIPC: %v, want an error matching tipc.ErrUnsupported", err)
		}
		if c.NumServers() != 0 {
			t.Fatal("a failed AddTIPCServer added a server")
		}
		t.Logf("no TIPC in this kernel; AddTIPCServer says: %v", err)
		return
	}
	probe.Close()
	port := 20000 + os.Getpid()%20000 // one instance per test process
	l, err := tipc.Listen(tipc.ServiceType, uint32(port), uint32(port))
	if err != nil {
		t.Fatal(err)
	}
	srv := servePacket(t, l, nmdb.TIPC)
	if err := c.AddTIPCServer(port); err != nil {
		t.Fatal(err)
	}
	testOperations(t, c, false)
	testDirect(t, c, srv)
	// A server of its own for a client with ThreadWait.
	port2 := port + 20000
	l2, err := tipc.Listen(tipc.ServiceType, uint32(port2), uint32(port2))
	if err != nil {
		t.Fatal(err)
	}
	testBlocking(t, servePacket(t, l2, nmdb.TIPC), func(c *libnmdb.Client) error { return c.AddTIPCServer(port2) })
	// A negative port means the default instance.
	d := libnmdb.New(libnmdb.Options{})
	defer d.Close()
	if err := d.AddTIPCServer(-1); err != nil {
		t.Fatal(err)
	}
	if got := d.Servers(); len(got) != 1 || got[0] != "tipc 10" {
		t.Fatalf("default TIPC server: %q", got)
	}
}

// TestSCTP runs every operation over SCTP where the kernel has it; where
// it does not, adding an SCTP server must say so clearly.
func TestSCTP(t *testing.T) {
	c := libnmdb.New(libnmdb.Options{Backoff: -1}) // the passive server of testDirect stays in use
	defer c.Close()
	l, err := sctp.ListenPacket("sctp", "127.0.0.1:0")
	if err != nil {
		if !errors.Is(err, sctp.ErrUnsupported) {
			t.Fatalf("sctp.ListenPacket: %v", err)
		}
		err := c.AddSCTPServer("127.0.0.1", -1)
		if !errors.Is(err, sctp.ErrUnsupported) || !strings.Contains(err.Error(), "modprobe sctp") {
			t.Fatalf("AddSCTPServer without kernel SCTP: %v, want an error matching sctp.ErrUnsupported", err)
		}
		if c.NumServers() != 0 {
			t.Fatal("a failed AddSCTPServer added a server")
		}
		t.Logf("no SCTP in this kernel; AddSCTPServer says: %v", err)
		return
	}
	srv := servePacket(t, l, nmdb.SCTP)
	port := l.LocalAddr().(*sctp.Addr).Port()
	if err := c.AddSCTPServer("127.0.0.1", int(port)); err != nil {
		t.Fatal(err)
	}
	testOperations(t, c, false)
	testDirect(t, c, srv)
}
