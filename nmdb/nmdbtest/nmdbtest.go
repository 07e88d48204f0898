// Package nmdbtest starts real in-process nmdb servers on loopback for
// tests, in the spirit of net/http/httptest: each server has its own pebble
// database in a temporary directory, listens on a free port, and is shut
// down when the test ends. It also has a raw protocol client, for tests
// that check what goes over the wire. The client library and the
// command-line tools use it in their tests; programs built on nmdb can use
// it in theirs.
package nmdbtest

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/nmdb-go/nmdb/internal/testkit"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// Server is a running in-process server with a pebble database in a
// temporary directory.
type Server struct {
	*nmdb.Server
	// Addr is where it listens (TCP's address for "tcp+udp"); zero for a
	// socket given to StartPacket.
	Addr netip.AddrPort
	// Network is "tcp", "udp", "tcp+udp" or, for StartPacket, the
	// transport's name.
	Network string
	// Config is what it was started with; DBPath is filled in.
	Config nmdb.Config

	serving *testkit.Group
}

// Start starts a server on 127.0.0.1 serving TCP (network "tcp"), UDP
// ("udp") or both on one port ("tcp+udp") on a free port, and stops it
// when the test ends. An empty cfg.DBPath becomes a temporary directory.
func Start(tb testing.TB, network string, cfg nmdb.Config) *Server {
	tb.Helper()
	if cfg.DBPath == "" {
		cfg.DBPath = tb.TempDir()
	}
	s, err := StartAt(network, "127.0.0.1:0", cfg)
	if err != nil {
		tb.Fatal(err)
	}
	stopAtEnd(tb, s)
	return s
}

// StartPacket starts a server serving pc, a datagram socket of transport
// tr (such as a TIPC or SCTP socket), and stops it when the test ends. An
// empty cfg.DBPath becomes a temporary directory.
func StartPacket(tb testing.TB, pc net.PacketConn, tr wire.Transport, cfg nmdb.Config) *Server {
	tb.Helper()
	if cfg.DBPath == "" {
		cfg.DBPath = tb.TempDir()
	}
	s, err := newServer(tr.String(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	s.serving.ServePacket(pc, tr)
	stopAtEnd(tb, s)
	return s
}

// StartAt starts a server serving network ("tcp", "udp" or "tcp+udp") on
// addr; for "tcp+udp", addr's port must be 0. The caller stops it.
func StartAt(network, addr string, cfg nmdb.Config) (*Server, error) {
	s, err := newServer(network, cfg)
	if err != nil {
		return nil, err
	}
	switch network {
	case "tcp":
		var a *net.TCPAddr
		if a, err = s.serving.ServeTCP(addr); err == nil {
			s.Addr = a.AddrPort()
		}
	case "udp":
		var a *net.UDPAddr
		if a, err = s.serving.ServeUDP(addr); err == nil {
			s.Addr = a.AddrPort()
		}
	case "tcp+udp":
		var host string
		if host, _, err = net.SplitHostPort(addr); err == nil {
			var port int
			port, err = s.serving.ServeBoth(host)
			s.Addr = netip.AddrPortFrom(netip.MustParseAddr(host), uint16(port))
		}
	default:
		err = errors.New("nmdbtest: unknown network " + network)
	}
	if err != nil {
		_ = s.serving.Stop()
		return nil, err
	}
	return s, nil
}

// newServer makes a server that serves nothing yet.
func newServer(network string, cfg nmdb.Config) (*Server, error) {
	srv, err := nmdb.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Server{Server: srv, Network: network, Config: cfg,
		serving: testkit.NewGroup(srv, nmdb.ErrServerClosed)}, nil
}

// stopAtEnd stops s when the test ends, failing it if s does not stop
// cleanly.
func stopAtEnd(tb testing.TB, s *Server) {
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Error(err)
		}
	})
}

// Port returns the port the server listens on.
func (s *Server) Port() int { return int(s.Addr.Port()) }

// Stop shuts the server down and waits for it to stop serving. Stopping
// twice is harmless.
func (s *Server) Stop() error { return s.serving.Stop() }

// Dial returns a raw protocol client connected to the server over its
// network (TCP for "tcp+udp"), closed when the test ends.
func (s *Server) Dial(tb testing.TB) *Client {
	tb.Helper()
	network := s.Network
	if network == "tcp+udp" {
		network = "tcp"
	}
	return Dial(tb, network, s.Addr.String())
}

// Client is a raw protocol client over one TCP connection or UDP socket:
// it sends wire requests and reads wire replies, failing the test on
// errors.
type Client = testkit.Client

// Dial returns a raw protocol client connected to addr over network ("tcp"
// or "udp"), closed when the test ends.
func Dial(tb testing.TB, network, addr string) *Client {
	tb.Helper()
	return testkit.Dial(tb, network, addr)
}
