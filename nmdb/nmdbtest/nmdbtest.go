// Package nmdbtest starts real in-process nmdb servers on loopback for
// tests, in the spirit of net/http/httptest: each server has its own pebble
// database in a temporary directory, listens on a free port, and is shut
// down when the test ends. The client library and the command-line tools
// use it in their tests; programs built on nmdb can use it in theirs.
package nmdbtest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb"
)

// Server is a running in-process server with a pebble database in a
// temporary directory.
type Server struct {
	*nmdb.Server
	// Addr is where it listens.
	Addr netip.AddrPort
	// Network is "tcp" or "udp".
	Network string
	// Config is what it was started with; DBPath is filled in.
	Config nmdb.Config

	done    chan error
	stopped bool
}

// Start starts a server on 127.0.0.1 serving TCP (network "tcp") or UDP
// ("udp") on a free port, and stops it when the test ends. An empty
// cfg.DBPath becomes a temporary directory.
func Start(tb testing.TB, network string, cfg nmdb.Config) *Server {
	tb.Helper()
	if cfg.DBPath == "" {
		cfg.DBPath = tb.TempDir()
	}
	s, err := StartAt(network, "127.0.0.1:0", cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// StartAt starts a server serving network on addr. The caller stops it.
func StartAt(network, addr string, cfg nmdb.Config) (*Server, error) {
	srv, err := nmdb.New(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{Server: srv, Network: network, Config: cfg, done: make(chan error, 1)}
	switch network {
	case "tcp":
		l, err := net.Listen("tcp", addr)
		if err != nil {
			srv.Shutdown(context.Background())
			return nil, err
		}
		s.Addr = l.Addr().(*net.TCPAddr).AddrPort()
		go func() { s.done <- srv.ServeTCP(l) }()
	case "udp":
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			srv.Shutdown(context.Background())
			return nil, err
		}
		s.Addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
		go func() { s.done <- srv.ServePacket(pc, nmdb.UDP) }()
	default:
		srv.Shutdown(context.Background())
		return nil, errors.New("nmdbtest: unknown network " + network)
	}
	return s, nil
}

// Port returns the port the server listens on.
func (s *Server) Port() int { return int(s.Addr.Port()) }

// Stop shuts the server down and waits for it to stop serving. Stopping
// twice is harmless.
func (s *Server) Stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		return err
	}
	select {
	case err := <-s.done:
		if !errors.Is(err, nmdb.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
		return errors.New("nmdbtest: server did not stop serving")
	}
	return nil
}
