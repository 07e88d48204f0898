package libnmdb

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// TestLinksPerServer: calls made at the same time, which find the links
// they try in use, go on links of their own up to Options.LinksPerServer,
// each call alone on a link taking the direct path; beyond that they
// share. The links are kept for the next calls.
func TestLinksPerServer(t *testing.T) {
	const callers = 4
	for _, tc := range []struct {
		links, wantConns int
	}{
		{0, 1},
		{1, 1},
		{2, 2},
		{callers, callers},
		{8, callers},
	} {
		t.Run(fmt.Sprintf("LinksPerServer=%d", tc.links), func(t *testing.T) {
			port, conns := replyInBatches(t, callers)
			c := New(Options{Timeout: 10 * time.Second, LinksPerServer: tc.links})
			defer c.Close()
			if err := c.AddTCPServer("127.0.0.1", port); err != nil {
				t.Fatal(err)
			}
			for round := 1; round <= 2; round++ {
				getAtOnce(t, c, callers)
				// No reply comes before every request is sent, so each
				// link had one call reading it, and the rest shared.
				if n := conns.Load(); n != int32(tc.wantConns) {
					t.Errorf("round %d: %d connections, want %d", round, n, tc.wantConns)
				}
				if d := c.direct.Load(); d != uint64(round*tc.wantConns) {
					t.Errorf("round %d: %d direct calls, want %d", round, d, round*tc.wantConns)
				}
			}
			if tc.wantConns == callers {
				if h, w := c.handoffs.Load(), c.writerWakes.Load(); h != 0 || w != 0 {
					t.Errorf("calls each alone on a link woke the reader goroutine %d times, the writer %d times", h, w)
				}
			}
		})
	}
}

// TestLinksPerServerReconnect: closing the client closes every link, and
// a link that broke is connected again when next needed.
func TestLinksPerServerReconnect(t *testing.T) {
	const callers = 3
	port, conns := replyInBatches(t, callers)
	c := New(Options{Timeout: 10 * time.Second, LinksPerServer: callers})
	if err := c.AddTCPServer("127.0.0.1", port); err != nil {
		t.Fatal(err)
	}
	round := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for i := range callers {
			wg.Go(func() {
				_, err := c.Get(context.Background(), fmt.Appendf(nil, "k%d", i))
				errs <- err
			})
		}
		wg.Wait()
		for range callers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	round()
	s := (*c.servers.Load())[0]
	more := *s.more.Load()
	broken := more[0].Load()
	broken.fail(fmt.Errorf("%w: broken by the test", ErrConnLost))
	round()
	if n := conns.Load(); n != callers+1 {
		t.Errorf("%d connections after one link broke, want %d", n, callers+1)
	}
	if ln := more[0].Load(); ln == broken || ln.dead.Load() {
		t.Error("the broken link was not replaced")
	}
	c.Close()
	for i, ln := range append([]*link{s.cur.Load()}, more[0].Load(), more[1].Load()) {
		if !ln.dead.Load() {
			t.Errorf("link %d open after Close", i)
		}
	}
	if _, err := c.Get(context.Background(), []byte("k")); err == nil {
		t.Error("a call after Close worked")
	}
}

// getAtOnce makes n gets at the same time on c, of keys k0, k1, ..., and
// checks that each got its key as the value (see replyInBatches).
func getAtOnce(t *testing.T, c *Client, n int) {
	t.Helper()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			k := fmt.Appendf(nil, "k%d", i)
			v, err := c.Get(context.Background(), k)
			if err == nil && string(v) != string(k) {
				err = fmt.Errorf("get %s = %q", k, v)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// replyInBatches starts a TCP server that holds get requests, over all
// its connections, until n have come, then answers them all, each with
// its key as the value, and so on. It returns its port and the count of
// connections it accepted.
func replyInBatches(t *testing.T, n int) (int, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		conns atomic.Int32
		mu    sync.Mutex
		open  []net.Conn
		held  []func()
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range open {
			c.Close()
		}
	})
	serve := func(conn net.Conn) {
		defer conn.Close()
		st := &streamConn{c: conn, r: bufio.NewReaderSize(conn, wire.TCPPrefix+wire.MaxMessage)}
		var wmu sync.Mutex
		for {
			msg, err := st.readMsg()
			if err != nil {
				return
			}
			var req wire.Request
			if err := wire.DecodeRequest(msg, &req); err != nil {
				return
			}
			id, key := req.ID, append([]byte(nil), req.Key...)
			if req.Op == wire.OpStats {
				// The client's first request on a connection:
				// answered at once, as this project's server.
				b, start := wire.BeginFrame(nil)
				b = wire.AppendStats(b, id, make([]uint64, wire.NumStats))
				wmu.Lock()
				_, err := conn.Write(wire.EndFrame(b, start))
				wmu.Unlock()
				if err != nil {
					return
				}
				continue
			}
			mu.Lock()
			held = append(held, func() {
				b, start := wire.BeginFrame(nil)
				b = wire.AppendValue(b, id, wire.CodeCacheHit, key)
				wmu.Lock()
				conn.Write(wire.EndFrame(b, start))
				wmu.Unlock()
			})
			var batch []func()
			if len(held) == n {
				batch, held = held, nil
			}
			mu.Unlock()
			for _, answer := range batch {
				answer()
			}
		}
	}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			mu.Lock()
			open = append(open, conn)
			mu.Unlock()
			go serve(conn)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, &conns
}
