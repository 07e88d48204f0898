package nmdb

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
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
	for i, prefix := range []uint32{0, 1, 7, wire.TCPPrefix + wire.MaxMessage + 1, 0x7fffffff, 0xffffffff} {
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

// TestIdleAndSilentClients: connections that send nothing, or send
// requests and never read, must not stop others being served; the second
// kind is cut off.
func TestIdleAndSilentClients(t *testing.T) {
	ts := startServer(t, serverOpts{})
	for range 100 {
		ts.dial()
	}
	ts.stillServes()

	c := ts.dial()
	big := bytes.Repeat([]byte("z"), 60000)
	expect(t, "set big", c.Do(wire.Request{Op: wire.OpSet, Key: []byte("big"), Val: big}), wire.CodeOK)
	req, _ := wire.AppendRequest(nil, &wire.Request{ID: 1, Op: wire.OpGet, Key: []byte("big")})
	frame := append(u32s(nil, uint32(4+len(req))), req...)
	batch := bytes.Repeat(frame, 64)
	// Each 17-byte request asks for a 60 KB reply, and the client never
	// reads: the server must give up on it long before the 120 MB of
	// replies asked for here.
	for range 2000 / 64 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(ioTimeout))
		if _, err := c.Conn.Write(batch); err != nil {
			break // cut off already
		}
	}
	ts.waitStat(wire.StatConnsClosed, 1)
	ts.stillServes()
}

// TestMaxConns closes connections beyond the limit at once.
func TestMaxConns(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{MaxConns: 3}})
	var cs []*client
	for range 3 {
		c := ts.dial()
		expect(t, "get", c.Do(getReq("x", normal)), wire.CodeNotIn)
		cs = append(cs, c)
	}
	extra := ts.dial()
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
		if r, err := c.TryRecv(ioTimeout); err == nil {
			expect(t, "get after a slot freed", r, wire.CodeNotIn)
			break
		}
		if ts.stat(wire.StatConnsClosed) > 1000 {
			t.Fatal("no slot freed")
		}
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
		u.SendRaw(bm.msg)
		expectErr(t, "udp "+bm.name, u.Recv(), bm.code)
	}
	// Too short to hold an id, and too long for a message.
	u.SendRaw([]byte{1, 2, 3})
	expectErr(t, "udp 3 bytes", u.Recv(), wire.ErrCodeBroken)
	u.SendRaw(nil) // an empty datagram is dropped
	expect(t, "udp after empty", u.Do(getReq("s", normal)), wire.CodeCacheHit, "sv")

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
