package sockfd

import (
	"bytes"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
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

// withFD runs f with c's descriptor.
func withFD(t *testing.T, c *net.TCPConn, f func(fd uintptr)) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(f); err != nil {
		t.Fatal(err)
	}
}

// TestRecvSendtoOnAStream checks Recv and Sendto (with no address) on a
// connected TCP socket: nothing waiting, data both ways, the end of the
// stream, and a peer that reset the connection, which comes back as an
// error.
func TestRecvSendtoOnAStream(t *testing.T) {
	a, b := tcpPair(t)
	buf := make([]byte, 64)
	withFD(t, a, func(fd uintptr) {
		if n, done, err := Recv(fd, buf); done || n != 0 || err != nil {
			t.Fatalf("Recv with nothing sent: %d, %v, %v; want 0, not done, nil", n, done, err)
		}
	})
	if _, err := b.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var got []byte
	for len(got) < 5 && time.Now().Before(deadline) {
		withFD(t, a, func(fd uintptr) {
			n, done, err := Recv(fd, buf)
			if err != nil {
				t.Fatal(err)
			}
			if done {
				got = append(got, buf[:n]...)
			}
		})
	}
	if string(got) != "hello" {
		t.Fatalf("Recv got %q, want hello", got)
	}

	withFD(t, a, func(fd uintptr) {
		n, done, err := Sendto(fd, []byte("world"), nil, 0)
		if n != 5 || !done || err != nil {
			t.Fatalf("Sendto: %d, %v, %v; want 5, done, nil", n, done, err)
		}
	})
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	back := make([]byte, 5)
	if _, err := b.Read(back); err != nil || string(back) != "world" {
		t.Fatalf("peer read %q, %v", back, err)
	}

	// The peer closes: the end of the stream reads as 0 bytes, done.
	b.CloseWrite()
	eof := false
	for !eof && time.Now().Before(deadline) {
		withFD(t, a, func(fd uintptr) {
			n, done, err := Recv(fd, buf)
			if err != nil || n > 0 {
				t.Fatalf("Recv at the end: %d, %v", n, err)
			}
			eof = done
		})
	}
	if !eof {
		t.Fatal("the end of the stream was not seen")
	}

	// The peer resets the connection: sending fails with an error.
	b.SetLinger(0)
	b.Close()
	var err error
	for err == nil && time.Now().Before(deadline) {
		withFD(t, a, func(fd uintptr) {
			_, _, err = Sendto(fd, bytes.Repeat([]byte("x"), 4096), nil, 0)
		})
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Sendto after a reset: %v, want EPIPE or ECONNRESET", err)
	}
}
