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
	tick        time.Duration
	clock       atomic.Int64 // nanoseconds since start, plus 1; moved by the sweeper
	start       time.Time
	stop        chan struct{}
	done        chan struct{}
}

// newTimeouts returns the timeouts of cfg (0 means the default, a
// negative value never).
func newTimeouts(idle, frame time.Duration) *timeouts {
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	if frame == 0 {
		frame = DefaultFrameTimeout
	}
	t := &timeouts{idle: idle, frame: frame, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	least := time.Duration(0)
	for _, d := range []time.Duration{idle, frame} {
		if d > 0 && (least == 0 || d < least) {
			least = d
		}
	}
	t.tick = min(max(least/4, 10*time.Millisecond), time.Second)
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
	if t.idle <= 0 && t.frame <= 0 {
		<-t.stop
		return
	}
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
