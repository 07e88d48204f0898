package pktconn

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nmdb-go/nmdb/internal/sockfd"
)

// udpConn returns a Conn on a non-blocking loopback UDP socket (a packet
// socket every kernel has), closed when the test ends, and its address.
func udpConn(t *testing.T) (*Conn, *net.UDPAddr) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}
	c := new(Conn)
	if err := Init(c, fd, "udp", func() net.Addr { a := *local; return &a }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, local
}

// read reads one datagram through c as a protocol's read does, its
// errors wrapped by OpError.
func read(c *Conn, p []byte) (int, error) {
	op := sockfd.Op{Buf: p}
	n, err := op.Recvfrom(RawConn(c))
	if err != nil {
		return 0, OpError(c, "read", nil, sockfd.SyscallError("recvfrom", err))
	}
	return n, nil
}

// TestDeadlines: a read past its deadline fails with a timeout that says
// where; a deadline in the past fails at once even with a datagram
// queued; cleared, the datagram is read.
func TestDeadlines(t *testing.T) {
	c, addr := udpConn(t)
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := read(c, make([]byte, 10))
	var ne net.Error
	var oe *net.OpError
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read after the deadline: %v, want a net.Error timeout", err)
	}
	if !errors.As(err, &oe) || oe.Op != "read" || oe.Net != "udp" || oe.Source.String() != addr.String() {
		t.Fatalf("read after the deadline: %#v, want an OpError of read on udp from %v", oe, addr)
	}
	peer, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := read(c, make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with a past deadline: %v", err)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := read(c, buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("read after clearing the deadline: %q, %v", buf[:n], err)
	}
}

// TestCloseUnblocksReader: Close wakes a blocked read with net.ErrClosed,
// and a second Close and later calls fail with it too.
func TestCloseUnblocksReader(t *testing.T) {
	c, _ := udpConn(t)
	done := make(chan error, 1)
	go func() {
		_, err := read(c, make([]byte, 10))
		done <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("reader got %v, want net.ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not unblock the reader")
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if err := c.SetDeadline(time.Now()); err == nil {
		t.Error("SetDeadline after Close succeeded")
	}
}

// TestBuffersAndOptions: the buffer sizes reach the socket, SyscallConn
// reaches the descriptor, and a bad option fails naming it.
func TestBuffersAndOptions(t *testing.T) {
	c, _ := udpConn(t)
	if err := c.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if err := c.SetWriteBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var rcv, snd int
	if err := rc.Control(func(fd uintptr) {
		rcv, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		snd, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	}); err != nil {
		t.Fatal(err)
	}
	// The kernel doubles what it is given, for its bookkeeping.
	if rcv != 128<<10 || snd != 64<<10 {
		t.Errorf("SO_RCVBUF %d, SO_SNDBUF %d; want %d, %d", rcv, snd, 128<<10, 64<<10)
	}
	err = SetsockoptInt(c, unix.SOL_SOCKET, 0x7fff, 1, "NOPE")
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "setsockopt" || !errors.Is(err, unix.ENOPROTOOPT) {
		t.Errorf("a bad option: %v, want an OpError of setsockopt matching ENOPROTOOPT", err)
	}
}

// TestDropsAndAddr: drops are counted by reason and in total, and
// LocalAddr returns a copy the caller may change.
func TestDropsAndAddr(t *testing.T) {
	c, addr := udpConn(t)
	Drop(c, 0)
	Drop(c, 2)
	Drop(c, 2)
	if d := Drops(c); d != [NumDrops]uint64{1, 0, 2} || c.Dropped() != 3 {
		t.Errorf("drops %v, total %d; want [1 0 2], 3", d, c.Dropped())
	}
	a := c.LocalAddr().(*net.UDPAddr)
	a.Port++
	if got := c.LocalAddr().String(); got != addr.String() {
		t.Errorf("LocalAddr after changing a copy: %s, want %s", got, addr)
	}
	if err := OpError(c, "write", a, errors.New("x")).(*net.OpError); err.Addr != a {
		t.Errorf("OpError's peer address: %v, want %v", err.Addr, a)
	}
}
