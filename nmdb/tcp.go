package nmdb

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// Buffers and limits of TCP connections.
const (
	// smallBuf is the size of the pooled buffer a connection reads small
	// frames into; an idle connection holds no buffer at all.
	smallBuf = 4096
	// bigBuf holds the largest frame and then some.
	bigBuf = wire.TCPPrefix + wire.MaxMessage + 4096
	// maxOut bounds the replies a connection may have waiting to be
	// written; a client that does not read them is cut off.
	maxOut = 4 << 20
	// keepOut is the largest output buffer kept for reuse.
	keepOut = 64 << 10
	// writeTimeout cuts off a client that takes no reply bytes at all for
	// this long while replies wait for it.
	writeTimeout = time.Minute
	// shutdownGrace is how long Shutdown lets a connection take its last
	// replies.
	shutdownGrace = 5 * time.Second
)

// tcpConn is one client connection: a reader goroutine that decodes and
// handles requests, and a writer goroutine that writes whatever replies are
// ready in one system call.
type tcpConn struct {
	s   *Server
	c   net.Conn
	rt  replyTo
	hdr [wire.TCPPrefix]byte

	wake chan struct{} // tells the writer to look at the state below

	mu         sync.Mutex // guards the fields below
	out        []byte     // replies ready to be written
	spare      []byte     // the writer's previous buffer, for reuse
	pending    int        // requests queued for the database
	readerDone bool       // no more requests will be read
	dead       bool       // cut off or broken: drop replies, close
}

// lock and unlock guard the fields after mu.
func (tc *tcpConn) lock()   { tc.mu.Lock() }
func (tc *tcpConn) unlock() { tc.mu.Unlock() }

// poke wakes the writer.
func (tc *tcpConn) poke() {
	select {
	case tc.wake <- struct{}{}:
	default:
	}
}

// ServeTCP accepts connections on l and serves them until Shutdown, then
// returns ErrServerClosed. Connections beyond Config.MaxConns are closed at
// once and counted.
func (s *Server) ServeTCP(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: back off.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if s.nconns.Add(1) > s.maxConns {
			s.nconns.Add(-1)
			s.inc(wire.StatConnsClosed)
			_ = c.Close()
			continue
		}
		tc := &tcpConn{s: s, c: c, wake: make(chan struct{}, 1)}
		tc.rt.tc, tc.rt.reader = tc, true
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			s.nconns.Add(-1)
			_ = c.Close()
			return ErrServerClosed
		}
		s.conns[tc] = struct{}{}
		s.readers.Add(1)
		s.writers.Add(1)
		s.mu.Unlock()
		go tc.read()
		go tc.write()
	}
}

// isTemporary reports whether an accept error is worth retrying.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// read reads frames and handles them. While the connection is idle it
// holds only the 4-byte header; a pooled buffer is taken when a frame
// arrives and given back when every complete frame read has been handled.
func (tc *tcpConn) read() {
	s := tc.s
	defer func() {
		tc.lock()
		tc.readerDone = true
		tc.unlock()
		tc.poke()
		s.readers.Done()
	}()
	for {
		if _, err := io.ReadFull(tc.c, tc.hdr[:]); err != nil {
			return
		}
		if !tc.readFrames() {
			return
		}
	}
}

// readFrames handles the frame whose prefix is in tc.hdr and every frame
// that follows it in the data read along. It reports false when the
// connection is done.
func (tc *tcpConn) readFrames() bool {
	s := tc.s
	pool := &s.smallBufs
	bp := pool.Get().(*[]byte)
	defer func() { pool.Put(bp) }()
	// The replies to the frames handled are handed to the writer together,
	// before every wait for more input.
	defer tc.poke()
	buf := *bp
	have := copy(buf, tc.hdr[:])
	off := 0
	for off < have {
		if have-off < wire.TCPPrefix {
			if off > 0 {
				have = copy(buf, buf[off:have])
				off = 0
			}
			tc.poke()
			n, err := io.ReadAtLeast(tc.c, buf[have:], wire.TCPPrefix-have)
			if err != nil {
				return false
			}
			have += n
		}
		n, err := wire.FrameLen(buf[off : off+wire.TCPPrefix])
		if err != nil {
			// The stream cannot be trusted past a bad length.
			s.inc(wire.StatBrokenRequests)
			s.inc(wire.StatConnsClosed)
			s.log.Warn("closing a connection after a bad frame length", "client", tc.c.RemoteAddr(), "err", err)
			tc.rt.quiet = s.passive.Load()
			s.replyErr(&tc.rt, nil, 0, wire.ErrCodeBroken)
			return false
		}
		total := wire.TCPPrefix + n
		if off+total > len(buf) {
			if total > len(buf) {
				// Move to a big buffer for this frame.
				nb := s.bigBufs.Get().(*[]byte)
				have = copy(*nb, buf[off:have])
				pool.Put(bp)
				pool, bp, buf = &s.bigBufs, nb, *nb
			} else {
				have = copy(buf, buf[off:have])
			}
			off = 0
		}
		if have-off < total {
			tc.poke()
			m, err := io.ReadAtLeast(tc.c, buf[have:], total-(have-off))
			if err != nil {
				return false
			}
			have += m
		}
		s.handle(buf[off+wire.TCPPrefix:off+total], &tc.rt, nil)
		off += total
	}
	return true
}

// begin locks the output buffer and begins a frame in it.
func (tc *tcpConn) begin() ([]byte, int) {
	tc.lock()
	return wire.BeginFrame(tc.out)
}

// end finishes the frame begun by begin and, if poke is set, wakes the
// writer. A connection whose unwritten replies grow beyond maxOut is cut
// off.
func (tc *tcpConn) end(b []byte, start int, poke bool) {
	b = wire.EndFrame(b, start)
	if tc.dead {
		tc.out = b[:0]
		tc.unlock()
		return
	}
	if len(b) > maxOut {
		tc.out = b[:0]
		tc.unlock()
		tc.kill(true)
		return
	}
	tc.out = b
	tc.unlock()
	if poke {
		tc.poke()
	}
}

// addPending notes a request queued for the database.
func (tc *tcpConn) addPending() {
	tc.lock()
	tc.pending++
	tc.unlock()
}

// donePending notes that a queued request was answered.
func (tc *tcpConn) donePending() {
	tc.lock()
	tc.pending--
	idle := tc.pending == 0 && tc.readerDone
	tc.unlock()
	if idle {
		tc.poke()
	}
}

// kill cuts the connection off: replies are dropped and the socket closed.
// count says whether to count (and log) it as closed for bad behaviour.
func (tc *tcpConn) kill(count bool) {
	tc.lock()
	was := tc.dead
	tc.dead = true
	tc.unlock()
	if !was && count {
		tc.s.inc(wire.StatConnsClosed)
		tc.s.log.Warn("cut off a client that does not read its replies", "client", tc.c.RemoteAddr())
	}
	_ = tc.c.Close()
	tc.poke()
}

// write writes the replies as they become ready, all that are ready in one
// write, until the reader is done and every queued request was answered.
func (tc *tcpConn) write() {
	s := tc.s
	defer func() {
		_ = tc.c.Close()
		s.mu.Lock()
		delete(s.conns, tc)
		s.mu.Unlock()
		s.nconns.Add(-1)
		s.writers.Done()
	}()
	for range tc.wake {
		for {
			tc.lock()
			buf := tc.out
			tc.out, tc.spare = tc.spare[:0], nil
			dead := tc.dead
			finished := tc.readerDone && tc.pending == 0
			tc.unlock()
			if dead {
				return
			}
			if len(buf) == 0 {
				if finished {
					return
				}
				break
			}
			timeout := writeTimeout
			if s.closing.Load() {
				timeout = shutdownGrace
			}
			_ = tc.c.SetWriteDeadline(time.Now().Add(timeout))
			if _, err := tc.c.Write(buf); err != nil {
				tc.kill(errors.Is(err, os.ErrDeadlineExceeded))
				return
			}
			if cap(buf) <= keepOut {
				tc.lock()
				if tc.spare == nil {
					tc.spare = buf[:0]
				}
				tc.unlock()
			}
		}
	}
}
