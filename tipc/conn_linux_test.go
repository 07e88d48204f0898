package tipc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Service instances used by these tests; each test has its own so that a
// leftover socket of one cannot feed another.
const (
	instRoundTrip = 4200 + iota
	instMulticastA
	instMulticastB
	instLarge
	instTruncated
	instDeadline
	instNobody
	instReturned
	instConcurrent
	instAllocs
	instRange
	instBench
)

// skipIfUnsupported skips the test when the kernel has no AF_TIPC; any
// other error fails it.
func skipIfUnsupported(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("AF_TIPC not available in this kernel: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func listen(t testing.TB, inst uint32) *Conn {
	t.Helper()
	c, err := Listen(ServiceType, inst, inst)
	skipIfUnsupported(t, err)
	t.Cleanup(func() { c.Close() })
	deadline(t, c)
	return c
}

func dial(t testing.TB) *Conn {
	t.Helper()
	c, err := Dial()
	skipIfUnsupported(t, err)
	t.Cleanup(func() { c.Close() })
	deadline(t, c)
	return c
}

// deadline bounds every test's socket operations, so that a lost message
// fails the test instead of hanging it.
func deadline(t testing.TB, c *Conn) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
}

func send(t testing.TB, c *Conn, p []byte, to *Addr) {
	t.Helper()
	n, err := c.WriteTo(p, to)
	if err != nil {
		t.Fatalf("WriteTo %v: %v", to, err)
	}
	if n != len(p) {
		t.Fatalf("WriteTo %v: wrote %d of %d bytes", to, n, len(p))
	}
}

func recv(t testing.TB, c *Conn, buf []byte) ([]byte, *Addr) {
	t.Helper()
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("ReadFrom: %v", err)
	}
	a, ok := from.(*Addr)
	if !ok {
		t.Fatalf("ReadFrom returned a %T address", from)
	}
	return buf[:n], a
}

func TestUnsupportedError(t *testing.T) {
	c, err := Dial()
	if err == nil {
		c.Close()
		t.Skip("this kernel has AF_TIPC; the unsupported path cannot be exercised")
	}
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Fatalf("Dial error %v does not match ErrUnsupported and EAFNOSUPPORT", err)
	}
	if !strings.Contains(err.Error(), "modprobe tipc") {
		t.Errorf("error does not say how to fix it: %v", err)
	}
	if _, err := Listen(ServiceType, 10, 10); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Listen error %v does not match ErrUnsupported", err)
	}
}

func TestRoundTrip(t *testing.T) {
	srv := listen(t, instRoundTrip)
	cl := dial(t)
	if got := srv.LocalAddr().String(); got != fmt.Sprintf("{26001,%d,%d}", instRoundTrip, instRoundTrip) {
		t.Errorf("listener LocalAddr = %s", got)
	}
	clAddr, err := cl.SocketAddr()
	if err != nil {
		t.Fatal(err)
	}
	if clAddr.Kind != KindSocket || clAddr.Ref == 0 {
		t.Errorf("client SocketAddr = %+v", clAddr)
	}

	buf := make([]byte, 256)
	send(t, cl, []byte("ping"), ServiceAddr(instRoundTrip))
	msg, from := recv(t, srv, buf)
	if string(msg) != "ping" {
		t.Fatalf("server got %q", msg)
	}
	if from.Kind != KindSocket || from.Ref != clAddr.Ref {
		t.Fatalf("server sees sender %v, client is %v", from, clAddr)
	}

	send(t, srv, []byte("pong"), from)
	msg, from2 := recv(t, cl, buf)
	if string(msg) != "pong" {
		t.Fatalf("client got %q", msg)
	}
	srvAddr, err := srv.SocketAddr()
	if err != nil {
		t.Fatal(err)
	}
	if from2.Kind != KindSocket || from2.Ref != srvAddr.Ref {
		t.Errorf("client sees reply from %v, server socket is %v", from2, srvAddr)
	}
	if d := srv.Dropped() + cl.Dropped(); d != 0 {
		t.Errorf("dropped %d datagrams", d)
	}
}

// A datagram sent to a service range reaches every socket bound to it,
// and only those.
func TestMulticast(t *testing.T) {
	a1 := listen(t, instMulticastA)
	a2 := listen(t, instMulticastA)
	b := listen(t, instMulticastB)
	cl := dial(t)
	// A range listener covering both instances gets both messages.
	wide, err := Listen(ServiceType, instMulticastA, instMulticastB)
	skipIfUnsupported(t, err)
	t.Cleanup(func() { wide.Close() })
	deadline(t, wide)

	send(t, cl, []byte("to-A"), ServiceAddr(instMulticastA))
	send(t, cl, []byte("to-B"), ServiceAddr(instMulticastB))
	buf := make([]byte, 64)
	for i, c := range []*Conn{a1, a2} {
		if msg, _ := recv(t, c, buf); string(msg) != "to-A" {
			t.Errorf("listener %d on A got %q", i+1, msg)
		}
	}
	// b must not have seen the message to A: the first thing it reads is
	// the one sent to B afterwards.
	if msg, _ := recv(t, b, buf); string(msg) != "to-B" {
		t.Errorf("listener on B got %q", msg)
	}
	for _, want := range []string{"to-A", "to-B"} {
		if msg, _ := recv(t, wide, buf); string(msg) != want {
			t.Errorf("range listener got %q, want %q", msg, want)
		}
	}
	// Both A listeners reply; the client gets both replies.
	for i, c := range []*Conn{a1, a2} {
		csa, err := cl.SocketAddr()
		if err != nil {
			t.Fatal(err)
		}
		send(t, c, []byte{byte('1' + i)}, csa)
	}
	got := map[string]bool{}
	for range 2 {
		msg, _ := recv(t, cl, buf)
		got[string(msg)] = true
	}
	if !got["1"] || !got["2"] {
		t.Errorf("client got replies %v, want 1 and 2", got)
	}
}

func TestLargeMessage(t *testing.T) {
	srv := listen(t, instLarge)
	cl := dial(t)
	buf := make([]byte, MaxMessage+100)
	for _, size := range []int{1, 1500, 65536 + 12, 65536 + 16, MaxMessage} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			p := make([]byte, size)
			for i := range p {
				p[i] = byte(i * 7)
			}
			send(t, cl, p, ServiceAddr(instLarge))
			msg, from := recv(t, srv, buf)
			if !bytes.Equal(msg, p) {
				t.Fatalf("server got %d bytes, not the same", len(msg))
			}
			send(t, srv, p, from)
			if msg, _ := recv(t, cl, buf); !bytes.Equal(msg, p) {
				t.Fatalf("client got %d bytes back, not the same", len(msg))
			}
		})
	}
	if _, err := cl.WriteTo(make([]byte, MaxMessage+1), ServiceAddr(instLarge)); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("oversized WriteTo: err = %v, want EMSGSIZE", err)
	}
	if _, err := cl.WriteTo(nil, ServiceAddr(instLarge)); err == nil {
		t.Error("empty WriteTo succeeded")
	}
}

// A datagram longer than the read buffer is dropped and counted; the read
// returns the next one.
func TestTruncatedDropped(t *testing.T) {
	srv := listen(t, instTruncated)
	cl := dial(t)
	send(t, cl, make([]byte, 1000), ServiceAddr(instTruncated))
	send(t, cl, []byte("small"), ServiceAddr(instTruncated))
	buf := make([]byte, 100)
	msg, _ := recv(t, srv, buf)
	if string(msg) != "small" {
		t.Fatalf("got %q, want the small datagram", msg)
	}
	if d := srv.Drops(); d != (Drops{Truncated: 1}) {
		t.Errorf("Drops = %+v, want one truncated", d)
	}
	if _, err := srv.Read(nil); err == nil {
		t.Error("Read into an empty buffer succeeded")
	}
}

func TestReadDeadline(t *testing.T) {
	srv := listen(t, instDeadline)
	if err := srv.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, _, err := srv.ReadFrom(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom after deadline: %v", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("error %v is not a net.Error timeout", err)
	}
	// A deadline in the past fails at once, even with a message queued.
	cl := dial(t)
	send(t, cl, []byte("x"), ServiceAddr(instDeadline))
	if err := srv.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom with past deadline: %v", err)
	}
	// Clearing the deadline makes the queued message readable.
	if err := srv.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if msg, _ := recv(t, srv, make([]byte, 10)); string(msg) != "x" {
		t.Errorf("got %q", msg)
	}
}

// Sending to a service range nobody is bound to fails at once.
func TestSendToUnboundService(t *testing.T) {
	cl := dial(t)
	_, err := cl.WriteTo([]byte("anyone?"), ServiceAddr(instNobody))
	if !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("WriteTo unbound service: err = %v, want EHOSTUNREACH", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Addr.String() != ServiceAddr(instNobody).String() {
		t.Errorf("error %v does not name the destination", err)
	}
}

// With SetReturnUndeliverable, a reply to a socket that has gone away comes
// back to the server as an undeliverable message: it is counted, never
// handed out as a request.
func TestReturnedMessageDropped(t *testing.T) {
	srv := listen(t, instReturned)
	if err := srv.SetReturnUndeliverable(true); err != nil {
		t.Fatal(err)
	}
	gone := dial(t)
	goneAddr, err := gone.SocketAddr()
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	send(t, srv, []byte("reply to nobody"), goneAddr)

	cl := dial(t)
	buf := make([]byte, 64)
	for i := 0; srv.Drops().Returned == 0; i++ {
		if i == 100 {
			t.Fatalf("returned message never counted; Drops = %+v", srv.Drops())
		}
		send(t, cl, []byte("ping"), ServiceAddr(instReturned))
		if msg, _ := recv(t, srv, buf); string(msg) != "ping" {
			t.Fatalf("server read %q, want only requests", msg)
		}
	}
	if d := srv.Drops(); d != (Drops{Returned: 1}) {
		t.Errorf("Drops = %+v, want one returned", d)
	}
	if srv.Dropped() != 1 {
		t.Errorf("Dropped = %d", srv.Dropped())
	}
}

func TestWriteToForeignAddr(t *testing.T) {
	cl := dial(t)
	if _, err := cl.WriteTo([]byte("x"), &net.UDPAddr{}); err == nil {
		t.Error("WriteTo a UDP address succeeded")
	}
	if _, err := cl.WriteTo([]byte("x"), ServiceRange(ServiceType, 3, 2)); err == nil {
		t.Error("WriteTo an inverted range succeeded")
	}
}

// Several goroutines reading one socket get every datagram exactly once.
func TestConcurrentReaders(t *testing.T) {
	srv := listen(t, instConcurrent)
	cl := dial(t)
	const readers, msgs = 4, 100
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			var from Addr
			for {
				n, err := srv.ReadFromTIPC(buf, &from)
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("reader: %v", err)
					}
					return
				}
				mu.Lock()
				seen[string(buf[:n])]++
				done := len(seen) == msgs
				mu.Unlock()
				if done {
					srv.Close()
				}
			}
		}()
	}
	to := ServiceAddr(instConcurrent)
	for i := range msgs {
		if _, err := cl.WriteToTIPC(fmt.Appendf(nil, "m%d", i), to); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i := range msgs {
		if k := fmt.Sprintf("m%d", i); seen[k] != 1 {
			t.Errorf("%s seen %d times", k, seen[k])
		}
	}
}

// Steady-state reads and writes through the TIPC-typed methods allocate
// nothing.
func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	srv := listen(t, instAllocs)
	cl := dial(t)
	to := ServiceAddr(instAllocs)
	msg := []byte("request")
	buf := make([]byte, 128)
	var from Addr
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := cl.WriteToTIPC(msg, to); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.ReadFromTIPC(buf, &from); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.WriteToTIPC(msg, &from); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.ReadFromTIPC(buf, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round trip, want 0", allocs)
	}
}

func TestListenRange(t *testing.T) {
	srv, err := Listen(ServiceType, instRange, instRange+5)
	skipIfUnsupported(t, err)
	t.Cleanup(func() { srv.Close() })
	deadline(t, srv)
	cl := dial(t)
	for _, inst := range []uint32{instRange, instRange + 3, instRange + 5} {
		send(t, cl, []byte{byte(inst)}, ServiceAddr(int(inst)))
		if msg, _ := recv(t, srv, make([]byte, 8)); len(msg) != 1 || msg[0] != byte(inst) {
			t.Errorf("instance %d: got %v", inst, msg)
		}
	}
}

var _ net.PacketConn = (*Conn)(nil)

func BenchmarkRoundTrip(b *testing.B) {
	srv := listen(b, instBench)
	cl := dial(b)
	to := ServiceAddr(instBench)
	msg := make([]byte, 64)
	buf := make([]byte, 128)
	var from Addr
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cl.WriteToTIPC(msg, to); err != nil {
			b.Fatal(err)
		}
		if _, err := srv.ReadFromTIPC(buf, &from); err != nil {
			b.Fatal(err)
		}
		if _, err := srv.WriteToTIPC(msg, &from); err != nil {
			b.Fatal(err)
		}
		if _, err := cl.ReadFromTIPC(buf, nil); err != nil {
			b.Fatal(err)
		}
	}
}
