package libnmdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// pipelines asks a stream server just connected over t for its stats,
// before any other request, and tells whether it takes several requests
// in flight. A classic server handles one request per read of its socket
// and misreads what follows in the same read, so that replies to
// pipelined requests are lost; it sends exactly wire.ClassicStats
// counters, where this project's server sends more. A server that does not
// answer stats with counters is taken for classic.
func pipelines(ctx context.Context, t transport) (bool, error) {
	if d, ok := ctx.Deadline(); ok {
		t.setReadDeadline(d)
		defer t.setReadDeadline(time.Time{})
	}
	b, start := wire.BeginFrame(nil)
	b, _ = wire.AppendRequest(b, &wire.Request{ID: 1, Op: wire.OpStats})
	if err := t.write(wire.EndFrame(b, start)); err != nil {
		return false, fmt.Errorf("%w: stats request: %w", ErrConnLost, err)
	}
	msg, err := t.readMsg()
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false, fmt.Errorf("no reply to a stats request before the deadline: %w", context.DeadlineExceeded)
	case errors.Is(err, io.EOF):
		return false, fmt.Errorf("%w: closed by server", ErrConnLost)
	case err != nil:
		return false, fmt.Errorf("%w: stats reply: %w", ErrConnLost, err)
	}
	var r wire.Reply
	if err := wire.DecodeReply(msg, &r); err != nil {
		return false, fmt.Errorf("%w: %w (%w)", ErrConnLost, ErrNotNMDB, err)
	}
	return r.ID == 1 && r.Code == wire.CodeOK && len(r.Val)/8 > wire.ClassicStats, nil
}

// gate keeps one request in flight to a stream server found to be
// classic: it connects s if needed (which tells), then waits for the
// server's turn. release is nil when there is nothing to release.
func (s *server) gate(ctx context.Context, op wire.Op) (release func(), err error) {
	if _, err := s.link(ctx); err != nil {
		return nil, fmt.Errorf("nmdb: %v: %w", op, err)
	}
	if !s.single.Load() {
		return nil, nil
	}
	select {
	case s.turn <- struct{}{}:
		return s.release, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("nmdb: %v on %s: %w: %w", op, s.name, errWaitTurn, ctx.Err())
	}
}

// errWaitTurn marks a call that ended while waiting for its turn at a
// classic server: it says nothing of the server's health.
var errWaitTurn = errors.New("waiting for a classic server's one request in flight")

func (s *server) release() { <-s.turn }
