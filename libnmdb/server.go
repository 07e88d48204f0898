package libnmdb

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// server is one server of a client: how to reach it, and the current
// link with it.
type server struct {
	c     *Client
	tr    wire.Transport
	ip    netip.Addr // IP transports
	port  int
	name  string // "tcp 127.0.0.1:26010"
	sid   uint64 // hash of the server's identity, for rendezvous sharding
	retry bool   // datagrams may be lost: repeat what is safe to repeat

	// stream is true for byte streams (TCP), whose messages carry a
	// length prefix and are written in batches (see link.send).
	stream bool
	dial   func(ctx context.Context) (transport, error)

	health health // marked down after failures (see Options.Backoff)

	// single is set for a stream server found to be classic when its
	// connection was made (see pipelines): calls then take turn, one
	// capacity slot, for one request in flight at a time.
	single atomic.Bool
	turn   chan struct{}

	mu     sync.Mutex // held while dialling
	closed bool       // under mu
	cur    atomic.Pointer[link]
	more   atomic.Pointer[[]atomic.Pointer[link]] // Options.LinksPerServer > 1: links after cur (links.go)

	// blk holds the connections in blocking mode of a client with
	// Options.ThreadWait (blocking_linux.go); nil: none.
	blk *blockPool
}

// link returns a live link, dialling the server if there is none or
// the last one broke.
func (s *server) link(ctx context.Context) (*link, error) {
	if ln := s.cur.Load(); ln != nil && !ln.dead.Load() {
		return ln, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	old := s.cur.Load()
	if old != nil && !old.dead.Load() {
		return old, nil
	}
	ln, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	s.cur.Store(ln)
	if old != nil {
		s.c.log.Info("nmdb: reconnected", "server", s.name)
	}
	return ln, nil
}

// open connects a new link with s. Called with mu held.
func (s *server) open(ctx context.Context) (*link, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.c.opts.Timeout)
		defer cancel()
	}
	t, err := s.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", s.name, err)
	}
	if s.stream {
		many, err := pipelines(ctx, t)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("connect to %s: %w", s.name, err)
		}
		s.single.Store(!many)
	}
	ln := &link{s: s, t: t, slots: make([]*call, minSlots), quit: make(chan struct{}), rwake: make(chan struct{}, 1)}
	if s.stream {
		ln.wake = make(chan struct{}, 1)
		go ln.writeLoop()
	}
	go ln.readLoop()
	return ln, nil
}

// close fails the current link with ErrClosed and prevents new ones.
func (s *server) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.blk != nil {
		s.blk.close()
	}
	if ln := s.cur.Load(); ln != nil {
		ln.fail(ErrClosed)
	}
	s.closeMore()
	return nil
}
