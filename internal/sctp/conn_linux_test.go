package sctp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// skipIfUnsupported skips the test when the kernel has no SCTP; any other
// error fails it.
func skipIfUnsupported(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("SCTP not available in this kernel: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func deadline(t testing.TB, c *Conn) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
}

func listen(t testing.TB, network, address string) *Conn {
	t.Helper()
	c, err := ListenPacket(network, address)
	skipIfUnsupported(t, err)
	t.Cleanup(func() { c.Close() })
	deadline(t, c)
	return c
}

func port(t testing.TB, c *Conn) int {
	t.Helper()
	a, ok := c.LocalAddr().(*Addr)
	if !ok || a.Port() == 0 {
		t.Fatalf("LocalAddr = %v", c.LocalAddr())
	}
	return int(a.Port())
}

func dial(t testing.TB, host string, port int) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := DialContext(ctx, host, port)
	skipIfUnsupported(t, err)
	t.Cleanup(func() { c.Close() })
	deadline(t, c)
	return c
}

// echo serves srv until it is closed: every message goes back to its
// sender.
func echo(t testing.TB, srv *Conn) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 128<<10)
		for {
			n, from, err := srv.ReadFromAddrPort(buf)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("server read: %v", err)
				}
				return
			}
			if _, err := srv.WriteToAddrPort(buf[:n], from); err != nil {
				t.Errorf("server write: %v", err)
				return
			}
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
}

func TestUnsupportedError(t *testing.T) {
	c, err := ListenPacket("sctp4", "127.0.0.1:0")
	if err == nil {
		c.Close()
		t.Skip("this kernel has SCTP; the unsupported path cannot be exercised")
	}
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("ListenPacket error %v does not match ErrUnsupported", err)
	}
	if !strings.Contains(err.Error(), "modprobe sctp") {
		t.Errorf("error does not say how to fix it: %v", err)
	}
	if _, err := Dial("127.0.0.1", 26010); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Dial error %v does not match ErrUnsupported", err)
	}
}

func TestRoundTrip(t *testing.T) {
	srv := listen(t, "sctp4", "127.0.0.1:0")
	cl := dial(t, "127.0.0.1", port(t, srv))
	if got := cl.RemoteAddr().String(); got != fmt.Sprintf("127.0.0.1:%d", port(t, srv)) {
		t.Errorf("RemoteAddr = %s", got)
	}
	if srv.RemoteAddr() != nil {
		t.Errorf("listener RemoteAddr = %v", srv.RemoteAddr())
	}
	if _, err := cl.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, from, err := srv.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != "ping" {
		t.Fatalf("server got %q", buf[:n])
	}
	fa, ok := from.(*Addr)
	if !ok || fa.Port() != cl.LocalAddr().(*Addr).Port() || fa.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("server sees sender %v, client is %v", from, cl.LocalAddr())
	}
	if _, err := srv.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	n, err = cl.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != "pong" {
		t.Fatalf("client got %q", buf[:n])
	}
	if _, err := srv.Write([]byte("x")); err == nil {
		t.Error("Write on a listening socket succeeded")
	}
}

// Messages up to 64 KiB plus headers arrive whole, reassembled if the
// kernel hands them over in pieces.
func TestLargeMessages(t *testing.T) {
	srv := listen(t, "sctp", ":0")
	echo(t, srv)
	cl := dial(t, "127.0.0.1", port(t, srv))
	buf := make([]byte, 128<<10)
	for _, size := range []int{1, 8, 1500, 65536 + 12, 65536 + 16, 100000} {
		p := make([]byte, size)
		for i := range p {
			p[i] = byte(i*13 + size)
		}
		if n, err := cl.Write(p); err != nil || n != size {
			t.Fatalf("size %d: Write = %d, %v", size, n, err)
		}
		n, err := cl.Read(buf)
		if err != nil {
			t.Fatalf("size %d: Read: %v", size, err)
		}
		if !bytes.Equal(buf[:n], p) {
			t.Fatalf("size %d: got %d bytes back, not the same", size, n)
		}
	}
	if d := cl.Dropped(); d != 0 {
		t.Errorf("client dropped %d messages", d)
	}
}

// A message longer than the read buffer is dropped and counted; the read
// returns the next one.
func TestTruncatedDropped(t *testing.T) {
	srv := listen(t, "sctp4", "127.0.0.1:0")
	cl := dial(t, "127.0.0.1", port(t, srv))
	big := bytes.Repeat([]byte("x"), 1000)
	for _, p := range [][]byte{big, []byte("small"), big, big, []byte("second")} {
		if _, err := cl.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 100)
	for _, want := range []string{"small", "second"} {
		n, _, err := srv.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != want {
			t.Fatalf("got %q, want %q", buf[:n], want)
		}
	}
	if d := srv.Drops(); d.Truncated != 3 {
		t.Errorf("Drops = %+v, want 3 truncated", d)
	}
	if _, err := srv.Read(nil); err == nil {
		t.Error("Read into an empty buffer succeeded")
	}
}

// Many clients at once each get their own replies.
func TestManyClients(t *testing.T) {
	srv := listen(t, "sctp", ":0")
	echo(t, srv)
	p := port(t, srv)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cl, err := DialContext(ctx, "127.0.0.1", p)
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Close()
			cl.SetDeadline(time.Now().Add(30 * time.Second))
			buf := make([]byte, 64)
			for j := range 50 {
				msg := fmt.Appendf(nil, "client %d request %d", i, j)
				if _, err := cl.Write(msg); err != nil {
					t.Error(err)
					return
				}
				n, err := cl.Read(buf)
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(buf[:n], msg) {
					t.Errorf("client %d got %q, want %q", i, buf[:n], msg)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestIPv6(t *testing.T) {
	srv := listen(t, "sctp", ":0")
	echo(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := DialContext(ctx, "::1", port(t, srv))
	if errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.ENETUNREACH) {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	skipIfUnsupported(t, err)
	defer cl.Close()
	deadline(t, cl)
	if _, err := cl.Write([]byte("v6")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	n, from, err := cl.ReadFromAddrPort(buf)
	if err != nil || string(buf[:n]) != "v6" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	if !from.Addr().Is6() {
		t.Errorf("reply from %v", from)
	}
}

func TestDialRefused(t *testing.T) {
	srv := listen(t, "sctp4", "127.0.0.1:0")
	p := port(t, srv)
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := DialContext(ctx, "127.0.0.1", p)
	if err == nil {
		c.Close()
		t.Fatal("Dial to a closed port succeeded")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial error %v does not match ECONNREFUSED", err)
	}
}

func TestDialCancelled(t *testing.T) {
	// Make sure SCTP is there, then dial with a context already done.
	listen(t, "sctp4", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// 192.0.2.1 (TEST-NET-1) never answers; the dial must end with ctx.
	c, err := DialContext(ctx, "192.0.2.1", 9)
	if err == nil {
		c.Close()
		t.Fatal("Dial with a cancelled context succeeded")
	}
	if !errors.Is(err, context.Canceled) && !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("Dial error %v", err)
	}
}

// When the server goes away, a client blocked in Read learns it.
func TestAssociationLost(t *testing.T) {
	srv := listen(t, "sctp4", "127.0.0.1:0")
	cl := dial(t, "127.0.0.1", port(t, srv))
	if _, err := cl.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.ReadFrom(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	_, err := cl.Read(make([]byte, 16))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after server close: %v, want ECONNRESET", err)
	}
	if cl.Drops().Notifications == 0 {
		t.Errorf("Drops = %+v, want the notification counted", cl.Drops())
	}
}

// Steady-state reads and writes through the AddrPort methods allocate
// nothing.
func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	srv := listen(t, "sctp4", "127.0.0.1:0")
	cl := dial(t, "127.0.0.1", port(t, srv))
	msg := []byte("request")
	buf := make([]byte, 128)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := cl.Write(msg); err != nil {
			t.Fatal(err)
		}
		_, from, err := srv.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.WriteToAddrPort(msg, from); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Read(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round trip, want 0", allocs)
	}
}

func TestWriteToForeignAddr(t *testing.T) {
	srv := listen(t, "sctp4", "127.0.0.1:0")
	if _, err := srv.WriteTo([]byte("x"), &net.UnixAddr{Name: "x"}); err == nil {
		t.Error("WriteTo a unix address succeeded")
	}
	if _, err := srv.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP("::1"), Port: 1}); err == nil {
		t.Error("WriteTo an IPv6 address from an IPv4 socket succeeded")
	}
}

var _ net.PacketConn = (*Conn)(nil)

func BenchmarkRoundTrip(b *testing.B) {
	srv := listen(b, "sctp4", "127.0.0.1:0")
	echo(b, srv)
	cl := dial(b, "127.0.0.1", port(b, srv))
	msg := make([]byte, 64)
	buf := make([]byte, 128)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cl.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := cl.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
