package nmdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/internal/store"
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
}

// startServer starts a server with TCP (and UDP if asked) on 127.0.0.1.
// It is shut down when the test ends.
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.tcp = l.Addr().String()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ts.s.ServeTCP(l); !errors.Is(err, ErrServerClosed) {
			t.Errorf("ServeTCP: %v", err)
		}
	}()
	if o.udp {
		at := o.udpAt
		if at == "" {
			at = "127.0.0.1:0"
		}
		pc, err := net.ListenPacket("udp", at)
		if err != nil {
			t.Fatal(err)
		}
		ts.udp = pc.LocalAddr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ts.s.ServePacket(pc, UDP); !errors.Is(err, ErrServerClosed) {
				t.Errorf("ServePacket: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		ts.shutdown()
		wg.Wait()
	})
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

// client is a raw protocol client over one stream or datagram socket.
type client struct {
	t      testing.TB
	c      net.Conn
	stream bool
	id     uint32
	rbuf   []byte
}

// dial connects a TCP client.
func (ts *testServer) dial() *client {
	ts.t.Helper()
	c, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { _ = c.Close() })
	return &client{t: ts.t, c: c, stream: true}
}

// dialUDP connects a UDP client.
func (ts *testServer) dialUDP() *client {
	ts.t.Helper()
	c, err := net.Dial("udp", ts.udp)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { _ = c.Close() })
	return &client{t: ts.t, c: c, rbuf: make([]byte, 70000)}
}

// send sends r with a fresh id, which it returns.
func (c *client) send(r wire.Request) uint32 {
	c.t.Helper()
	c.id++
	r.ID = c.id
	msg, err := wire.AppendRequest(nil, &r)
	if err != nil {
		c.t.Fatalf("encoding %v: %v", r.Op, err)
	}
	c.sendRaw(msg)
	return r.ID
}

// sendRaw sends msg as one message (framed on TCP).
func (c *client) sendRaw(msg []byte) {
	c.t.Helper()
	if c.stream {
		b, start := wire.BeginFrame(nil)
		msg = wire.EndFrame(append(b, msg...), start)
	}
	_ = c.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.c.Write(msg); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv reads one reply; its Val is the client's own copy.
func (c *client) recv() wire.Reply {
	c.t.Helper()
	r, err := c.tryRecv()
	if err != nil {
		c.t.Fatalf("reading reply: %v", err)
	}
	return r
}

// tryRecv reads one reply or fails.
func (c *client) tryRecv() (wire.Reply, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(ioTimeout))
	var msg []byte
	if c.stream {
		var p [4]byte
		if _, err := io.ReadFull(c.c, p[:]); err != nil {
			return wire.Reply{}, err
		}
		n := int(binary.BigEndian.Uint32(p[:])) - 4
		if n < 0 || n > wire.MaxMessage {
			return wire.Reply{}, errors.New("bad reply frame")
		}
		msg = make([]byte, n)
		if _, err := io.ReadFull(c.c, msg); err != nil {
			return wire.Reply{}, err
		}
	} else {
		n, err := c.c.Read(c.rbuf)
		if err != nil {
			return wire.Reply{}, err
		}
		msg = bytes.Clone(c.rbuf[:n])
	}
	var r wire.Reply
	if err := wire.DecodeReply(msg, &r); err != nil {
		return r, err
	}
	return r, nil
}

// do sends r and returns its reply, checking the id.
func (c *client) do(r wire.Request) wire.Reply {
	c.t.Helper()
	id := c.send(r)
	rep := c.recv()
	if rep.ID != id {
		c.t.Fatalf("%v: reply id %d, want %d", r.Op, rep.ID, id)
	}
	return rep
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
