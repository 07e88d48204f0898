package libnmdb

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// streamPair dials a TCP transport to a loopback listener and returns it
// with the server's end of the connection.
func streamPair(t *testing.T, timeout time.Duration) (*streamConn, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tr, err := dialTCP(context.Background(), netip.MustParseAddrPort(l.Addr().String()), timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return tr.(*streamConn), c.(*net.TCPConn)
}

// drain reads what srv receives, up to limit bytes, and returns a function
// that waits for the count (failing the test after 10 s).
func drain(t *testing.T, srv net.Conn, limit int64) func() int64 {
	got := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, io.LimitReader(srv, limit))
		got <- n
	}()
	return func() int64 {
		t.Helper()
		select {
		case n := <-got:
			return n
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not get everything")
			return 0
		}
	}
}

// frame returns msg with its length prefix.
func frame(msg []byte) []byte {
	b, start := wire.BeginFrame(nil)
	return wire.EndFrame(append(b, msg...), start)
}

// TestStreamReadsFramesInPieces checks that replies arriving a few bytes
// at a time, and several in one segment, come out whole and in order, and
// that the server closing the connection reads as the end of the stream.
func TestStreamReadsFramesInPieces(t *testing.T) {
	tr, srv := streamPair(t, time.Second)
	if runtime.GOOS == "linux" {
		if _, ok := tr.io.(*rawStream); !ok {
			t.Fatalf("TCP on Linux uses %T, want the raw stream", tr.io)
		}
	}
	srv.SetNoDelay(true)
	msgs := [][]byte{bytes.Repeat([]byte("a"), 16), bytes.Repeat([]byte("b"), wire.MaxMessage), bytes.Repeat([]byte("c"), 20)}
	var all []byte
	for _, m := range msgs {
		all = append(all, frame(m)...)
	}
	go func() {
		// The first frame a byte at a time, the rest in large pieces.
		first := len(frame(msgs[0]))
		for i := 0; i < first; i++ {
			srv.Write(all[i : i+1])
			time.Sleep(time.Millisecond)
		}
		for rest := all[first:]; len(rest) > 0; {
			n := min(len(rest), 7000)
			srv.Write(rest[:n])
			rest = rest[n:]
		}
		srv.CloseWrite()
	}()
	for i, want := range msgs {
		got, err := tr.readMsg()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: %d bytes, want %d", i, len(got), len(want))
		}
	}
	if _, err := tr.readMsg(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the server closed: %v, want io.EOF", err)
	}
}

// TestStreamWriteWaitsForRoom checks that a write larger than the socket
// takes at once waits for the server to read, and that a server that
// stops reading makes writes fail after the client's timeout instead of
// blocking forever.
func TestStreamWriteWaitsForRoom(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tr, srv := streamPair(t, timeout)
	big := bytes.Repeat([]byte("x"), 8<<20) // more than loopback buffers hold
	read := drain(t, srv, int64(len(big)))
	if err := tr.write(big); err != nil {
		t.Fatalf("write while the server reads: %v", err)
	}
	if n := read(); n != int64(len(big)) {
		t.Fatalf("server read %d bytes, want %d", n, len(big))
	}

	// Now the server reads nothing: the socket fills, then a write waits
	// for the timeout and fails.
	start := time.Now()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = tr.write(big)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("writes to a server that does not read: %v, want a deadline error", err)
	}
	if waited := time.Since(start); waited < timeout {
		t.Fatalf("failed after %v, before the timeout of %v", waited, timeout)
	}
}

// TestStreamErrorsSayWhere checks that an error from the socket names the
// operation and the addresses, as the net package's do.
func TestStreamErrorsSayWhere(t *testing.T) {
	tr, srv := streamPair(t, time.Second)
	srv.SetLinger(0) // close with a reset
	srv.Close()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = tr.write(bytes.Repeat([]byte("x"), 1<<16))
		time.Sleep(time.Millisecond)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" || oe.Addr == nil {
		t.Fatalf("write to a reset connection: %v (%T), want a *net.OpError of write with the address", err, err)
	}
	if _, err := tr.readMsg(); err == nil {
		t.Fatal("read from a reset connection succeeded")
	}
}

// TestStreamWriteAfterAWait checks that a write that had to wait for room
// leaves no deadline behind: a write made after that deadline would have
// passed still goes through.
func TestStreamWriteAfterAWait(t *testing.T) {
	const timeout = 200 * time.Millisecond
	tr, srv := streamPair(t, timeout)
	big := bytes.Repeat([]byte("x"), 8<<20) // more than loopback buffers hold
	read := drain(t, srv, 1<<40)
	if err := tr.write(big); err != nil { // waits for the reader
		t.Fatalf("a write that waits: %v", err)
	}
	time.Sleep(2 * timeout)
	if err := tr.write([]byte("more")); err != nil {
		t.Fatalf("a write after the deadline of an earlier wait: %v", err)
	}
	tr.c.(*net.TCPConn).CloseWrite()
	if n := read(); n != int64(len(big)+4) {
		t.Fatalf("server read %d bytes, want %d", n, len(big)+4)
	}
}
