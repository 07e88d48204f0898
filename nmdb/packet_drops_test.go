package nmdb

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// droppingPacketConn is a memPacketConn that, like the TIPC and SCTP
// sockets, reports datagrams it dropped itself.
type droppingPacketConn struct {
	*memPacketConn
	dropped atomic.Uint64
}

func (d *droppingPacketConn) Dropped() uint64 { return d.dropped.Load() }

// encodeReq encodes r with the given id.
func encodeReq(t testing.TB, id uint32, r wire.Request) []byte {
	t.Helper()
	r.ID = id
	b, err := wire.AppendRequest(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The drops a packet socket reports while it is served are added to the
// server's "msgs dropped" counter, those from before are not.
func TestServePacketCountsSocketDrops(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{Backend: "null"}})
	m := &droppingPacketConn{memPacketConn: newMemPacketConn()}
	m.dropped.Store(7) // before serving: not the server's business
	done := make(chan error, 1)
	go func() { done <- ts.s.ServePacket(m, TIPC) }()
	t.Cleanup(func() {
		ts.shutdown()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("ServePacket: %v", err)
		}
	})

	ping := func(id uint32) {
		t.Helper()
		m.in <- datagram{encodeReq(t, id, getReq("k", wire.FlagCacheOnly)), memAddr("c")}
		select {
		case d := <-m.out:
			var r wire.Reply
			if err := wire.DecodeReply(d.b, &r); err != nil {
				t.Fatal(err)
			}
			expect(t, "cache get", r, wire.CodeCacheMiss)
		case <-time.After(ioTimeout):
			t.Fatal("no reply")
		}
	}
	base := ts.stat(wire.StatMsgsDropped)
	ping(1)
	if got := ts.stat(wire.StatMsgsDropped) - base; got != 0 {
		t.Fatalf("msgs dropped moved by %d with no drop while serving", got)
	}
	m.dropped.Add(3)
	ping(2) // the read that follows the drops adds them
	if got := ts.stat(wire.StatMsgsDropped) - base; got != 3 {
		t.Fatalf("msgs dropped moved by %d, want the socket's 3", got)
	}
	ping(3)
	if got := ts.stat(wire.StatMsgsDropped) - base; got != 3 {
		t.Fatalf("msgs dropped moved by %d after a clean datagram, want still 3", got)
	}
}
