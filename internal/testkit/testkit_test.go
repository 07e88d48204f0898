package testkit

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

var errClosed = errors.New("closed")

// fakeServer serves until Shutdown, then returns tcpErr from ServeTCP and
// errClosed from ServePacket.
type fakeServer struct {
	stop      chan struct{}
	once      sync.Once
	tcpErr    error
	shutdowns int
}

func (f *fakeServer) ServeTCP(l net.Listener) error {
	<-f.stop
	l.Close()
	return f.tcpErr
}

func (f *fakeServer) ServePacket(pc net.PacketConn, _ wire.Transport) error {
	<-f.stop
	pc.Close()
	return errClosed
}

func (f *fakeServer) Shutdown(context.Context) error {
	f.shutdowns++
	f.once.Do(func() { close(f.stop) })
	return nil
}

// TestGroupStopReports: Stop shuts the server down once, waits for every
// serving goroutine and reports what one returned other than the closed
// error; a second Stop does nothing.
func TestGroupStopReports(t *testing.T) {
	f := &fakeServer{stop: make(chan struct{}), tcpErr: errors.New("accept failed")}
	g := NewGroup(f, errClosed)
	if _, err := g.ServeBoth("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	err := g.Stop()
	if err == nil || !strings.Contains(err.Error(), "ServeTCP: accept failed") || strings.Contains(err.Error(), "ServePacket") {
		t.Errorf("Stop: %v, want the TCP error alone", err)
	}
	if err := g.Stop(); err != nil || f.shutdowns != 1 {
		t.Errorf("second Stop: %v, %d shutdowns; want nil, 1", err, f.shutdowns)
	}
}

// TestDoSkipsEarlierReplies: with Resends, a reply to an earlier send is
// skipped and the one for the request returned.
func TestDoSkipsEarlierReplies(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	// The server answers each request twice: first for the id before it,
	// then for its own.
	go func() {
		buf := make([]byte, wire.MaxMessage)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			id := wire.MessageID(buf[:n])
			_, _ = pc.WriteTo(wire.AppendReply(nil, id-1, wire.CodeNotIn), from)
			_, _ = pc.WriteTo(wire.AppendReply(nil, id, wire.CodeOK), from)
		}
	}()
	c := Dial(t, "udp", pc.LocalAddr().String())
	c.Resends = 1
	for range 3 {
		if r := c.Get("k"); r.Code != wire.CodeOK {
			t.Fatalf("reply %v, want the OK sent for the request's own id", r.Code)
		}
	}
}
