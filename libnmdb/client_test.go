package libnmdb_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// testCtx returns a context that ends with the test, bounded so that a
// hang fails instead of blocking the suite.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newClient returns a client holding the given servers, closed when the
// test ends.
func newClient(t testing.TB, o libnmdb.Options, servers ...*nmdbtest.Server) *libnmdb.Client {
	t.Helper()
	c := libnmdb.New(o)
	t.Cleanup(func() { c.Close() })
	for _, s := range servers {
		addServer(t, c, s)
	}
	return c
}

func addServer(t testing.TB, c *libnmdb.Client, s *nmdbtest.Server) {
	t.Helper()
	var err error
	if s.Network == "udp" {
		err = c.AddUDPServer(s.Addr.Addr().String(), s.Port())
	} else {
		err = c.AddTCPServer(s.Addr.Addr().String(), s.Port())
	}
	if err != nil {
		t.Fatal(err)
	}
}

func startServer(t testing.TB, network string, cfg nmdb.Config) *nmdbtest.Server {
	t.Helper()
	return nmdbtest.Start(t, network, cfg)
}

func mustErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mustGet(t *testing.T, what string, got []byte, err error, want string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if string(got) != want {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

// TestOperations runs every operation and mode against a real server, over
// TCP and over UDP, also with ThreadWait, its calls then made with
// context.Background() on connections in blocking mode.
func TestOperations(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		for _, tw := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ThreadWait=%v", network, tw), func(t *testing.T) {
				srv := startServer(t, network, nmdb.Config{})
				c := newClient(t, libnmdb.Options{ThreadWait: tw}, srv)
				if !tw {
					testOperations(t, c, network == "udp")
					return
				}
				testOperationsCtx(t, context.Background(), c, network == "udp")
				if libnmdb.BlockingCalls(c) == 0 {
					t.Error("no call went on a connection in blocking mode")
				}
			})
		}
	}
}

func testOperations(t *testing.T, c *libnmdb.Client, udp bool) {
	testOperationsCtx(t, testCtx(t), c, udp)
}

func testOperationsCtx(t *testing.T, ctx context.Context, c *libnmdb.Client, udp bool) {
	k := []byte("key")

	_, err := c.Get(ctx, k)
	mustErr(t, "get absent", err, libnmdb.ErrNotFound)
	_, err = c.CacheGet(ctx, k)
	mustErr(t, "cache get absent", err, libnmdb.ErrNotFound)

	// Normal set: queued, then visible to get.
	mustOK(t, "set", c.Set(ctx, k, []byte("v1")))
	v, err := c.Get(ctx, k)
	mustGet(t, "get after set", v, err, "v1")
	v, err = c.CacheGet(ctx, k)
	mustGet(t, "cache get after set", v, err, "v1")
	buf := []byte("prefix:")
	v, err = c.AppendGet(ctx, buf, k)
	mustGet(t, "append get", v, err, "prefix:v1")
	v, err = c.AppendCacheGet(ctx, buf, k)
	mustGet(t, "append cache get", v, err, "prefix:v1")
	v, err = c.AppendGet(ctx, buf, []byte("absent"))
	if !errors.Is(err, libnmdb.ErrNotFound) || string(v) != "prefix:" {
		t.Fatalf("append get of an absent key: %q, %v", v, err)
	}

	// Sync set, then the database answers after the cache is emptied.
	mustOK(t, "set sync", c.SetSync(ctx, k, []byte("v2")))
	mustOK(t, "cache del", c.CacheDel(ctx, k))
	_, err = c.CacheGet(ctx, k)
	mustErr(t, "cache get after cache del", err, libnmdb.ErrNotFound)
	mustErr(t, "cache del absent", c.CacheDel(ctx, k), libnmdb.ErrNotFound)
	v, err = c.Get(ctx, k)
	mustGet(t, "get from database", v, err, "v2")

	// Cache-only set does not reach the database.
	ck := []byte("cache-only")
	mustOK(t, "cache set", c.CacheSet(ctx, ck, []byte("c1")))
	v, err = c.CacheGet(ctx, ck)
	mustGet(t, "cache get", v, err, "c1")
	v, err = c.Get(ctx, ck)
	mustGet(t, "get of cached", v, err, "c1")
	mustOK(t, "cache del", c.CacheDel(ctx, ck))
	_, err = c.Get(ctx, ck)
	mustErr(t, "get of cache-only after cache del", err, libnmdb.ErrNotFound)

	// Empty values and binary keys.
	bk := []byte{0, 1, 2, 0xff}
	mustOK(t, "set empty", c.SetSync(ctx, bk, nil))
	v, err = c.Get(ctx, bk)
	mustGet(t, "get empty", v, err, "")

	// Del: normal always OK; sync tells whether the key existed.
	mustOK(t, "del", c.Del(ctx, bk))
	_, err = c.Get(ctx, bk)
	mustErr(t, "get after del", err, libnmdb.ErrNotFound)
	mustOK(t, "set sync", c.SetSync(ctx, bk, []byte("x")))
	mustOK(t, "del sync", c.DelSync(ctx, bk))
	mustErr(t, "del sync absent", c.DelSync(ctx, bk), libnmdb.ErrNotFound)

	// CAS in both modes.
	ak := []byte("cas")
	mustErr(t, "cas absent", c.CAS(ctx, ak, []byte("a"), []byte("b")), libnmdb.ErrNotFound)
	mustOK(t, "set", c.SetSync(ctx, ak, []byte("a")))
	mustErr(t, "cas no match", c.CAS(ctx, ak, []byte("zz"), []byte("b")), libnmdb.ErrNoMatch)
	mustOK(t, "cas", c.CAS(ctx, ak, []byte("a"), []byte("b")))
	v, err = c.Get(ctx, ak)
	mustGet(t, "get after cas", v, err, "b")
	mustErr(t, "cache cas no match", c.CacheCAS(ctx, ak, []byte("a"), []byte("c")), libnmdb.ErrNoMatch)
	mustOK(t, "cache cas", c.CacheCAS(ctx, ak, []byte("b"), []byte("c")))
	v, err = c.CacheGet(ctx, ak)
	mustGet(t, "cache get after cache cas", v, err, "c")
	mustErr(t, "cache cas uncached", c.CacheCAS(ctx, []byte("nowhere"), []byte("a"), []byte("b")), libnmdb.ErrNotFound)

	// Incr in both modes, and its errors.
	ik := []byte("counter")
	_, err = c.Incr(ctx, ik, 1)
	mustErr(t, "incr absent", err, libnmdb.ErrNotFound)
	mustOK(t, "set counter", c.SetSync(ctx, ik, wire.AppendCounter(nil, 40)))
	n, err := c.Incr(ctx, ik, 2)
	if err != nil || n != 42 {
		t.Fatalf("incr = %d, %v; want 42", n, err)
	}
	n, err = c.Incr(ctx, ik, -50)
	if err != nil || n != -8 {
		t.Fatalf("incr = %d, %v; want -8", n, err)
	}
	v, err = c.Get(ctx, ik)
	mustGet(t, "get counter", v, err, string(wire.AppendCounter(nil, -8)))
	n, err = c.CacheIncr(ctx, ik, 10)
	if err != nil || n != 2 {
		t.Fatalf("cache incr = %d, %v; want 2", n, err)
	}
	_, err = c.CacheIncr(ctx, []byte("uncached counter"), 1)
	mustErr(t, "cache incr uncached", err, libnmdb.ErrNotFound)
	mustOK(t, "set text", c.SetSync(ctx, ik, []byte("twelve\x00")))
	_, err = c.Incr(ctx, ik, 1)
	mustErr(t, "incr of text", err, libnmdb.ErrNotNumber)
	mustOK(t, "set text", c.SetSync(ctx, ik, []byte("12"))) // no NUL: not a counter
	_, err = c.Incr(ctx, ik, 1)
	mustErr(t, "incr without NUL", err, libnmdb.ErrNotNumber)

	// Limits are checked before anything is sent.
	big := make([]byte, wire.MaxData+1)
	mustErr(t, "set of a too big value", c.Set(ctx, k, big), libnmdb.ErrTooBig)
	_, err = c.Get(ctx, big)
	mustErr(t, "get of a too big key", err, libnmdb.ErrTooBig)
	mustErr(t, "set of too big key+value", c.Set(ctx, big[:wire.MaxData/2+1], big[:wire.MaxData/2]), libnmdb.ErrTooBig)

	// The largest value fits in a request; over UDP only what fits in a
	// datagram does, and more fails at once with ErrTooBig.
	maxv := bytes.Repeat([]byte{'m'}, wire.MaxData-1)
	if udp {
		mustErr(t, "set of a value beyond a datagram", c.SetSync(ctx, []byte("m"), maxv), libnmdb.ErrTooBig)
		maxv = maxv[:65000]
	}
	mustOK(t, "set of the largest value", c.SetSync(ctx, []byte("m"), maxv))
	v, err = c.Get(ctx, []byte("m"))
	if err != nil || !bytes.Equal(v, maxv) {
		t.Fatalf("get of the largest value: %d bytes, %v", len(v), err)
	}

	// Stats counted what happened.
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || len(st[0]) < wire.ClassicStats {
		t.Fatalf("stats: %d servers, %d counters", len(st), len(st[0]))
	}
	if st[0][wire.StatCacheGet] == 0 || st[0][wire.StatDBSet] == 0 || st[0][wire.StatCacheIncr] == 0 {
		t.Fatalf("stats counted nothing: %v", st[0])
	}

	// Key iteration sees exactly the keys in the database.
	want := map[string]bool{}
	for k := range 20 {
		key := fmt.Sprintf("walk-%02d", k)
		want[key] = true
		mustOK(t, "set", c.SetSync(ctx, []byte(key), []byte("w")))
	}
	got := map[string]bool{}
	for key, err := range c.Keys(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if got[string(key)] {
			t.Fatalf("key %q seen twice", key)
		}
		got[string(key)] = true
	}
	for key := range want {
		if !got[key] {
			t.Errorf("walk missed %q", key)
		}
	}
	for key := range got {
		if !want[key] && key != "key" && key != "cas" && key != "counter" && key != "m" {
			t.Errorf("walk found unexpected %q", key)
		}
	}
	first, err := c.FirstKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !got[string(first)] {
		t.Fatalf("first key %q not among the keys", first)
	}
}

func TestEmptyDatabaseWalk(t *testing.T) {
	srv := startServer(t, "tcp", nmdb.Config{})
	c := newClient(t, libnmdb.Options{}, srv)
	ctx := testCtx(t)
	_, err := c.FirstKey(ctx)
	mustErr(t, "first key of empty database", err, libnmdb.ErrNotFound)
	for k, err := range c.Keys(ctx) {
		t.Fatalf("walk of empty database yielded %q, %v", k, err)
	}
}

func TestReadOnly(t *testing.T) {
	srv := startServer(t, "tcp", nmdb.Config{})
	c := newClient(t, libnmdb.Options{}, srv)
	ctx := testCtx(t)
	k := []byte("k")
	mustOK(t, "set", c.SetSync(ctx, k, wire.AppendCounter(nil, 1)))
	srv.SetReadOnly(true)
	check := func(what string, err error) {
		t.Helper()
		mustErr(t, what, err, libnmdb.ErrReadOnly)
		var se *libnmdb.ServerError
		if !errors.As(err, &se) || se.Code != wire.ErrCodeReadOnly || !strings.Contains(se.Server, srv.Addr.String()) {
			t.Fatalf("%s: %#v is not the server's read-only error", what, err)
		}
		if errors.Is(err, libnmdb.ErrDB) {
			t.Fatalf("%s: read-only error matches ErrDB", what)
		}
	}
	check("set", c.Set(ctx, k, []byte("x")))
	check("set sync", c.SetSync(ctx, k, []byte("x")))
	check("del", c.Del(ctx, k))
	check("del sync", c.DelSync(ctx, k))
	check("cas", c.CAS(ctx, k, []byte("a"), []byte("b")))
	_, err := c.Incr(ctx, k, 1)
	check("incr", err)
	// Reads still work.
	v, err := c.Get(ctx, k)
	mustGet(t, "get", v, err, string(wire.AppendCounter(nil, 1)))
	srv.SetReadOnly(false)
	mustOK(t, "set after read-only", c.Set(ctx, k, []byte("x")))
}

func TestClientErrors(t *testing.T) {
	ctx := testCtx(t)
	c := libnmdb.New(libnmdb.Options{})
	_, err := c.Get(ctx, []byte("k"))
	mustErr(t, "get without servers", err, libnmdb.ErrNoServers)
	_, err = c.Stats(ctx)
	mustErr(t, "stats without servers", err, libnmdb.ErrNoServers)
	_, err = c.FirstKey(ctx)
	mustErr(t, "first key without servers", err, libnmdb.ErrOneServer)

	a := startServer(t, "tcp", nmdb.Config{})
	b := startServer(t, "tcp", nmdb.Config{})
	addServer(t, c, a)
	if err := c.AddTCPServer("127.0.0.1", a.Port()); err == nil {
		t.Fatal("adding a server twice succeeded")
	}
	addServer(t, c, b)
	if err := c.AddTCPServer("127.0.0.1", 70000); err == nil {
		t.Fatal("adding a server with port 70000 succeeded")
	}
	if c.NumServers() != 2 {
		t.Fatalf("NumServers = %d", c.NumServers())
	}
	_, err = c.FirstKey(ctx)
	mustErr(t, "first key with two servers", err, libnmdb.ErrOneServer)
	_, err = c.NextKey(ctx, []byte("k"))
	mustErr(t, "next key with two servers", err, libnmdb.ErrOneServer)
	for _, err := range c.Keys(ctx) {
		mustErr(t, "keys with two servers", err, libnmdb.ErrOneServer)
	}
	st, err := c.Stats(ctx)
	if err != nil || len(st) != 2 {
		t.Fatalf("stats of two servers: %d, %v", len(st), err)
	}

	// A cancelled context fails at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Get(cctx, []byte("k"))
	mustErr(t, "get with cancelled context", err, context.Canceled)

	// Adding fails only for bad addresses (a server that is down is
	// added: see TestServersComeAndGo).
	if err := c.AddTCPServer("", 1); err == nil {
		t.Fatal("adding a server without an address succeeded")
	}
	if err := c.AddTCPServer("no-such-host.invalid", 1); err == nil {
		t.Fatal("adding a server with an unknown host name succeeded")
	}
	if c.NumServers() != 2 {
		t.Fatalf("failed adds changed the servers: %d", c.NumServers())
	}

	mustOK(t, "close", c.Close())
	_, err = c.Get(ctx, []byte("k"))
	mustErr(t, "get after close", err, libnmdb.ErrClosed)
	mustErr(t, "add after close", c.AddTCPServer("127.0.0.1", a.Port()), libnmdb.ErrClosed)
	mustOK(t, "second close", c.Close())
}

// TestHostName adds a server by host name.
func TestHostName(t *testing.T) {
	srv := startServer(t, "tcp", nmdb.Config{})
	c := libnmdb.New(libnmdb.Options{})
	defer c.Close()
	if err := c.AddTCPServer("localhost", srv.Port()); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	mustOK(t, "set", c.Set(ctx, []byte("k"), []byte("v")))
	if got := c.Servers(); len(got) != 1 || got[0] != "tcp "+srv.Addr.String() {
		t.Fatalf("Servers() = %q", got)
	}
}

// TestDefaultTimeout: a context without a deadline gets Options.Timeout;
// a passive server never replies.
func TestDefaultTimeout(t *testing.T) {
	srv := startServer(t, "tcp", nmdb.Config{})
	c := newClient(t, libnmdb.Options{Timeout: 200 * time.Millisecond, Backoff: -1}, srv) // the passive server stays in use
	srv.SetPassive(true)
	_, err := c.Get(context.Background(), []byte("k"))
	mustErr(t, "get from a passive server", err, context.DeadlineExceeded)
	srv.SetPassive(false)
	// The connection is still good once the server replies again.
	mustOK(t, "set", c.Set(context.Background(), []byte("k"), []byte("v")))
}

// TestSharding: every key lands on the server Select names, checked by
// asking each server alone.
func TestSharding(t *testing.T) {
	ctx := testCtx(t)
	var srvs []*nmdbtest.Server
	for range 3 {
		srvs = append(srvs, startServer(t, "tcp", nmdb.Config{}))
	}
	all := newClient(t, libnmdb.Options{}, srvs...)
	// Single-server clients, in the client's sharding order.
	byName := map[string]*libnmdb.Client{}
	for _, s := range srvs {
		byName["tcp "+s.Addr.String()] = newClient(t, libnmdb.Options{}, s)
	}
	order := all.Servers()
	if len(order) != 3 {
		t.Fatalf("servers: %q", order)
	}
	// One address: the order is by port, compared low byte first.
	lowFirst := func(s *nmdbtest.Server) int { p := s.Port(); return (p&0xff)<<8 | p>>8 }
	wantOrder := slices.Clone(srvs)
	slices.SortFunc(wantOrder, func(a, b *nmdbtest.Server) int { return lowFirst(a) - lowFirst(b) })
	for i, s := range wantOrder {
		if order[i] != "tcp "+s.Addr.String() {
			t.Fatalf("order %q, want %v first", order, s.Addr)
		}
	}
	seen := make([]int, 3)
	for i := range 300 {
		key := fmt.Appendf(nil, "shard-%d", i)
		mustOK(t, "set", all.SetSync(ctx, key, key))
		want := libnmdb.Select(key, 3)
		seen[want]++
		for j, name := range order {
			v, err := byName[name].Get(ctx, key)
			if j == want {
				mustGet(t, "get from its server", v, err, string(key))
			} else {
				mustErr(t, "get from another server", err, libnmdb.ErrNotFound)
			}
		}
	}
	for j, n := range seen {
		if n == 0 {
			t.Fatalf("no key landed on server %d: %v", j, seen)
		}
	}
	st, err := all.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for j, name := range order {
		if got := st[j][wire.StatDBSet]; got != uint64(seen[j]) {
			t.Errorf("%s: db set counter %d, want %d", name, got, seen[j])
		}
	}
}

// TestServerRestart stops a server while goroutines use it and starts a
// new one on the same port and database: calls fail with clear errors
// while it is down, the client reconnects on its own, and no write that
// was acknowledged is lost.
func TestServerRestart(t *testing.T) {
	ctx := testCtx(t)
	cfg := nmdb.Config{DBPath: t.TempDir()}
	srv, err := nmdbtest.StartAt("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	c := newClient(t, libnmdb.Options{Timeout: 5 * time.Second}, srv)
	mustOK(t, "set", c.SetSync(ctx, []byte("durable"), []byte("yes")))

	// Workers write increasing values to their own keys, recording the
	// last write acknowledged and the last one attempted.
	const workers = 4
	type progress struct{ acked, tried, afterRestart atomic.Int64 }
	prog := make([]progress, workers)
	restarted := make(chan struct{})
	stop := make(chan struct{})
	var failures atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			key := fmt.Appendf(nil, "worker-%d", w)
			for i := int64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				prog[w].tried.Store(int64(i))
				err := c.SetSync(ctx, key, strconv.AppendInt(nil, i, 10))
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					if !errors.Is(err, libnmdb.ErrConnLost) && !errors.Is(err, libnmdb.ErrServerDown) && !strings.Contains(err.Error(), "connect") {
						t.Errorf("worker %d: unclear error: %v", w, err)
						return
					}
					failures.Add(1)
					continue
				}
				prog[w].acked.Store(i)
				select {
				case <-restarted:
					prog[w].afterRestart.Add(1)
				default:
				}
			}
		})
	}
	// Let every worker get a write through, then stop the server under them.
	waitFor(t, func() bool {
		for w := range workers {
			if prog[w].acked.Load() == 0 {
				return false
			}
		}
		return true
	})
	mustOK(t, "stop", srv.Stop())

	// While it is down, calls fail quickly and clearly.
	_, err = c.Get(ctx, []byte("durable"))
	if err == nil {
		t.Fatal("get from a stopped server succeeded")
	}
	t.Logf("while down: %v", err)

	srv2, err := nmdbtest.StartAt("tcp", srv.Addr.String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv2.Stop() })
	close(restarted)
	// Marked down, the server is tried again within Options.MaxBackoff.
	var v []byte
	waitFor(t, func() bool {
		v, err = c.Get(ctx, []byte("durable"))
		return !errors.Is(err, libnmdb.ErrServerDown)
	})
	mustGet(t, "get after restart", v, err, "yes")
	waitFor(t, func() bool {
		for w := range workers {
			if prog[w].afterRestart.Load() < 3 {
				return false
			}
		}
		return true
	})
	close(stop)
	wg.Wait()
	t.Logf("%d calls failed while the server was down", failures.Load())
	for w := range workers {
		v, err := c.Get(ctx, fmt.Appendf(nil, "worker-%d", w))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseInt(string(v), 10, 64)
		if acked, tried := prog[w].acked.Load(), prog[w].tried.Load(); n < acked || n > tried {
			t.Errorf("worker %d: stored %d, acknowledged %d, tried %d", w, n, acked, tried)
		}
	}
}

// waitFor polls cond until it holds, failing the test if that takes
// unreasonably long.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("condition not reached")
		}
	}
}

// TestConnLostInFlight: a peer that closes the connection with requests
// in flight fails them with ErrConnLost, and the next call dials again.
func TestConnLostInFlight(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int32
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			n := accepted.Add(1)
			go func() {
				defer conn.Close()
				buf := make([]byte, wire.TCPPrefix)
				if _, err := conn.Read(buf); err != nil {
					return
				}
				if n == 1 {
					return // the first connection is dropped after one request
				}
				// Later ones are held open without replies until the test ends.
				io.Copy(io.Discard, conn)
			}()
		}
	}()
	// Marking down off: the test is about the reconnect itself.
	c := libnmdb.New(libnmdb.Options{Timeout: 10 * time.Second, Backoff: -1})
	defer c.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if err := c.AddTCPServer("127.0.0.1", port); err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(testCtx(t), []byte("k"))
	mustErr(t, "get on a dropped connection", err, libnmdb.ErrConnLost)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.Get(ctx, []byte("k"))
	mustErr(t, "get on the second connection", err, context.DeadlineExceeded)
	if accepted.Load() != 2 {
		t.Fatalf("%d connections, want 2 (a reconnect)", accepted.Load())
	}
}

// TestHammer: 64 goroutines share one client over two servers.
func TestHammer(t *testing.T) {
	ctx := testCtx(t)
	a := startServer(t, "tcp", nmdb.Config{})
	b := startServer(t, "tcp", nmdb.Config{})
	c := newClient(t, libnmdb.Options{}, a, b)
	const workers, rounds = 64, 100
	shared := []byte("shared counter")
	mustOK(t, "set", c.SetSync(ctx, shared, wire.AppendCounter(nil, 0)))
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				key := fmt.Appendf(nil, "w%d-%d", w, i%10)
				val := fmt.Appendf(nil, "value %d %d", w, i)
				var err error
				switch i % 4 {
				case 0:
					err = c.Set(ctx, key, val)
				case 1:
					err = c.CacheSet(ctx, key, val)
				case 2:
					err = c.SetSync(ctx, key, val)
				case 3:
					err = c.Set(ctx, key, val)
				}
				if err != nil {
					errs <- err
					return
				}
				got, err := c.Get(ctx, key)
				if err != nil || !bytes.Equal(got, val) {
					errs <- fmt.Errorf("worker %d: get %s = %q, %v; want %q", w, key, got, err, val)
					return
				}
				if _, err := c.Incr(ctx, shared, 1); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n, err := c.Incr(ctx, shared, 0)
	if err != nil || n != workers*rounds {
		t.Fatalf("shared counter = %d, %v; want %d", n, err, workers*rounds)
	}
}

// udpProxy forwards datagrams between one client and a server, dropping
// the first drop datagrams from the client.
type udpProxy struct {
	pc      net.PacketConn
	server  *net.UDPAddr
	drop    atomic.Int32
	fromCli atomic.Int32
}

func startUDPProxy(t *testing.T, server netip.AddrPort) *udpProxy {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &udpProxy{pc: pc, server: net.UDPAddrFromAddrPort(server)}
	up, err := net.DialUDP("udp", nil, p.server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); up.Close() })
	var client atomic.Pointer[net.Addr]
	go func() {
		buf := make([]byte, 1<<17)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			client.Store(&from)
			p.fromCli.Add(1)
			if p.drop.Add(-1) >= 0 {
				continue
			}
			up.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 1<<17)
		for {
			n, err := up.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if to := client.Load(); to != nil {
				pc.WriteTo(buf[:n], *to)
			}
		}
	}()
	return p
}

func (p *udpProxy) port() int { return p.pc.LocalAddr().(*net.UDPAddr).Port }

// TestUDPRetry: a lost datagram is repeated for requests that are safe to
// repeat; the others time out with an error that says why.
func TestUDPRetry(t *testing.T) {
	srv := startServer(t, "udp", nmdb.Config{})
	p := startUDPProxy(t, srv.Addr)
	// Marking down off: the server is used after each lost datagram.
	c := libnmdb.New(libnmdb.Options{RetryInterval: 20 * time.Millisecond, Backoff: -1})
	defer c.Close()
	if err := c.AddUDPServer("127.0.0.1", p.port()); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)

	safe := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"set", func(ctx context.Context) error { return c.Set(ctx, []byte("k"), []byte("v")) }},
		{"set sync", func(ctx context.Context) error { return c.SetSync(ctx, []byte("k"), wire.AppendCounter(nil, 5)) }},
		{"cache set", func(ctx context.Context) error { return c.CacheSet(ctx, []byte("c"), []byte("v")) }},
		{"get", func(ctx context.Context) error { _, err := c.Get(ctx, []byte("k")); return err }},
		{"cache get", func(ctx context.Context) error { _, err := c.CacheGet(ctx, []byte("c")); return err }},
		{"del sync", func(ctx context.Context) error { return c.DelSync(ctx, []byte("d")) }},
		{"cache del", func(ctx context.Context) error { return c.CacheDel(ctx, []byte("c")) }},
		{"first key", func(ctx context.Context) error { _, err := c.FirstKey(ctx); return err }},
		{"next key", func(ctx context.Context) error { _, err := c.NextKey(ctx, []byte("k")); return err }},
		{"stats", func(ctx context.Context) error { _, err := c.Stats(ctx); return err }},
	}
	for _, op := range safe {
		before := p.fromCli.Load()
		p.drop.Store(1)
		err := op.do(ctx)
		if err != nil && !errors.Is(err, libnmdb.ErrNotFound) {
			t.Fatalf("%s with its first datagram lost: %v", op.name, err)
		}
		if sent := p.fromCli.Load() - before; sent < 2 {
			t.Fatalf("%s: %d datagrams sent, want a repeat", op.name, sent)
		}
	}

	unsafe := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"del", func(ctx context.Context) error { return c.Del(ctx, []byte("k")) }},
		{"cas", func(ctx context.Context) error { return c.CAS(ctx, []byte("k"), []byte("a"), []byte("b")) }},
		{"cache cas", func(ctx context.Context) error { return c.CacheCAS(ctx, []byte("k"), []byte("a"), []byte("b")) }},
		{"incr", func(ctx context.Context) error { _, err := c.Incr(ctx, []byte("k"), 1); return err }},
		{"cache incr", func(ctx context.Context) error { _, err := c.CacheIncr(ctx, []byte("k"), 1); return err }},
	}
	for _, op := range unsafe {
		before := p.fromCli.Load()
		p.drop.Store(1)
		tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := op.do(tctx)
		cancel()
		mustErr(t, op.name+" with its datagram lost", err, context.DeadlineExceeded)
		if !strings.Contains(err.Error(), "not safe to repeat") {
			t.Fatalf("%s: unclear timeout error: %v", op.name, err)
		}
		if sent := p.fromCli.Load() - before; sent != 1 {
			t.Fatalf("%s: %d datagrams sent, want 1", op.name, sent)
		}
	}
	// Nothing lost: the unsafe ones work.
	n, err := c.Incr(ctx, []byte("k"), 1)
	if err != nil || n != 6 {
		t.Fatalf("incr = %d, %v; want 6", n, err)
	}
}

// TestUDPNoServer: requests to a UDP port nobody serves time out (the
// ICMP errors are absorbed), and do not break the client.
func TestUDPNoServer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	c := libnmdb.New(libnmdb.Options{RetryInterval: 10 * time.Millisecond})
	defer c.Close()
	if err := c.AddUDPServer("127.0.0.1", port); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.Get(ctx, []byte("k"))
	mustErr(t, "get from nobody", err, context.DeadlineExceeded)
}

// gateProxy forwards one TCP connection to a server; replies pass only
// while the gate is open.
type gateProxy struct {
	l    net.Listener
	open atomic.Bool
}

func startGateProxy(t *testing.T, server netip.AddrPort) *gateProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &gateProxy{l: l}
	p.open.Store(true)
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			cli, err := l.Accept()
			if err != nil {
				return
			}
			srv, err := net.Dial("tcp", server.String())
			if err != nil {
				cli.Close()
				return
			}
			go func() { io.Copy(srv, cli); srv.Close() }()
			go func() {
				defer cli.Close()
				buf := make([]byte, 1<<16)
				for {
					n, err := srv.Read(buf)
					if err != nil {
						return
					}
					for !p.open.Load() {
						select {
						case <-done:
							return
						case <-time.After(time.Millisecond):
						}
					}
					if _, err := cli.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

// TestLateReplyIsDropped: the reply to a request given up on arrives
// later and must not be taken for the reply to the next request.
func TestLateReplyIsDropped(t *testing.T) {
	srv := startServer(t, "tcp", nmdb.Config{})
	p := startGateProxy(t, srv.Addr)
	c := libnmdb.New(libnmdb.Options{Backoff: -1}) // the gated server stays in use
	defer c.Close()
	if err := c.AddTCPServer("127.0.0.1", p.l.Addr().(*net.TCPAddr).Port); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	mustOK(t, "set a", c.SetSync(ctx, []byte("a"), []byte("value of a")))
	mustOK(t, "set b", c.SetSync(ctx, []byte("b"), []byte("value of b")))

	p.open.Store(false)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err := c.Get(short, []byte("a"))
	cancel()
	mustErr(t, "get with the reply held back", err, context.DeadlineExceeded)
	p.open.Store(true)

	for range 3 {
		v, err := c.Get(ctx, []byte("b"))
		mustGet(t, "get b after a late reply to a", v, err, "value of b")
	}
	v, err := c.Get(ctx, []byte("a"))
	mustGet(t, "get a", v, err, "value of a")
}

// TestDefaultPortsAndOrder: negative ports mean the classic defaults, and
// servers come in the classic order. UDP servers are added without any
// traffic, so no server needs to run on these ports.
func TestDefaultPortsAndOrder(t *testing.T) {
	c := libnmdb.New(libnmdb.Options{})
	defer c.Close()
	for _, p := range []int{26500, 27100, 27300, 27500, 28000, -1} {
		if err := c.AddUDPServer("127.0.0.1", p); err != nil {
			t.Fatal(err)
		}
	}
	// Ports compare low byte first: 26500 is 0x6784 (0x8467), 26010 is
	// 0x659a (0x9a65), 27300 is 0x6aa4 (0xa46a).
	want := []string{"udp 127.0.0.1:28000", "udp 127.0.0.1:27500", "udp 127.0.0.1:26500", "udp 127.0.0.1:26010", "udp 127.0.0.1:27300", "udp 127.0.0.1:27100"}
	if got := c.Servers(); !slices.Equal(got, want) {
		t.Fatalf("order\n%q\nwant\n%q", got, want)
	}
	// TCP connects at once: to the default port, whether or not a server
	// happens to listen there.
	err := c.AddTCPServer("127.0.0.1", -1)
	if err == nil {
		if !slices.Contains(c.Servers(), "tcp 127.0.0.1:26010") {
			t.Fatalf("servers %q lack the default TCP port", c.Servers())
		}
	} else if !strings.Contains(err.Error(), "127.0.0.1:26010") {
		t.Fatalf("AddTCPServer(-1): %v does not name the default port", err)
	}
	if err := c.AddUDPServer("127.0.0.1", 70000); err == nil {
		t.Fatal("port 70000 accepted")
	}
}
