package nmdb

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/internal/store"
	"github.com/nmdb-go/nmdb/internal/testkit"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// ioTimeout keeps a broken test from hanging; it is never what a test
// checks.
const ioTimeout = 20 * time.Second

// testServer is a server on loopback with a real store in a temporary
// directory.
type testServer struct {
	t   testing.TB
	s   *Server
	dir string
	tcp string // TCP address
	udp string // UDP address, if served
	// faultOK: the store is expected to have failed, so Shutdown's error
	// for it is not a test failure.
	faultOK bool
}

// serverOpts tunes startServer.
type serverOpts struct {
	cfg   Config
	store store.Store // instead of opening cfg.Backend
	udp   bool
	udpAt string // UDP address to listen on (default 127.0.0.1:0)
	dir   string
	// packet is a datagram socket of transport packetTr to serve too; it
	// is closed when the test ends.
	packet   net.PacketConn
	packetTr Transport
}

// startServer starts a server with TCP (and UDP if asked) on 127.0.0.1,
// and serves o.packet if given. It is shut down when the test ends.
func startServer(t testing.TB, o serverOpts) *testServer {
	t.Helper()
	ts := &testServer{t: t, dir: o.dir}
	if ts.dir == "" {
		ts.dir = filepath.Join(t.TempDir(), "db")
	}
	o.cfg.DBPath = ts.dir
	var err error
	if o.store != nil {
		ts.s = newServer(o.cfg, o.store)
	} else if ts.s, err = New(o.cfg); err != nil {
		t.Fatalf("New: %v", err)
	}
	serving := testkit.NewGroup(ts.s, ErrServerClosed)
	t.Cleanup(func() {
		ts.shutdown()
		if err := serving.Wait(); err != nil {
			t.Error(err)
		}
		if o.packet != nil {
			_ = o.packet.Close()
		}
	})
	if o.packet != nil {
		serving.ServePacket(o.packet, o.packetTr)
	}
	tcp, err := serving.ServeTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.tcp = tcp.String()
	if o.udp {
		at := o.udpAt
		if at == "" {
			at = "127.0.0.1:0"
		}
		udp, err := serving.ServeUDP(at)
		if err != nil {
			t.Fatal(err)
		}
		ts.udp = udp.String()
	}
	return ts
}

// shutdown shuts the server down (again: harmless).
func (ts *testServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := ts.s.Shutdown(ctx); err != nil && !(ts.faultOK && ts.s.StoreFault() != nil) {
		ts.t.Errorf("Shutdown: %v", err)
	}
}

// stat returns counter i.
func (ts *testServer) stat(i int) uint64 { return ts.s.Stats()[i] }

// client is the raw protocol client of every package's tests.
type client = testkit.Client

// dial connects a TCP client.
func (ts *testServer) dial() *client {
	ts.t.Helper()
	return testkit.Dial(ts.t, "tcp", ts.tcp)
}

// dialUDP connects a UDP client.
func (ts *testServer) dialUDP() *client {
	ts.t.Helper()
	return testkit.Dial(ts.t, "udp", ts.udp)
}

// Request builders.
func getReq(key string, f wire.Flags) wire.Request {
	return wire.Request{Op: wire.OpGet, Flags: f, Key: []byte(key)}
}
func setReq(key, val string, f wire.Flags) wire.Request {
	return wire.Request{Op: wire.OpSet, Flags: f, Key: []byte(key), Val: []byte(val)}
}
func delReq(key string, f wire.Flags) wire.Request {
	return wire.Request{Op: wire.OpDel, Flags: f, Key: []byte(key)}
}
func casReq(key, old, val string, f wire.Flags) wire.Request {
	return wire.Request{Op: wire.OpCAS, Flags: f, Key: []byte(key), Old: []byte(old), Val: []byte(val)}
}
func incrReq(key string, d int64, f wire.Flags) wire.Request {
	return wire.Request{Op: wire.OpIncr, Flags: f, Key: []byte(key), Delta: d}
}

const (
	normal = wire.Flags(0)
	cOnly  = wire.FlagCacheOnly
	syncF  = wire.FlagSync
)

// expect checks a reply's code and, for value replies, the value.
func expect(t testing.TB, what string, r wire.Reply, code wire.Code, val ...string) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("%s: got %v (err %#x), want %v", what, r.Code, uint32(r.Err), code)
	}
	if len(val) > 0 && string(r.Val) != val[0] {
		t.Fatalf("%s: got value %q, want %q", what, r.Val, val[0])
	}
}

// expectErr checks an ERR reply's code.
func expectErr(t testing.TB, what string, r wire.Reply, e wire.ErrCode) {
	t.Helper()
	if r.Code != wire.CodeErr || r.Err != e {
		t.Fatalf("%s: got %v (err %#x), want ERR %#x", what, r.Code, uint32(r.Err), uint32(e))
	}
}

// counterVal is the stored form of n.
func counterVal(n int64) string { return string(wire.AppendCounter(nil, n)) }

// expectVal checks a reply carrying val, from the cache or the database.
func expectVal(t testing.TB, what string, r wire.Reply, val string) {
	t.Helper()
	if (r.Code != wire.CodeOK && r.Code != wire.CodeCacheHit) || string(r.Val) != val {
		t.Fatalf("%s: got %v %q (err %#x), want value %q", what, r.Code, r.Val, uint32(r.Err), val)
	}
}

// waitStat waits until counter i reaches at least n.
func (ts *testServer) waitStat(i int, n uint64) {
	ts.t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for ts.stat(i) < n {
		if time.Now().After(deadline) {
			ts.t.Fatalf("counter %q stuck at %d, want %d", wire.StatName(i), ts.stat(i), n)
		}
		time.Sleep(time.Millisecond)
	}
}
