//go:build !race

package nmdb

import (
	"errors"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/internal/sctp"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// A cache hit served over TIPC allocates nothing, on the server (reading
// the request and its sender, replying) or on the client's socket calls.
func TestTIPCServeNoAllocations(t *testing.T) {
	_, dst := tipcServer(t, 3002)
	c := tipcClient(t)
	buf := make([]byte, 256)
	expect(t, "set", tipcDo(t, c, dst, encodeReq(t, 1, setReq("k", "v", wire.FlagCacheOnly)), buf), wire.CodeOK)
	get := encodeReq(t, 2, getReq("k", wire.FlagCacheOnly))
	tipcDo(t, c, dst, get, buf) // warm up every reader's buffers
	allocs := testing.AllocsPerRun(500, func() {
		if _, err := c.WriteToTIPC(get, dst); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadFromTIPC(buf, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per TIPC request, want 0", allocs)
	}
}

// A cache hit served over SCTP allocates nothing either.
func TestSCTPServeNoAllocations(t *testing.T) {
	l, err := sctp.ListenPacket("sctp", "127.0.0.1:0")
	if errors.Is(err, sctp.ErrUnsupported) {
		t.Skipf("SCTP not available in this kernel: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	serveSocket(t, l, SCTP)
	c, err := sctp.Dial("127.0.0.1", int(l.LocalAddr().(*sctp.Addr).Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	checkNoAllocs(t, c, "SCTP")
}

// A cache hit served over UDP allocates nothing either (on the server's
// raw reads and replies, and on the client's socket calls).
func TestUDPServeNoAllocations(t *testing.T) {
	ts := startServer(t, serverOpts{udp: true})
	checkNoAllocs(t, ts.dialUDP().Conn, "UDP")
}

// checkNoAllocs stores a value over c, a client socket keeping message
// boundaries, and checks that getting it back from the cache allocates
// nothing, on the server or in c's calls.
func checkNoAllocs(t *testing.T, c interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	SetDeadline(time.Time) error
}, transport string) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	roundTrip := func(msg []byte) {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip(encodeReq(t, 1, setReq("k", "v", wire.FlagCacheOnly)))
	get := encodeReq(t, 2, getReq("k", wire.FlagCacheOnly))
	roundTrip(get)
	allocs := testing.AllocsPerRun(500, func() { roundTrip(get) })
	if allocs != 0 {
		t.Errorf("%v allocations per %s request, want 0", allocs, transport)
	}
}
