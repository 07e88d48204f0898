package nmdb

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// header builds a request header.
func header(ver, id uint32, op wire.Op, f wire.Flags) []byte {
	b := binary.BigEndian.AppendUint32(nil, ver<<28|id)
	b = binary.BigEndian.AppendUint16(b, uint16(op))
	return binary.BigEndian.AppendUint16(b, uint16(f))
}

// u32s appends big-endian u32s.
func u32s(b []byte, v ...uint32) []byte {
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	return b
}

// stillServes checks that a fresh client is served normally.
func (ts *testServer) stillServes() {
	ts.t.Helper()
	c := ts.dial()
	expect(ts.t, "set after bad input", c.Do(setReq("alive", "yes", normal)), wire.CodeOK)
	expectVal(ts.t, "get after bad input", c.Do(getReq("alive", normal)), "yes")
}

// expectClosed checks that the server closes c (after any replies).
func expectClosed(t *testing.T, c *client) {
	t.Helper()
	_ = c.Conn.SetReadDeadline(time.Now().Add(ioTimeout))
	_, err := io.Copy(io.Discard, c.Conn)
	// A reset is a close too: the server may leave unread input behind.
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection not closed: %v", err)
	}
}

// badMessages are framed messages the server must answer with an error
// and keep the connection for.
var badMessages = []struct {
	name string
	msg  []byte
	code wire.ErrCode
}{
	{"short header", header(1, 7, 0, 0)[:6], wire.ErrCodeBroken},
	{"wrong version", u32s(header(2, 7, wire.OpGet, 0), 1, 'k'), wire.ErrCodeVersion},
	{"version 0", header(0, 7, wire.OpStats, 0), wire.ErrCodeVersion},
	{"unknown op", header(1, 7, 0x1ff, 0), wire.ErrCodeUnknown},
	{"op 0", header(1, 7, 0, 0), wire.ErrCodeUnknown},
	{"get without size", header(1, 7, wire.OpGet, 0), wire.ErrCodeBroken},
	{"get key beyond message", append(u32s(header(1, 7, wire.OpGet, 0), 10), "abc"...), wire.ErrCodeBroken},
	{"get key beyond limit", u32s(header(1, 7, wire.OpGet, 0), wire.MaxData+1), wire.ErrCodeBroken},
	{"get size 4G", u32s(header(1, 7, wire.OpGet, 0), 0xffffffff), wire.ErrCodeBroken},
	{"set sizes overflow", u32s(header(1, 7, wire.OpSet, 0), 0xffffffff, 2), wire.ErrCodeBroken},
	{"set sum beyond limit", u32s(header(1, 7, wire.OpSet, 0), wire.MaxData, 1), wire.ErrCodeBroken},
	{"set value beyond message", append(u32s(header(1, 7, wire.OpSet, 0), 1, 5), "kv"...), wire.ErrCodeBroken},
	{"cas truncated", u32s(header(1, 7, wire.OpCAS, 0), 1, 1), wire.ErrCodeBroken},
	{"cas beyond message", append(u32s(header(1, 7, wire.OpCAS, 0), 1, 1, 9), "kon"...), wire.ErrCodeBroken},
	{"incr without delta", append(u32s(header(1, 7, wire.OpIncr, 0), 1), 'k'), wire.ErrCodeBroken},
	{"nextkey truncated", append(header(1, 7, wire.OpNextKey, 0), 0, 0), wire.ErrCodeBroken},
}

// TestBadMessagesTCP answers every malformed message with the right ERR
// and keeps serving the connection.
func TestBadMessagesTCP(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.dial()
	for _, bm := range badMessages {
		c.SendRaw(bm.msg)
		r := c.Recv()
		id := uint32(7)
		if len(bm.msg) < 4 {
			id = 0
		}
		if r.ID != id {
			t.Fatalf("%s: reply id %d", bm.name, r.ID)
		}
		expectErr(t, bm.name, r, bm.code)
		expect(t, bm.name+": then get", c.Do(getReq("x", normal)), wire.CodeNotIn)
	}
	st := ts.s.Stats()
	if st[wire.StatVersionMismatch] != 2 || st[wire.StatUnknownRequests] != 2 ||
		st[wire.StatBrokenRequests] != uint64(len(badMessages)-4) {
		t.Fatalf("error counters: version %d unknown %d broken %d", st[wire.StatVersionMismatch],
			st[wire.StatUnknownRequests], st[wire.StatBrokenRequests])
	}
}

// TestBadFramesTCP closes connections whose length prefix cannot be
// trusted, after an ERR broken, and counts them.
func TestBadFramesTCP(t *testing.T) {
	ts := startServer(t, serverOpts{})
	for i, prefix := range []uint32{0, 1, 7, maxSkipFrame + 1, 0x7fffffff, 0xffffffff} {
		c := ts.dial()
		expect(t, "get before", c.Do(getReq("x", normal)), wire.CodeNotIn)
		if _, err := c.Conn.Write(u32s(nil, prefix)); err != nil {
			t.Fatal(err)
		}
		expectErr(t, "bad prefix", c.Recv(), wire.ErrCodeBroken)
		expectClosed(t, c)
		if n := ts.stat(wire.StatConnsClosed); n != uint64(i+1) {
			t.Fatalf("prefix %#x: conns closed = %d, want %d", prefix, n, i+1)
		}
		ts.stillServes()
	}
}

// TestTruncatedAndGarbageTCP sends frames that end early and random bytes.
func TestTruncatedAndGarbageTCP(t *testing.T) {
	ts := startServer(t, serverOpts{})

	// A frame that promises more than is sent, then the client leaves.
	c := ts.dial()
	msg := append(u32s(nil, 4+1000), header(1, 1, wire.OpGet, 0)...)
	if _, err := c.Conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	_ = c.Conn.(*net.TCPConn).CloseWrite()
	expectClosed(t, c)
	ts.stillServes()

	// A big frame cut in the middle.
	c = ts.dial()
	req, _ := wire.AppendRequest(nil, &wire.Request{Op: wire.OpSet, Key: []byte("k"), Val: make([]byte, 60000)})
	frame := append(u32s(nil, uint32(4+len(req))), req...)
	if _, err := c.Conn.Write(frame[:30000]); err != nil {
		t.Fatal(err)
	}
	_ = c.Conn.(*net.TCPConn).CloseWrite()
	expectClosed(t, c)
	ts.stillServes()

	// Random bytes: whatever they say, the server answers or closes.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		c := ts.dial()
		junk := make([]byte, 1+rng.IntN(3000))
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		if rng.IntN(2) == 0 {
			// A plausible length, so that the content reaches the decoder.
			binary.BigEndian.PutUint32(junk, uint32(min(len(junk), 12+rng.IntN(100))))
		}
		_, _ = c.Conn.Write(junk)
		_ = c.Conn.(*net.TCPConn).CloseWrite()
		expectClosed(t, c)
	}
	ts.stillServes()
}

// TestOversizedFrameSkipped: a well-framed request over the protocol's
// limit (a 70,000-byte set) is skipped and answered with ERR broken for
// its id, and the connection goes on, also for the request sent right
// behind it in the same write.
func TestOversizedFrameSkipped(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.dial()
	over := append(u32s(header(1, 9, wire.OpSet, 0), 1, 70000-1), make([]byte, 70000)...)
	next, _ := wire.AppendRequest(nil, &wire.Request{ID: 10, Op: wire.OpGet, Key: []byte("x")})
	var b []byte
	for _, m := range [][]byte{over, next} {
		f, start := wire.BeginFrame(b)
		b = wire.EndFrame(append(f, m...), start)
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Conn.Write(b); err != nil {
		t.Fatal(err)
	}
	r := c.Recv()
	if r.ID != 9 {
		t.Fatalf("reply id %d, want 9", r.ID)
	}
	expectErr(t, "70,000-byte set", r, wire.ErrCodeBroken)
	if r := c.Recv(); r.ID != 10 || r.Code != wire.CodeNotIn {
		t.Fatalf("get behind it: id %d code %v, want 10 NOTIN", r.ID, r.Code)
	}
	for range 3 { // the connection keeps serving, frames skipped again and again
		c.SendRaw(over)
		expectErr(t, "again", c.Recv(), wire.ErrCodeBroken)
		expect(t, "then set", c.Do(setReq("k", "v", normal)), wire.CodeOK)
	}
	if n := ts.stat(wire.StatConnsClosed); n != 0 {
		t.Fatalf("conns closed = %d, want 0", n)
	}
	if n := ts.stat(wire.StatBrokenRequests); n != 4 {
		t.Fatalf("broken requests = %d, want 4", n)
	}
}

// TestIdleAndSilentClients: connections that send nothing, or send
// requests and never read, must not stop others being served; the second
// kind makes the server stop reading from it, with its replies held
// within the per-connection bound.
func TestIdleAndSilentClients(t *testing.T) {
	ts := startServer(t, serverOpts{})
	for range 100 {
		ts.dial()
	}
	ts.stillServes()

	c := ts.dial()
	big := bytes.Repeat([]byte("z"), 60000)
	expect(t, "set big", c.Do(wire.Request{Op: wire.OpSet, Key: []byte("big"), Val: big}), wire.CodeOK)
	peak := sendWithoutReading(t, ts, 1, "big")
	if max := int64(connOut + 2*len(big)); peak > max {
		t.Fatalf("%d reply bytes held for a client that does not read, want at most %d", peak, max)
	}
	ts.stillServes()
}

// sendWithoutReading connects n clients that send gets of key (a big
// value) and never read a reply, and waits until the server has stopped
// reading from each. It returns the most reply bytes the server held for
// them, sampled meanwhile.
func sendWithoutReading(t *testing.T, ts *testServer, n int, key string) int64 {
	t.Helper()
	req, _ := wire.AppendRequest(nil, &wire.Request{ID: 1, Op: wire.OpGet, Key: []byte(key)})
	frame := append(u32s(nil, uint32(4+len(req))), req...)
	batch := bytes.Repeat(frame, 1024)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		// A small receive window: the kernel holds few replies for it.
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	base := ts.s.stalls.Load()
	for range n {
		c, err := d.Dial("tcp", ts.tcp)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		go func() {
			// Each 17-byte request asks for a 60 KB reply; the writes
			// stop when the server stops reading (until the close).
			for range 64 {
				if _, err := c.Write(batch); err != nil {
					return
				}
			}
		}()
	}
	var peak int64
	deadline := time.Now().Add(ioTimeout)
	for ts.s.stalls.Load()-base < int64(n) {
		peak = max(peak, ts.s.outBytes.Load())
		if time.Now().After(deadline) {
			t.Fatalf("the server stopped reading from %d of %d clients that read no reply", ts.s.stalls.Load()-base, n)
		}
		time.Sleep(time.Millisecond)
	}
	return max(peak, ts.s.outBytes.Load())
}

// TestNonReadingClientsBounded: many clients that send requests for big
// values and never read the replies hold at most the per-connection bound
// of reply bytes each (without backpressure each held up to 4 MiB).
func TestNonReadingClientsBounded(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.dial()
	big := bytes.Repeat([]byte("z"), 60000)
	expect(t, "set big", c.Do(wire.Request{Op: wire.OpSet, Key: []byte("big"), Val: big}), wire.CodeOK)
	const clients = 40
	peak := sendWithoutReading(t, ts, clients, "big")
	if max := int64(clients * (connOut + 2*len(big))); peak > max {
		t.Fatalf("%d reply bytes held for %d clients that do not read, want at most %d", peak, clients, max)
	}
	t.Logf("%d clients that do not read: %d reply bytes held at most", clients, peak)
	ts.stillServes()
}

// TestSlowAndIdleClients: a connection idle for longer than the idle
// timeout is closed, and so is one that sends a request a byte at a time
// and does not finish it in the frame timeout (counted as closed); others
// are served meanwhile.
func TestSlowAndIdleClients(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{IdleTimeout: 200 * time.Millisecond, FrameTimeout: 300 * time.Millisecond}})
	idle := ts.dial()
	expect(t, "get", idle.Do(getReq("x", normal)), wire.CodeNotIn)
	expectClosed(t, idle)
	if n := ts.stat(wire.StatConnsClosed); n != 0 {
		t.Fatalf("conns closed after an idle timeout = %d, want 0 (not misbehaviour)", n)
	}

	slow := ts.dial()
	req, _ := wire.AppendRequest(nil, &wire.Request{ID: 1, Op: wire.OpGet, Key: []byte("x")})
	frame := append(u32s(nil, uint32(4+len(req))), req...)
	// One byte per 50 ms: never idle for long, never done.
	closed := false
	for i := 0; i < len(frame)-1 && !closed; i++ {
		_ = slow.Conn.SetWriteDeadline(time.Now().Add(ioTimeout))
		if _, err := slow.Conn.Write(frame[i : i+1]); err != nil {
			closed = true
		}
		time.Sleep(50 * time.Millisecond)
		ts.stillServes()
	}
	expectClosed(t, slow)
	ts.waitStat(wire.StatConnsClosed, 1)

	// Two bytes of a length, then nothing: a frame begun, not finished.
	stuck := ts.dial()
	_ = stuck.Conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := stuck.Conn.Write(frame[:2]); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, stuck)
	ts.waitStat(wire.StatConnsClosed, 2)
}

// TestMaxConns refuses connections beyond the limit at once, with an ERR
// reply (out of resources) before the close.
func TestMaxConns(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{MaxConns: 3, EvictAfter: -1}})
	var cs []*client
	for range 3 {
		c := ts.dial()
		expect(t, "get", c.Do(getReq("x", normal)), wire.CodeNotIn)
		cs = append(cs, c)
	}
	extra := ts.dial()
	r := extra.Recv()
	if r.ID != 0 {
		t.Fatalf("refusal id %d, want 0", r.ID)
	}
	expectErr(t, "over the limit", r, wire.ErrCodeMemory)
	expectClosed(t, extra)
	if n := ts.stat(wire.StatConnsClosed); n != 1 {
		t.Fatalf("conns closed = %d, want 1", n)
	}
	for _, c := range cs {
		expect(t, "get", c.Do(getReq("x", normal)), wire.CodeNotIn)
	}
	// Once one leaves, a newcomer is served (the slot frees when the
	// server has seen the close).
	_ = cs[0].Conn.Close()
	for {
		c := ts.dial()
		c.Send(getReq("x", normal))
		r, err := c.TryRecv(ioTimeout)
		if err == nil && !(r.Code == wire.CodeErr && r.Err == wire.ErrCodeMemory) {
			expect(t, "get after a slot freed", r, wire.CodeNotIn)
			break
		}
		if ts.stat(wire.StatConnsClosed) > 1000 {
			t.Fatal("no slot freed")
		}
	}
}

// TestIdleEvictedAtTheLimit: at the connection limit, a newcomer takes the
// place of the connection idle the longest once it has been idle longer
// than EvictAfter, so idle clients cannot keep an active one out; a
// connection that is not idle is never evicted.
func TestIdleEvictedAtTheLimit(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{MaxConns: 2, IdleTimeout: -1, FrameTimeout: -1, EvictAfter: 50 * time.Millisecond}})
	idle := ts.dial()
	expect(t, "get", idle.Do(getReq("x", normal)), wire.CodeNotIn)
	busy := ts.dial()
	expect(t, "get", busy.Do(getReq("x", normal)), wire.CodeNotIn)
	// busy begins a request and does not finish it: not idle.
	if _, err := busy.Conn.Write([]byte{0, 0}); err != nil {
		t.Fatal(err)
	}
	// The first newcomers may come before idle has been idle long enough:
	// they are refused. One is let in, and idle is closed for it.
	deadline := time.Now().Add(ioTimeout)
	for {
		c := ts.dial()
		c.Send(getReq("x", normal))
		r, err := c.TryRecv(ioTimeout)
		if err != nil {
			t.Fatalf("newcomer: %v", err)
		}
		if r.Code != wire.CodeErr {
			expect(t, "newcomer's get", r, wire.CodeNotIn)
			break
		}
		expectErr(t, "newcomer refused", r, wire.ErrCodeMemory)
		if time.Now().After(deadline) {
			t.Fatal("no newcomer let in")
		}
	}
	expectClosed(t, idle)
	// busy is still open: it finishes its request and is answered.
	req, _ := wire.AppendRequest(nil, &wire.Request{ID: 77, Op: wire.OpGet, Key: []byte("x")})
	frame := append(u32s(nil, uint32(4+len(req))), req...)
	if _, err := busy.Conn.Write(frame[2:]); err != nil {
		t.Fatal(err)
	}
	if r := busy.Recv(); r.ID != 77 || r.Code != wire.CodeNotIn {
		t.Fatalf("busy's get: id %d code %v", r.ID, r.Code)
	}
}

// TestUDP serves requests over UDP, including bad and oversized ones.
func TestUDP(t *testing.T) {
	ts := startServer(t, serverOpts{udp: true})
	u := ts.dialUDP()
	expect(t, "udp set", u.Do(setReq("k", "v", normal)), wire.CodeOK)
	expect(t, "udp get", u.Do(getReq("k", normal)), wire.CodeCacheHit, "v")
	expect(t, "udp set sync", u.Do(setReq("s", "sv", syncF)), wire.CodeOK)
	expect(t, "udp del", u.Do(delReq("k", normal)), wire.CodeOK)
	expect(t, "udp get db", u.Do(getReq("k", normal)), wire.CodeNotIn)
	expect(t, "udp incr absent", u.Do(incrReq("n", 1, normal)), wire.CodeNotIn)
	expect(t, "udp stats", u.Do(wire.Request{Op: wire.OpStats}), wire.CodeOK)

	for _, bm := range badMessages {
		if len(bm.msg) < wire.HeaderSize {
			continue // below
		}
		u.SendRaw(bm.msg)
		expectErr(t, "udp "+bm.name, u.Recv(), bm.code)
	}
	// Datagrams too short to hold a header are dropped without a reply:
	// the next reply read is the one to the get (do checks its id).
	dropped := ts.stat(wire.StatMsgsDropped)
	for _, short := range [][]byte{nil, {1}, {1, 2, 3}, header(1, 7, 0, 0)[:6], header(1, 7, 0, 0)[:7]} {
		u.SendRaw(short)
	}
	expect(t, "udp after short datagrams", u.Do(getReq("s", normal)), wire.CodeCacheHit, "sv")
	if n := ts.stat(wire.StatMsgsDropped) - dropped; n != 5 {
		t.Fatalf("%d short datagrams counted as dropped, want 5", n)
	}

	// A value whose reply does not fit a UDP datagram: ERR send failed.
	c := ts.dial()
	big := make([]byte, 65530)
	expect(t, "set big", c.Do(wire.Request{Op: wire.OpSet, Key: []byte("b"), Val: big}), wire.CodeOK)
	expectErr(t, "udp get big", u.Do(getReq("b", normal)), wire.ErrCodeSend)
	if ts.stat(wire.StatMsgsDropped) == 0 {
		t.Fatal("undeliverable reply not counted")
	}
	if ts.stat(wire.StatMsgUDP) == 0 {
		t.Fatal("msg udp not counted")
	}
}
