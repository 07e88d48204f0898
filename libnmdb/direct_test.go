package libnmdb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// directClient returns a client of one server started on network.
func directClient(t *testing.T, network string, o Options) (*Client, *nmdbtest.Server) {
	t.Helper()
	srv := nmdbtest.Start(t, network, nmdb.Config{})
	c := New(o)
	t.Cleanup(func() { c.Close() })
	var err error
	if network == "udp" {
		err = c.AddUDPServer("127.0.0.1", srv.Port())
	} else {
		err = c.AddTCPServer("127.0.0.1", srv.Port())
	}
	if err != nil {
		t.Fatal(err)
	}
	// Connected now, without a call: TCP servers are connected on first
	// use.
	if _, err := (*c.servers.Load())[0].link(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// TestDirectPathAlone: calls made one at a time each read their own
// reply: none wakes the reader or the writer goroutine, and none arms the
// sweeper, whatever its context.
func TestDirectPathAlone(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		for _, tw := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ThreadWait=%v", network, tw), func(t *testing.T) { testDirectPathAlone(t, network, tw) })
		}
	}
}

func testDirectPathAlone(t *testing.T, network string, threadWait bool) {
	c, _ := directClient(t, network, Options{ThreadWait: threadWait})
	cancelable, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	for i := range 50 {
		k := fmt.Appendf(nil, "k%d", i)
		timed, cancelTimed := context.WithTimeout(context.Background(), time.Minute)
		for _, ctx := range []context.Context{context.Background(), cancelable, timed} {
			if err := c.Set(ctx, k, k); err != nil {
				t.Fatal(err)
			}
			if v, err := c.Get(ctx, k); err != nil || string(v) != string(k) {
				t.Fatalf("get %s = %q, %v", k, v, err)
			}
			if err := c.CacheDel(ctx, k); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CacheGet(ctx, k); !errors.Is(err, ErrNotFound) {
				t.Fatalf("cache get after del: %v", err)
			}
			calls += 4
		}
		cancelTimed()
	}
	// With ThreadWait, the calls whose context is never done (a third
	// of them) go on a connection in blocking mode, the others take the
	// direct path.
	direct, blocking := uint64(calls), uint64(0)
	if threadWait {
		blocking = uint64(calls / 3)
		direct -= blocking
	}
	if d, b := c.direct.Load(), c.blockingCalls(); d != direct || b != blocking {
		t.Errorf("%d calls made alone: %d took the direct path, %d a connection in blocking mode; want %d, %d", calls, d, b, direct, blocking)
	}
	if h, w := c.handoffs.Load(), c.writerWakes.Load(); h != 0 || w != 0 {
		t.Errorf("calls made alone woke the reader goroutine %d times, the writer %d times", h, w)
	}
	ln := (*c.servers.Load())[0].cur.Load()
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.sweeper != nil || ln.reading || ln.npend != 0 {
		t.Errorf("after calls made alone: sweeper %v, reading %v, %d pending", ln.sweeper != nil, ln.reading, ln.npend)
	}
}

// TestDirectPathTimeouts: a call alone on its link ends at its deadline
// through the socket's read deadline, and when its context is cancelled,
// with the errors calls have always had; the link stays usable.
func TestDirectPathTimeouts(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		for _, tw := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ThreadWait=%v", network, tw), func(t *testing.T) { testDirectPathTimeouts(t, network, tw) })
		}
	}
}

func testDirectPathTimeouts(t *testing.T, network string, threadWait bool) {
	// Backoff -1: the passive server stays in use.
	c, srv := directClient(t, network, Options{Timeout: 150 * time.Millisecond, RetryInterval: 20 * time.Millisecond, Backoff: -1, ThreadWait: threadWait})
	ln := (*c.servers.Load())[0].cur.Load()
	srv.SetPassive(true)
	before := c.direct.Load()
	_, err := c.Get(context.Background(), []byte("k"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no reply before the deadline") {
		t.Fatalf("get from a passive server: %v", err)
	}
	if network == "udp" && strings.Contains(err.Error(), "not repeated") {
		t.Errorf("a get, safe to repeat, says it was not repeated: %v", err)
	}
	err = c.Del(context.Background(), []byte("k"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("del from a passive server: %v", err)
	}
	if network == "udp" && !strings.Contains(err.Error(), "not repeated") {
		t.Errorf("a lost datagram del does not say it was not repeated: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			ln := (*c.servers.Load())[0].cur.Load()
			ln.mu.Lock()
			r := ln.reading
			ln.mu.Unlock()
			if r {
				break
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := c.Get(ctx, []byte("k")); !errors.Is(err, context.Canceled) {
		t.Fatalf("get cancelled while waiting: %v", err)
	}
	// With ThreadWait, the get and the del, whose context is never
	// done, went on a connection in blocking mode.
	want := uint64(3)
	if threadWait {
		want = 1
		if b := c.blockingCalls(); b != 2 {
			t.Errorf("%d of 2 calls with context.Background() went on a connection in blocking mode", b)
		}
	}
	if d := c.direct.Load() - before; d != want {
		t.Errorf("%d of %d calls alone took the direct path", d, want)
	}
	srv.SetPassive(false)
	if err := c.Set(context.Background(), []byte("k"), []byte("v")); err != nil {
		t.Fatalf("set after the timeouts: %v", err)
	}
	if n, _ := pending(c); n != 0 {
		t.Fatalf("%d calls left pending", n)
	}
	if (*c.servers.Load())[0].cur.Load() != ln || ln.dead.Load() {
		t.Fatal("the timeouts broke the link")
	}
}

// waitLink waits, for at most ten seconds, until cond holds for c's only
// link, with its mutex held.
func waitLink(t *testing.T, c *Client, what string, cond func(*link) bool) {
	t.Helper()
	ln := (*c.servers.Load())[0].cur.Load()
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(time.Millisecond) {
		ln.mu.Lock()
		ok := cond(ln)
		ln.mu.Unlock()
		if ok {
			return
		}
	}
	t.Fatalf("waited ten seconds for this in vain: %s", what)
}

// TestDirectPathShares: calls made while a direct call waits share the
// link; the direct call hands each reply that comes first to its owner,
// and the reader goroutine takes over only when the direct call got its
// own reply with others still in flight.
func TestDirectPathShares(t *testing.T) {
	for _, tc := range []struct {
		name        string
		order       []int // which request (by arrival) to answer, in turn
		wantWakeups uint64
	}{
		{"own reply last", []int{2, 1, 0}, 0},
		{"own reply first", []int{0, 2, 1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := replyInOrder(t, len(tc.order), tc.order)
			c := New(Options{Timeout: 10 * time.Second})
			defer c.Close()
			if err := c.AddTCPServer("127.0.0.1", port); err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 3)
			get := func(i int) {
				k := fmt.Appendf(nil, "k%d", i)
				v, err := c.Get(context.Background(), k)
				if err == nil && string(v) != string(k) {
					err = fmt.Errorf("get %s = %q", k, v)
				}
				errs <- err
			}
			go get(0)
			waitPending(t, c, 1)
			go get(1)
			waitPending(t, c, 2)
			go get(2)
			for range 3 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			if d := c.direct.Load(); d != 1 {
				t.Errorf("%d direct calls, want the first", d)
			}
			if w := c.handoffs.Load(); w != tc.wantWakeups {
				t.Errorf("%d wake-ups of the reader goroutine, want %d", w, tc.wantWakeups)
			}
			// Alone again: direct once more.
			get(3)
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			if d := c.direct.Load(); d != 2 {
				t.Errorf("the call after the others: %d direct calls, want 2", d)
			}
		})
	}
}

// replyInOrder starts a TCP server that reads hold get requests and then
// answers those order lists (indexes in arrival order), in that order,
// each with its key as the value, and then answers every further request
// at once the same way. It returns its port.
func replyInOrder(t *testing.T, hold int, order []int) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		st := &streamConn{c: conn, r: bufio.NewReaderSize(conn, wire.TCPPrefix+wire.MaxMessage)}
		var held []wire.Request
		answer := func(req wire.Request) bool {
			b, start := wire.BeginFrame(nil)
			b = wire.AppendValue(b, req.ID, wire.CodeCacheHit, req.Key)
			_, err := conn.Write(wire.EndFrame(b, start))
			return err == nil
		}
		for {
			msg, err := st.readMsg()
			if err != nil {
				return
			}
			var req wire.Request
			if err := wire.DecodeRequest(msg, &req); err != nil {
				return
			}
			req.Key = append([]byte(nil), req.Key...)
			if req.Op == wire.OpStats {
				// The client's first request on a connection:
				// answered at once, as this project's server.
				b, start := wire.BeginFrame(nil)
				b = wire.AppendStats(b, req.ID, make([]uint64, wire.NumStats))
				if _, err := conn.Write(wire.EndFrame(b, start)); err != nil {
					return
				}
				continue
			}
			if hold == 0 {
				if !answer(req) {
					return
				}
				continue
			}
			held = append(held, req)
			if len(held) == hold {
				for _, i := range order {
					if !answer(held[i]) {
						return
					}
				}
				hold = 0
			}
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDirectPathAfterLostReplies: when the calls left to the reader
// goroutine all give up, it hands the reading back, so that the next
// call alone reads its reply itself again.
func TestDirectPathAfterLostReplies(t *testing.T) {
	port := replyInOrder(t, 2, []int{0}) // the second request is never answered
	// Backoff -1: the server stays in use after the lost reply.
	c := New(Options{Timeout: 200 * time.Millisecond, Backoff: -1})
	defer c.Close()
	if err := c.AddTCPServer("127.0.0.1", port); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() {
		_, err := c.Get(context.Background(), []byte("a"))
		errs <- err
	}()
	waitPending(t, c, 1)
	go func() {
		_, err := c.Get(context.Background(), []byte("b"))
		errs <- err
	}()
	var failed int
	for range 2 {
		if err := <-errs; errors.Is(err, context.DeadlineExceeded) {
			failed++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if d, h := c.direct.Load(), c.handoffs.Load(); failed != 1 || d != 1 || h != 1 {
		t.Fatalf("%d timed out, %d direct, %d handed over; want 1 each", failed, d, h)
	}
	waitLink(t, c, "the reader goroutine gives the reading back", func(ln *link) bool { return !ln.reading })
	for range 3 {
		if v, err := c.Get(context.Background(), []byte("c")); err != nil || string(v) != "c" {
			t.Fatalf("get c = %q, %v", v, err)
		}
	}
	if d := c.direct.Load(); d != 4 {
		t.Fatalf("%d direct calls, want 4: the reader goroutine kept the reading", d)
	}
}
