package nmdb

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// memAddr is the address of a memPacketConn peer.
type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return string(a) }

// datagram is one message and its peer.
type datagram struct {
	b    []byte
	addr net.Addr
}

// memPacketConn is an in-memory net.PacketConn, standing in for the TIPC
// and SCTP sockets (which are served the same way) where the kernel may
// lack them, and able to deliver datagrams no UDP socket can carry.
type memPacketConn struct {
	in  chan datagram
	out chan datagram

	mu       sync.Mutex
	deadline chan struct{} // closed when the read deadline passes
	closed   chan struct{}
	once     sync.Once
}

func newMemPacketConn() *memPacketConn {
	return &memPacketConn{in: make(chan datagram, 64), out: make(chan datagram, 64),
		deadline: make(chan struct{}), closed: make(chan struct{})}
}

func (m *memPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	m.mu.Lock()
	dl := m.deadline
	m.mu.Unlock()
	select {
	case d := <-m.in:
		return copy(b, d.b), d.addr, nil
	case <-dl:
		return 0, nil, os.ErrDeadlineExceeded
	case <-m.closed:
		return 0, nil, net.ErrClosed
	}
}

func (m *memPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-m.closed:
		return 0, net.ErrClosed
	default:
	}
	m.out <- datagram{append([]byte(nil), b...), addr}
	return len(b), nil
}

func (m *memPacketConn) Close() error {
	m.once.Do(func() { close(m.closed) })
	return nil
}

func (m *memPacketConn) LocalAddr() net.Addr { return memAddr("server") }

func (m *memPacketConn) SetDeadline(t time.Time) error { return m.SetReadDeadline(t) }

func (m *memPacketConn) SetReadDeadline(t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !t.IsZero() && !t.After(time.Now()) {
		select {
		case <-m.deadline:
		default:
			close(m.deadline)
		}
	} else if t.IsZero() {
		m.deadline = make(chan struct{})
	}
	return nil
}

func (m *memPacketConn) SetWriteDeadline(time.Time) error { return nil }

// TestServePacketGeneric serves a non-UDP datagram socket, replying to each
// sender, with messages a UDP socket cannot carry.
func TestServePacketGeneric(t *testing.T) {
	ts := startServer(t, serverOpts{})
	m := newMemPacketConn()
	done := make(chan error, 1)
	go func() { done <- ts.s.ServePacket(m, SCTP) }()

	do := func(from string, msg []byte) wire.Reply {
		t.Helper()
		m.in <- datagram{msg, memAddr(from)}
		select {
		case d := <-m.out:
			if d.addr.String() != from {
				t.Fatalf("reply went to %v, want %v", d.addr, from)
			}
			var r wire.Reply
			if err := wire.DecodeReply(d.b, &r); err != nil {
				t.Fatal(err)
			}
			return r
		case <-time.After(ioTimeout):
			t.Fatal("no reply")
		}
		return wire.Reply{}
	}
	enc := func(r wire.Request) []byte {
		r.ID = 5
		b, err := wire.AppendRequest(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	expect(t, "set", do("a", enc(setReq("k", "v", syncF))), wire.CodeOK)
	expect(t, "get", do("b", enc(getReq("k", normal))), wire.CodeCacheHit, "v")
	expect(t, "db get", do("b", enc(getReq("zz", normal))), wire.CodeNotIn)
	long := append(enc(getReq("k", normal)), make([]byte, wire.MaxMessage)...)
	r := do("c", long)
	if r.ID != 5 {
		t.Fatalf("oversized: id %d", r.ID)
	}
	expectErr(t, "oversized", r, wire.ErrCodeBroken)
	if n := ts.stat(wire.StatMsgSCTP); n != 4 {
		t.Fatalf("msg sctp = %d, want 4", n)
	}
	if err := ts.s.ServePacket(m, TCP); err == nil {
		t.Fatal("ServePacket accepted TCP")
	}

	ts.shutdown()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ServePacket after Shutdown: %v", err)
	}
	if err := ts.s.ServePacket(newMemPacketConn(), UDP); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ServePacket on a closed server: %v", err)
	}
}
