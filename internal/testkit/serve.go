package testkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// Server is what a Group serves: the serving methods of nmdb.Server.
type Server interface {
	ServeTCP(l net.Listener) error
	ServePacket(pc net.PacketConn, tr wire.Transport) error
	Shutdown(ctx context.Context) error
}

// Group runs a server's serving goroutines and stops them together.
type Group struct {
	srv    Server
	closed error // what serving returns after Shutdown

	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []error
	stopped bool
}

// NewGroup returns a group serving srv; closed is the error srv's serving
// methods return once it is shut down (nmdb.ErrServerClosed).
func NewGroup(srv Server, closed error) *Group {
	return &Group{srv: srv, closed: closed}
}

// ServeTCP listens on TCP address addr and serves it.
func (g *Group) ServeTCP(addr string) (netAddr *net.TCPAddr, err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	g.Go("ServeTCP", func() error { return g.srv.ServeTCP(l) })
	return l.Addr().(*net.TCPAddr), nil
}

// ServeUDP listens on UDP address addr and serves it.
func (g *Group) ServeUDP(addr string) (*net.UDPAddr, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	g.ServePacket(pc, wire.UDP)
	return pc.LocalAddr().(*net.UDPAddr), nil
}

// ServePacket serves pc, a datagram socket of transport tr.
func (g *Group) ServePacket(pc net.PacketConn, tr wire.Transport) {
	g.Go("ServePacket", func() error { return g.srv.ServePacket(pc, tr) })
}

// ServeBoth serves TCP and UDP on one free port of host.
func (g *Group) ServeBoth(host string) (port int, err error) {
	for range 100 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, err
		}
		pc, err := net.ListenPacket("udp", l.Addr().String())
		if err != nil {
			l.Close()
			continue // the port is taken for UDP: try another
		}
		g.Go("ServeTCP", func() error { return g.srv.ServeTCP(l) })
		g.ServePacket(pc, wire.UDP)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	return 0, fmt.Errorf("no port of %s free for both TCP and UDP", host)
}

// Go runs serve, a serving method named what, until the server stops; an
// error other than the closed one is reported by Stop.
func (g *Group) Go(what string, serve func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := serve(); !errors.Is(err, g.closed) {
			g.mu.Lock()
			g.errs = append(g.errs, fmt.Errorf("%s: %w", what, err))
			g.mu.Unlock()
		}
	}()
}

// Stop shuts the server down, waits until every serving goroutine has
// returned, and reports what went wrong. Stopping twice is harmless.
func (g *Group) Stop() error {
	g.mu.Lock()
	again := g.stopped
	g.stopped = true
	g.mu.Unlock()
	if again {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var err error
	if serr := g.srv.Shutdown(ctx); serr != nil {
		err = fmt.Errorf("shutdown: %w", serr)
	}
	return errors.Join(err, g.Wait())
}

// Wait waits until every serving goroutine has returned (the server was
// shut down) and reports the errors they returned other than the closed
// one.
func (g *Group) Wait() error {
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(Timeout):
		return errors.New("the server did not stop serving")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}
