package sockfd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// rawConn returns c's raw connection.
func rawConn(t *testing.T, c syscall.Conn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// countSpin is a Spinner that counts its calls and polls a fixed number
// of times.
type countSpin struct{ polls, again, got int }

func (s *countSpin) Again(time.Time) bool { s.again++; return s.again <= s.polls }
func (s *countSpin) Got(time.Time)        { s.got++ }

// TestOpOnAStream checks Recvfrom and Sendto (with no address) on a
// connected TCP socket: nothing waiting, data both ways, the end of the
// stream, and a peer that reset the connection, which comes back as an
// error.
func TestOpOnAStream(t *testing.T) {
	a, b := tcpPair(t)
	rc := rawConn(t, a)
	buf := make([]byte, 64)
	spin := &countSpin{polls: 3}
	op := &Op{Buf: buf, NoWait: true, Spin: spin}
	if n, err := op.Recvfrom(rc); n != 0 || err != syscall.EAGAIN {
		t.Fatalf("Recvfrom with nothing sent: %d, %v; want 0, EAGAIN", n, err)
	}
	if spin.again != 4 || spin.got != 0 {
		t.Fatalf("spinner asked %d times and told of %d reads, want 4 and 0", spin.again, spin.got)
	}
	if _, err := b.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	a.SetDeadline(time.Now().Add(5 * time.Second))
	op = &Op{}
	var got []byte
	for len(got) < 5 {
		op.Buf = buf
		n, err := op.Recvfrom(rc) // waits in the poller
		if err != nil || n == 0 {
			t.Fatalf("Recvfrom: %d, %v", n, err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "hello" {
		t.Fatalf("Recvfrom got %q, want hello", got)
	}

	op.Buf = []byte("world")
	if n, err := op.Sendto(rc); n != 5 || err != nil {
		t.Fatalf("Sendto: %d, %v; want 5, nil", n, err)
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	back := make([]byte, 5)
	if _, err := b.Read(back); err != nil || string(back) != "world" {
		t.Fatalf("peer read %q, %v", back, err)
	}

	// The peer closes: the end of the stream reads as 0 bytes.
	b.CloseWrite()
	op.Buf = buf
	if n, err := op.Recvfrom(rc); n != 0 || err != nil {
		t.Fatalf("Recvfrom at the end: %d, %v; want 0, nil", n, err)
	}

	// The peer resets the connection: sending fails with an error, which
	// SyscallError names.
	b.SetLinger(0)
	b.Close()
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		op.Buf, op.All = bytes.Repeat([]byte("x"), 4096), true
		_, err = op.Sendto(rc)
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Sendto after a reset: %v, want EPIPE or ECONNRESET", err)
	}
	var se interface{ Unwrap() error }
	if e := SyscallError("sendto", err); !errors.As(e, &se) || e.Error() != "sendto: "+err.Error() {
		t.Fatalf("SyscallError: %v", e)
	}
	if e := SyscallError("sendto", net.ErrClosed); e != net.ErrClosed {
		t.Fatalf("SyscallError of a poller error: %v, want it unchanged", e)
	}
}

// TestOpSendAllWithoutWaiting checks Sendto with All and NoWait on a
// stream whose peer does not read: it takes what the socket holds and
// returns, Buf left at the rest.
func TestOpSendAllWithoutWaiting(t *testing.T) {
	a, _ := tcpPair(t)
	big := make([]byte, 64<<20)
	op := &Op{Buf: big, All: true, NoWait: true}
	n, err := op.Sendto(rawConn(t, a))
	if err != nil || n == 0 || n >= len(big) || len(op.Buf) != len(big)-n {
		t.Fatalf("Sendto of %d bytes: %d, %v, %d left", len(big), n, err, len(op.Buf))
	}
}

// TestOpDatagrams checks Sendto with an address and Recvfrom with room
// for the sender's, on UDP sockets, and that neither allocates.
func TestOpDatagrams(t *testing.T) {
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetDeadline(time.Now().Add(5 * time.Second))
	to := syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: [4]byte{127, 0, 0, 1}}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&to.Port))[:], uint16(b.LocalAddr().(*net.UDPAddr).Port))
	var from syscall.RawSockaddrInet6
	send := &Op{Buf: []byte("ping"), Name: unsafe.Pointer(&to), NameLen: uint32(unsafe.Sizeof(to))}
	buf := make([]byte, 16)
	recv := &Op{Buf: buf, Name: unsafe.Pointer(&from), NameLen: uint32(unsafe.Sizeof(from))}
	ra, rb := rawConn(t, a), rawConn(t, b)
	exchange := func() {
		if n, err := send.Sendto(ra); n != 4 || err != nil {
			t.Fatalf("Sendto: %d, %v", n, err)
		}
		if n, err := recv.Recvfrom(rb); n != 4 || err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("Recvfrom: %q, %v", buf[:n], err)
		}
	}
	exchange()
	sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&from))
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	if recv.FromLen() != syscall.SizeofSockaddrInet4 || sa.Family != syscall.AF_INET || int(port) != a.LocalAddr().(*net.UDPAddr).Port {
		t.Fatalf("sender: family %d port %d (length %d), want %v", sa.Family, port, recv.FromLen(), a.LocalAddr())
	}
	if n := testing.AllocsPerRun(100, exchange); n != 0 {
		t.Fatalf("%v allocations per exchange, want 0", n)
	}
}
