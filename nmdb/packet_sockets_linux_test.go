package nmdb

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nmdb-go/nmdb/internal/sctp"
	"github.com/nmdb-go/nmdb/nmdb/wire"
	"github.com/nmdb-go/nmdb/tipc"
)

// serveSocket serves pc, a socket of transport tr, with a fresh server
// (the null backend) until the test ends.
func serveSocket(t *testing.T, pc net.PacketConn, tr Transport) *testServer {
	t.Helper()
	return startServer(t, serverOpts{cfg: Config{Backend: "null"}, packet: pc, packetTr: tr})
}

// tipcServer serves a TIPC socket bound to a per-process instance, or
// skips the test when the kernel has no TIPC.
func tipcServer(t *testing.T, inst uint32) (*testServer, *tipc.Addr) {
	t.Helper()
	inst += uint32(os.Getpid()%10000) * 10
	l, err := tipc.Listen(tipc.ServiceType, inst, inst)
	if errors.Is(err, tipc.ErrUnsupported) {
		t.Skipf("AF_TIPC not available in this kernel: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ts := serveSocket(t, l, TIPC)
	return ts, tipc.ServiceRange(tipc.ServiceType, inst, inst)
}

// tipcClient opens a TIPC client socket closed when the test ends.
func tipcClient(t *testing.T) *tipc.Conn {
	t.Helper()
	c, err := tipc.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	return c
}

// tipcDo sends msg to dst and returns the reply.
func tipcDo(t *testing.T, c *tipc.Conn, dst *tipc.Addr, msg, buf []byte) wire.Reply {
	t.Helper()
	if _, err := c.WriteToTIPC(msg, dst); err != nil {
		t.Fatal(err)
	}
	n, err := c.ReadFromTIPC(buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r wire.Reply
	if err := wire.DecodeReply(buf[:n], &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// Over TIPC, an oversized datagram (dropped by the socket) and replies
// returned as undeliverable (their requester closed its socket) show in
// the server's "msgs dropped" counter, and the server keeps serving.
func TestTIPCServerCountsDrops(t *testing.T) {
	ts, dst := tipcServer(t, 3001)
	c := tipcClient(t)
	buf := make([]byte, tipc.MaxMessage)
	expect(t, "set", tipcDo(t, c, dst, encodeReq(t, 1, setReq("k", "v", wire.FlagCacheOnly)), buf), wire.CodeOK)
	base := ts.stat(wire.StatMsgsDropped)

	big := append(encodeReq(t, 2, getReq("k", normal)), make([]byte, tipc.MaxMessage-20)...)
	if _, err := c.WriteToTIPC(big, dst); err != nil {
		t.Fatal(err)
	}
	// Clients that leave with their reply queued, unread: the kernel
	// returns the reply to the server. (One arriving while its socket is
	// being closed may vanish in the kernel, hence the wait.)
	const gone = 5
	for i := range gone {
		g := tipcClient(t)
		if _, err := g.WriteToTIPC(encodeReq(t, uint32(10+i), getReq("k", wire.FlagCacheOnly)), dst); err != nil {
			t.Fatal(err)
		}
		waitQueued(t, g)
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Returned replies arrive when they arrive; each request read folds in
	// what the socket dropped so far.
	var got uint64
	for i := range 2000 {
		r := tipcDo(t, c, dst, encodeReq(t, uint32(100+i), getReq("k", wire.FlagCacheOnly)), buf)
		expect(t, "cache get", r, wire.CodeCacheHit, "v")
		if got = ts.stat(wire.StatMsgsDropped) - base; got >= 1+gone {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if got != 1+gone {
		t.Fatalf("msgs dropped moved by %d, want %d (1 oversized, %d returned)", got, 1+gone, gone)
	}
	if n := ts.stat(wire.StatBrokenRequests); n != 0 {
		t.Errorf("%d broken requests: the oversized datagram reached the server", n)
	}
}

// Over SCTP, a message longer than any request (dropped by the socket)
// shows in the server's "msgs dropped" counter.
func TestSCTPServerCountsDrops(t *testing.T) {
	l, err := sctp.ListenPacket("sctp", "127.0.0.1:0")
	if errors.Is(err, sctp.ErrUnsupported) {
		t.Skipf("SCTP not available in this kernel: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ts := serveSocket(t, l, SCTP)
	c, err := sctp.Dial("127.0.0.1", int(l.LocalAddr().(*sctp.Addr).Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2*wire.MaxMessage)
	do := func(msg []byte) wire.Reply {
		t.Helper()
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		var r wire.Reply
		if err := wire.DecodeReply(buf[:n], &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	expect(t, "set", do(encodeReq(t, 1, setReq("k", "v", wire.FlagCacheOnly))), wire.CodeOK)
	base := ts.stat(wire.StatMsgsDropped)
	big := append(encodeReq(t, 2, getReq("k", normal)), make([]byte, wire.MaxMessage+100)...)
	if _, err := c.Write(big); err != nil {
		t.Fatal(err)
	}
	expect(t, "cache get", do(encodeReq(t, 3, getReq("k", wire.FlagCacheOnly))), wire.CodeCacheHit, "v")
	if got := ts.stat(wire.StatMsgsDropped) - base; got != 1 {
		t.Fatalf("msgs dropped moved by %d, want 1 (the oversized message)", got)
	}
	if n := ts.stat(wire.StatBrokenRequests); n != 0 {
		t.Errorf("%d broken requests: the oversized message reached the server", n)
	}
}

// waitQueued waits until a datagram is queued on c, without reading it.
func waitQueued(t *testing.T, c *tipc.Conn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		_, _, perr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return perr != unix.EAGAIN
	})
	if err != nil || perr != nil {
		t.Fatalf("waiting for a datagram: %v, %v", err, perr)
	}
}
