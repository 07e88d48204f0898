package nmdb

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of TCP connections beyond the connection count (see Config).
const (
	// DefaultIdleTimeout is Config.IdleTimeout's default.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultFrameTimeout is Config.FrameTimeout's default.
	DefaultFrameTimeout = 10 * time.Second

	// connOut is the per-connection bound on replies not yet taken by the
	// client: past it the server reads no more requests from the
	// connection until the client has read its replies.
	connOut = 256 << 10
	// totalOut bounds the replies waiting for every client together: past
	// it, a connection that has replies waiting reads no more requests
	// until they are taken.
	totalOut = 64 << 20
	// DefaultEvictAfter is Config.EvictAfter's default.
	DefaultEvictAfter = time.Second
	// logEvery is the least time between two log lines of one kind about
	// misbehaving clients; the lines left out are counted in the next.
	logEvery = time.Second
)

// timeouts closes TCP connections that sit idle between requests for
// longer than idle, or take longer than frame to send a request they have
// begun. Readers mark when they start to wait (see tcpConn.markIdle and
// markFrame) in the coarse clock of the sweeper, which looks at every
// connection a few times per timeout: the hot path costs two atomic
// stores per batch of requests, and no timer.
type timeouts struct {
	idle, frame time.Duration // <= 0: never
	evict       time.Duration // see Config.EvictAfter; <= 0: never
	tick        time.Duration
	clock       atomic.Int64 // nanoseconds since start, plus 1; moved by the sweeper
	start       time.Time
	stop        chan struct{}
	done        chan struct{}
}

// newTimeouts returns the timeouts of cfg (0 means the default, a
// negative value never).
func newTimeouts(idle, frame, evict time.Duration) *timeouts {
	if evict == 0 {
		evict = DefaultEvictAfter
	}
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	if frame == 0 {
		frame = DefaultFrameTimeout
	}
	t := &timeouts{idle: idle, frame: frame, evict: evict, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	least := time.Duration(0)
	for _, d := range []time.Duration{idle, frame, evict} {
		if d > 0 && (least == 0 || d < least) {
			least = d
		}
	}
	t.tick = time.Second
	if least > 0 {
		t.tick = min(max(least/4, 10*time.Millisecond), time.Second)
	}
	t.clock.Store(1)
	return t
}

// now is the coarse clock: never 0, so that 0 can mean "not waiting".
func (t *timeouts) now() int64 { return t.clock.Load() }

// expired reports whether a wait that began at since (0: none) has lasted
// longer than d at now.
func expired(since, now int64, d time.Duration) bool {
	return since != 0 && d > 0 && now-since > int64(d)
}

// sweep moves the clock and closes the connections that waited too long,
// until Shutdown.
func (s *Server) sweep() {
	t := s.timeouts
	defer close(t.done)
	tick := time.NewTicker(t.tick)
	defer tick.Stop()
	var late []*tcpConn
	for {
		select {
		case <-t.stop:
			return
		case now := <-tick.C:
			clock := int64(now.Sub(t.start)) + 1
			t.clock.Store(clock)
			late = late[:0]
			s.mu.Lock()
			for tc := range s.conns {
				idle, frame := expired(tc.r.idleSince.Load(), clock, t.idle), expired(tc.r.frameSince.Load(), clock, t.frame)
				if (idle || frame) && !tc.r.timedOut.Swap(true) {
					late = append(late, tc)
				}
			}
			s.mu.Unlock()
			for _, tc := range late {
				tc.timeOut(tc.r.frameSince.Load() != 0)
			}
		}
	}
}

// evictIdle makes room for a connection over the limit: it closes the
// connection that has waited the longest for a request, if that has been
// longer than Config.EvictAfter, and reports whether it found one. The newcomer
// is let in at once; the count goes back under the limit when the evicted
// connection has finished closing. So connections that sit idle, such as
// a flood of clients that connect and send nothing, cannot keep active
// clients out, whatever the idle timeout.
func (s *Server) evictIdle() bool {
	t := s.timeouts
	if t.evict <= 0 {
		return false
	}
	now := t.now()
	var oldest *tcpConn
	var since int64
	s.mu.Lock()
	for tc := range s.conns {
		if at := tc.r.idleSince.Load(); at != 0 && now-at > int64(t.evict) && (oldest == nil || at < since) && !tc.r.timedOut.Load() {
			oldest, since = tc, at
		}
	}
	if oldest != nil && oldest.r.timedOut.Swap(true) {
		oldest = nil // the sweeper took it meanwhile
	}
	s.mu.Unlock()
	if oldest == nil {
		return false
	}
	s.logOverLimit.warn(s.log, "closed the connection idle the longest to make room for a new one", "client", oldest.c.RemoteAddr(), "limit", s.maxConns)
	oldest.timeOut(false)
	return true
}

// logLimiter lets through at most one log line per logEvery for one kind
// of event, and counts those it holds back.
type logLimiter struct {
	mu      sync.Mutex
	last    time.Time
	dropped int
}

// warn logs msg with args unless a line was logged less than logEvery
// ago; a line says how many were left out before it.
func (l *logLimiter) warn(log *slog.Logger, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < logEvery {
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.last = now
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	if dropped > 0 {
		args = append(args, "similar_lines_left_out", dropped)
	}
	log.Warn(msg, args...)
}
