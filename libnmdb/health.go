package libnmdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// Default back-off of servers marked down (see Options.Backoff).
const (
	// DefaultBackoff is how long a server that failed or timed out is
	// skipped at first.
	DefaultBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff caps the back-off: a server that comes back is
	// used again at most this long after.
	DefaultMaxBackoff = time.Second
)

// health tracks whether a server is marked down. A server is marked down
// by a call that failed for want of it (it could not be reached, the
// connection broke, or no reply came before the deadline). While it is
// down, calls fail at once with ErrServerDown until its back-off period has
// passed; then one call at a time, the probe, goes to the server. A probe
// that fails doubles the period, up to the maximum; any call that gets a
// reply marks the server up. Marking down never changes which server holds
// a key.
type health struct {
	down atomic.Bool // read by every call; changed under mu

	mu      sync.Mutex
	backoff time.Duration // the current period; 0 while up
	retryAt time.Time     // when the next probe may go
	probing bool          // a probe is under way
	cause   error         // the failure that marked the server down
	downs   uint64        // times the server was marked down
}

// admit decides whether a call may go to the server at now: it may if the
// server is up, or as the probe once the back-off passed. Otherwise it
// returns the failure that marked the server down and when the next probe
// may go.
func (h *health) admit(now time.Time) (probe bool, retryAt time.Time, cause error) {
	if !h.down.Load() {
		return false, time.Time{}, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.down.Load():
		return false, time.Time{}, nil
	case h.probing || now.Before(h.retryAt):
		return false, h.retryAt, h.cause
	}
	h.probing = true
	return true, time.Time{}, nil
}

// outcome is what a call tells of its server.
type outcome int

const (
	outNeutral outcome = iota // nothing: the call ended before the server could answer
	outUp                     // the server answered
	outDown                   // the server could not be reached or did not answer in time
)

// report records the outcome of a call made at now; probe tells whether it
// was the probe. It returns true when the server changed state (for the
// log).
func (h *health) report(o outcome, probe bool, cause error, now time.Time, first, max time.Duration) (changed bool) {
	if o == outUp && !probe && !h.down.Load() {
		return false // the common case, without the lock
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if probe {
		h.probing = false
	}
	switch o {
	case outUp:
		if !h.down.Load() {
			return false
		}
		h.down.Store(false)
		h.backoff, h.cause = 0, nil
		return true
	case outDown:
		switch {
		case !h.down.Load():
			h.backoff = first
			h.downs++
			h.down.Store(true)
			changed = true
		case probe:
			h.backoff = min(2*h.backoff, max)
		default:
			// A call made before the server was marked down, or
			// while a probe was out: the period stands.
			return false
		}
		h.cause = cause
		h.retryAt = now.Add(h.backoff)
		return changed
	}
	return false
}

// judge tells what err, the result of a call, says of the server.
func judge(err error) outcome {
	if err == nil {
		return outUp
	}
	return judgeErr(err)
}

// judgeErr is judge for a failed call, apart so that a call that succeeds
// allocates nothing.
func judgeErr(err error) outcome {
	var se *ServerError
	switch {
	case errors.As(err, &se), errors.Is(err, ErrUnexpectedReply):
		return outUp
	case errors.Is(err, context.Canceled), errors.Is(err, ErrClosed), errors.Is(err, ErrTooBig), errors.Is(err, errWaitTurn):
		return outNeutral
	}
	// Could not connect, connection lost, no reply in time, or another
	// failure of the transport.
	return outDown
}

// roundTrip is exec behind the server's health: it fails at once with
// ErrServerDown while the server is marked down, and records what the
// call tells of the server.
func (c *Client) roundTrip(ctx context.Context, s *server, req *wire.Request, safe bool) (*call, wire.Reply, error) {
	now := time.Now()
	if c.opts.Backoff < 0 {
		return c.execOne(ctx, s, req, safe, now)
	}
	probe, retryAt, cause := s.health.admit(now)
	if cause != nil {
		return nil, wire.Reply{}, &downError{op: req.Op, server: s.name, cause: cause, retryAt: retryAt}
	}
	if ctx.Err() != nil {
		// Done before anything was sent: says nothing of the server.
		cl, r, err := c.execOne(ctx, s, req, safe, now)
		s.health.report(outNeutral, probe, nil, time.Time{}, 0, 0)
		return cl, r, err
	}
	cl, r, err := c.execOne(ctx, s, req, safe, now)
	o := judge(err)
	var at time.Time // only a failure needs the time
	if o == outDown {
		at = time.Now()
	}
	if s.health.report(o, probe, err, at, c.opts.Backoff, c.opts.MaxBackoff) {
		if o == outDown {
			c.log.Warn("nmdb: server marked down", "server", s.name, "err", err, "backoff", c.opts.Backoff)
		} else {
			c.log.Info("nmdb: server back", "server", s.name)
		}
	}
	return cl, r, err
}

// execOne is exec, one request at a time to a classic stream server. A
// call whose context is never done goes on a connection in blocking mode
// of its own when there is one (Options.ThreadWait), one request at a
// time on it; now is when the call was made.
func (c *Client) execOne(ctx context.Context, s *server, req *wire.Request, safe bool, now time.Time) (*call, wire.Reply, error) {
	if s.blk != nil && ctx.Done() == nil {
		if _, err := wire.RequestSize(req); err != nil {
			return nil, wire.Reply{}, fmt.Errorf("nmdb: %v: %w", req.Op, err)
		}
		until := now.Add(c.opts.Timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(until) {
			until = d
		}
		if cl, handled, err := c.execBlocking(s, req, safe, until); handled {
			return c.result(s, req, cl, wire.Reply{}, err)
		}
	}
	if !s.stream {
		return c.exec(ctx, s, req, safe)
	}
	release, err := s.gate(ctx, req.Op)
	if err != nil {
		return nil, wire.Reply{}, err
	}
	if release != nil {
		defer release()
	}
	return c.exec(ctx, s, req, safe)
}

// downError is the error of a call that was not made because its server is
// marked down. It matches ErrServerDown.
type downError struct {
	op      wire.Op
	server  string
	cause   error
	retryAt time.Time
}

func (e *downError) Error() string {
	// The cause names the package, a request and this server: keep
	// what it says after them.
	why := e.cause.Error()
	if i := strings.Index(why, e.server+": "); i >= 0 {
		why = why[i+len(e.server)+2:]
	}
	return fmt.Sprintf("nmdb: %v on %s: %v, next try in %v (last failure: %s)",
		e.op, e.server, strings.TrimPrefix(ErrServerDown.Error(), "nmdb: "), time.Until(e.retryAt).Round(time.Millisecond), why)
}

func (e *downError) Is(target error) bool { return target == ErrServerDown }

// Down returns the servers currently marked down (see ErrServerDown), in
// sharding order, named as Servers names them.
func (c *Client) Down() []string {
	var out []string
	for _, s := range *c.servers.Load() {
		if s.health.down.Load() {
			out = append(out, s.name)
		}
	}
	return out
}
