//go:build linux

package libnmdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// TestBlockingConns: with ThreadWait, calls made at the same time each go
// on a connection of their own in blocking mode, up to
// Options.LinksPerServer; the calls left over share the server's one
// multiplexed link. The connections are kept for the next calls.
func TestBlockingConns(t *testing.T) {
	const callers = 4
	for _, links := range []int{0, 1, 2, callers, 8} {
		t.Run(fmt.Sprintf("LinksPerServer=%d", links), func(t *testing.T) {
			port, conns := replyInBatches(t, callers)
			c := New(Options{Timeout: 10 * time.Second, ThreadWait: true, LinksPerServer: links})
			defer c.Close()
			if err := c.AddTCPServer("127.0.0.1", port); err != nil {
				t.Fatal(err)
			}
			blocking := min(max(links, 1), callers)
			shared := callers - blocking
			wantConns := blocking
			if shared > 0 {
				wantConns++ // the multiplexed link
			}
			for round := 1; round <= 2; round++ {
				getAtOnce(t, c, callers)
				// No reply comes before every request is in, so the
				// calls were all in flight at once.
				if n := conns.Load(); n != int32(wantConns) {
					t.Errorf("round %d: %d connections, want %d", round, n, wantConns)
				}
				if b := c.blockingCalls(); b != uint64(round*blocking) {
					t.Errorf("round %d: %d calls in blocking mode, want %d", round, b, round*blocking)
				}
				wantDirect := 0
				if shared > 0 {
					wantDirect = round // the first call on the shared link
				}
				if d := c.direct.Load(); d != uint64(wantDirect) {
					t.Errorf("round %d: %d direct calls, want %d", round, d, wantDirect)
				}
			}
		})
	}
}

// TestBlockingConnBroken: a connection in blocking mode that breaks fails
// its call with ErrConnLost and is closed; the next call connects again.
// After Close, the connections are closed and calls fail with ErrClosed.
func TestBlockingConnBroken(t *testing.T) {
	// Backoff -1: the server is not marked down after the failure.
	c, _ := directClient(t, "tcp", Options{ThreadWait: true, Backoff: -1})
	ctx := context.Background()
	if err := c.CacheSet(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	p := (*c.servers.Load())[0].blk
	p.mu.Lock()
	if len(p.idle) != 1 || p.open != 1 {
		t.Fatalf("after one call: %d idle of %d open, want 1 of 1", len(p.idle), p.open)
	}
	fd := p.idle[0].fd
	p.mu.Unlock()
	// Broken: sending fails (EPIPE), as on a connection the server reset.
	if err := unix.Shutdown(fd, unix.SHUT_RDWR); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CacheGet(ctx, []byte("k")); !errors.Is(err, ErrConnLost) {
		t.Fatalf("get on a broken connection: %v, want ErrConnLost", err)
	}
	p.mu.Lock()
	if len(p.idle) != 0 || p.open != 0 {
		t.Errorf("after the failure: %d idle of %d open, want none", len(p.idle), p.open)
	}
	p.mu.Unlock()
	if v, err := c.CacheGet(ctx, []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("get after the failure: %q, %v", v, err)
	}
	if b := c.blockingCalls(); b != 3 {
		t.Errorf("%d calls in blocking mode, want 3", b)
	}
	c.Close()
	p.mu.Lock()
	if len(p.idle) != 0 || p.open != 0 {
		t.Errorf("after Close: %d idle of %d open, want none", len(p.idle), p.open)
	}
	p.mu.Unlock()
	if _, err := c.CacheGet(ctx, []byte("k")); !errors.Is(err, ErrClosed) {
		t.Fatalf("get after Close: %v, want ErrClosed", err)
	}
}

// TestBlockingLateDatagram: over UDP, a reply that comes after its call
// timed out is told apart by its id: the next call on the same socket
// gets its own reply, not the late one.
func TestBlockingLateDatagram(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	timedOut := make(chan struct{})
	go func() {
		buf := make([]byte, wire.MaxMessage)
		var held []byte
		for i := 0; ; i++ {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var req wire.Request
			if wire.DecodeRequest(buf[:n], &req) != nil {
				continue
			}
			reply := wire.AppendValue(nil, req.ID, wire.CodeCacheHit, req.Key)
			if i == 0 {
				held = reply // answered after the call timed out
				continue
			}
			<-timedOut
			if held != nil {
				pc.WriteTo(held, from)
				held = nil
			}
			pc.WriteTo(reply, from)
		}
	}()
	c := New(Options{ThreadWait: true, Timeout: 100 * time.Millisecond, RetryInterval: time.Second, Backoff: -1})
	t.Cleanup(func() { c.Close() })
	if err := c.AddUDPServer("127.0.0.1", pc.LocalAddr().(*net.UDPAddr).Port); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A cas is not repeated: the request is sent once.
	if err := c.CAS(ctx, []byte("first"), []byte("a"), []byte("b")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first call: %v, want a timeout", err)
	}
	close(timedOut)
	v, err := c.CacheGet(ctx, []byte("second"))
	if err != nil || string(v) != "second" {
		t.Fatalf("second call: %q, %v; want its own reply", v, err)
	}
	p := (*c.servers.Load())[0].blk
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open != 1 {
		t.Errorf("%d sockets open, want the one kept after the timeout", p.open)
	}
}

// TestBlockingConcurrent: goroutines sharing a client with ThreadWait,
// more of them than connections in blocking mode, each setting and
// reading back keys of its own, always get their own values: a
// connection given back to the pool is not read by its next caller while
// the last one still uses its reply.
func TestBlockingConcurrent(t *testing.T) {
	const workers, rounds = 8, 300
	c, _ := directClient(t, "tcp", Options{ThreadWait: true, LinksPerServer: 3})
	ctx := context.Background()
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range rounds {
				k := fmt.Appendf(nil, "w%d-k%d", w, i%10)
				v := fmt.Appendf(nil, "value-%d-%d", w, i)
				if err := c.CacheSet(ctx, k, v); err != nil {
					errs <- err
					return
				}
				got, err := c.CacheGet(ctx, k)
				if err != nil || string(got) != string(v) {
					errs <- fmt.Errorf("get %s = %q, %v; want %q", k, got, err, v)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c.blockingCalls() == 0 {
		t.Error("no call went on a connection in blocking mode")
	}
}

// fullBufferServer listens on a free loopback port with a receive buffer
// of 4 KiB, smaller than the requests of the tests that use it. Each
// connection waits for its channel in start to be closed (nil: never)
// before it reads requests and answers each with OK.
func fullBufferServer(t *testing.T, start chan struct{}) int {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		cerr := rc.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
		})
		return errors.Join(cerr, err)
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
			go func() {
				if start == nil {
					return // holds the connection, never reads
				}
				<-start
				buf := make([]byte, wire.TCPPrefix+wire.MaxMessage)
				for {
					if _, err := io.ReadFull(conn, buf[:wire.TCPPrefix]); err != nil {
						return
					}
					n, err := wire.FrameLen(buf[:wire.TCPPrefix])
					if err != nil {
						return
					}
					msg := buf[wire.TCPPrefix : wire.TCPPrefix+n]
					if _, err := io.ReadFull(conn, msg); err != nil {
						return
					}
					b, at := wire.BeginFrame(nil)
					b = wire.EndFrame(wire.AppendReply(b, wire.MessageID(msg), wire.CodeOK), at)
					if _, err := conn.Write(b); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestBlockingFullSendBuffer: a request far larger than the server's
// receive buffer, to a server that reads it late, succeeds; to a server
// that never reads, it fails with a timeout once the client's timeout has
// passed, and its connection is closed, rather than holding the caller.
func TestBlockingFullSendBuffer(t *testing.T) {
	val := make([]byte, 60000)
	t.Run("slow", func(t *testing.T) {
		start := make(chan struct{})
		port := fullBufferServer(t, start)
		c := New(Options{ThreadWait: true, Timeout: 10 * time.Second, Backoff: -1})
		t.Cleanup(func() { c.Close() })
		if err := c.AddTCPServer("127.0.0.1", port); err != nil {
			t.Fatal(err)
		}
		// The server starts reading while the call is in its send.
		time.AfterFunc(50*time.Millisecond, func() { close(start) })
		if err := c.CacheSet(context.Background(), []byte("big"), val); err != nil {
			t.Fatalf("set of %d bytes to a server that reads late: %v", len(val), err)
		}
		if b := c.blockingCalls(); b != 1 {
			t.Errorf("%d calls in blocking mode, want 1", b)
		}
	})
	t.Run("hung", func(t *testing.T) {
		port := fullBufferServer(t, nil)
		c := New(Options{ThreadWait: true, Timeout: 200 * time.Millisecond, Backoff: -1})
		t.Cleanup(func() { c.Close() })
		if err := c.AddTCPServer("127.0.0.1", port); err != nil {
			t.Fatal(err)
		}
		err := c.CacheSet(context.Background(), []byte("big"), val)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("set to a server that never reads: %v, want a timeout", err)
		}
		p := (*c.servers.Load())[0].blk
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.open != 0 || p.calls != 1 {
			t.Errorf("after the timeout: %d connections open, %d calls; want 0 and 1", p.open, p.calls)
		}
	})
}
