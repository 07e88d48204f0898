package nmdbtest

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// Classic is a stand-in for a classic nmdb server over TCP, with its
// quirks that clients meet (see the compatibility notes): it handles one
// request per read of its socket, parsing what follows in the same read
// with the first message's length, so that of several requests arriving
// together only the first is sure to be answered; and its stats reply has
// exactly the 23 classic counters. It keeps pairs in memory and knows get,
// set, del, stats, firstkey and nextkey (the others get ERR "unknown
// request"); the modes make no difference.
type Classic struct {
	// Addr is where it listens.
	Addr netip.AddrPort

	l     net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	data  map[string][]byte
	conns map[net.Conn]struct{}

	lost atomic.Int64
}

// StartClassic starts a classic stand-in on a free port of 127.0.0.1 and
// stops it when the test ends.
func StartClassic(tb testing.TB) *Classic {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Classic{Addr: l.Addr().(*net.TCPAddr).AddrPort(), l: l,
		data: map[string][]byte{}, conns: map[net.Conn]struct{}{}}
	c.wg.Go(c.accept)
	tb.Cleanup(c.Stop)
	return c
}

// Port returns the port it listens on.
func (c *Classic) Port() int { return int(c.Addr.Port()) }

// Lost returns how many requests it left unanswered because they came in
// one read after another of a different size.
func (c *Classic) Lost() int64 { return c.lost.Load() }

// Len returns how many pairs it holds.
func (c *Classic) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.data)
}

// Stop closes the listener and every connection and waits for them.
func (c *Classic) Stop() {
	c.l.Close()
	c.mu.Lock()
	for conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *Classic) accept() {
	for {
		conn, err := c.l.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		c.conns[conn] = struct{}{}
		c.mu.Unlock()
		c.wg.Go(func() {
			c.serve(conn)
			c.mu.Lock()
			delete(c.conns, conn)
			c.mu.Unlock()
			conn.Close()
		})
	}
}

// serve reads requests as classic nmdb does: per read, the first frame is
// handled (reading on until it is whole), and the bytes after it are cut
// into pieces of the first frame's length; a piece whose own length
// differs is lost, and so is everything after it.
func (c *Classic) serve(conn net.Conn) {
	buf := make([]byte, 4*(wire.TCPPrefix+wire.MaxMessage))
	var out []byte
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		for n < wire.TCPPrefix || n < int(binary.BigEndian.Uint32(buf)) {
			if n >= wire.TCPPrefix && int(binary.BigEndian.Uint32(buf)) > len(buf) {
				return
			}
			m, err := conn.Read(buf[n:])
			if err != nil {
				return
			}
			n += m
		}
		first := int(binary.BigEndian.Uint32(buf))
		out = out[:0]
		for off := 0; off < n; off += first {
			frame := buf[off:n]
			if len(frame) < first || int(binary.BigEndian.Uint32(frame)) != first {
				// The next request does not have the first one's
				// length: classic misreads it and answers nothing.
				c.lost.Add(1)
				break
			}
			out = c.handle(out, frame[wire.TCPPrefix:first])
		}
		if len(out) > 0 {
			if _, err := conn.Write(out); err != nil {
				return
			}
		}
	}
}

// handle appends to out the framed reply to the request msg.
func (c *Classic) handle(out, msg []byte) []byte {
	var req wire.Request
	out, start := wire.BeginFrame(out)
	if err := wire.DecodeRequest(msg, &req); err != nil {
		var id uint32
		if len(msg) >= 4 {
			id = binary.BigEndian.Uint32(msg) & wire.IDMask
		}
		return wire.EndFrame(wire.AppendError(out, id, wire.ErrCodeFor(err)), start)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch req.Op {
	case wire.OpGet:
		v, ok := c.data[string(req.Key)]
		switch {
		case ok:
			out = wire.AppendValue(out, req.ID, wire.CodeOK, v)
		case req.CacheOnly():
			out = wire.AppendReply(out, req.ID, wire.CodeCacheMiss)
		default:
			out = wire.AppendReply(out, req.ID, wire.CodeNotIn)
		}
	case wire.OpSet:
		c.data[string(req.Key)] = slices.Clone(req.Val)
		out = wire.AppendReply(out, req.ID, wire.CodeOK)
	case wire.OpDel:
		if _, ok := c.data[string(req.Key)]; !ok && (req.Sync() || req.CacheOnly()) {
			out = wire.AppendReply(out, req.ID, wire.CodeNotIn)
			break
		}
		delete(c.data, string(req.Key))
		out = wire.AppendReply(out, req.ID, wire.CodeOK)
	case wire.OpStats:
		out = wire.AppendStats(out, req.ID, make([]uint64, wire.ClassicStats))
	case wire.OpFirstKey, wire.OpNextKey:
		keys := make([]string, 0, len(c.data))
		for k := range c.data {
			if req.Op == wire.OpFirstKey || k > string(req.Key) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			out = wire.AppendReply(out, req.ID, wire.CodeNotIn)
			break
		}
		out = wire.AppendValue(out, req.ID, wire.CodeOK, []byte(slices.Min(keys)))
	default:
		out = wire.AppendError(out, req.ID, wire.ErrCodeUnknown)
	}
	return wire.EndFrame(out, start)
}
