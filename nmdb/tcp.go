package nmdb

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
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
	// written, which only database replies owed to requests read before
	// the connection reached connOut can take it to; a client that does
	// not read them is cut off.
	maxOut = 4 << 20
	// maxSkipFrame is the longest frame skipped, with an ERR reply, rather
	// than taken for a broken stream: a request some bytes over the
	// protocol's limit leaves the connection usable.
	maxSkipFrame = 1 << 20
	// lingerBytes and lingerTime bound what is read and dropped from a
	// client after its connection is given up for a bad frame, so that
	// the close does not reset the connection before the ERR reply
	// reached it.
	lingerBytes = 256 << 10
	lingerTime  = time.Second
	// keepOut is the largest output buffer kept for reuse.
	keepOut = 64 << 10
	// writeTimeout cuts off a client that takes no reply bytes at all for
	// this long while replies wait for it.
	writeTimeout = time.Minute
	// shutdownGrace is how long Shutdown lets a connection take its last
	// replies.
	shutdownGrace = 5 * time.Second
	// firstRead is the per-connection buffer each batch of frames is first
	// read into: small requests are handled from it with one read and no
	// pooled buffer.
	firstRead = 256
)

// tcpConn is one client connection: a reader goroutine that decodes and
// handles requests, and a writer goroutine that writes whatever replies are
// ready in one system call.
//
// Replies to what the reader handled are not handed to the writer one by
// one: once the reader has handled every frame it read, it writes them
// itself without blocking (see flush), and wakes the writer only for what
// the socket did not take. Database replies wake the writer. One write is
// under way at a time.
type tcpConn struct {
	s   *Server
	c   net.Conn
	raw syscall.RawConn // c's descriptor; nil where it has none

	r tcpReader // the reader goroutine's own
	w tcpWriter // the writing side's
	o tcpOut    // shared by reader, writer and database replies
}

// tcpReader is the state the reader goroutine uses; the atomics are read
// by the sweeper of timeouts too, and room is signalled by the writer.
type tcpReader struct {
	rt    replyTo
	first [firstRead]byte // where each batch of frames is first read
	op    rawOp           // its reads through the descriptor
	spin  spinner         // its polling before it sleeps

	idleSince  atomic.Int64  // timeouts' clock when it began to wait for a request; 0: not waiting
	frameSince atomic.Int64  // timeouts' clock when it began to wait for the rest of a request; 0: not waiting
	timedOut   atomic.Bool   // the sweeper closed the connection
	room       chan struct{} // the client took replies, or the connection ends
}

// tcpWriter is the state of the writing side: the writer goroutine, or the
// reader while it flushes (whichever set tcpOut.writing).
type tcpWriter struct {
	wake chan struct{} // tells the writer to look at tcpOut
	op   rawOp         // non-blocking writes through the descriptor
}

// tcpOut is the replies' state, which reader, writer and database replies
// share; mu guards it.
type tcpOut struct {
	mu         sync.Mutex
	buf        []byte // replies ready to be written
	spare      []byte // the writer's previous buffer, for reuse
	pending    int    // requests queued for the database
	writing    bool   // a write is under way
	readerDone bool   // no more requests will be read
	dead       bool   // cut off or broken: drop replies, close
	linger     bool   // read and drop the client's input a while before the close
	// owed counts the reply bytes not yet taken by the client (in buf
	// and in a write under way), also counted in Server.outBytes. It is
	// changed under mu and read by the reader without it.
	owed atomic.Int64
}

// lock and unlock guard tc.o.
func (tc *tcpConn) lock()   { tc.o.mu.Lock() }
func (tc *tcpConn) unlock() { tc.o.mu.Unlock() }

// poke wakes the writer.
func (tc *tcpConn) poke() {
	select {
	case tc.w.wake <- struct{}{}:
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
		if s.nconns.Add(1) > s.maxConns && !s.evictIdle() {
			s.nconns.Add(-1)
			s.inc(wire.StatConnsClosed)
			s.logOverLimit.warn(s.log, "refused a connection over the limit", "client", c.RemoteAddr(), "limit", s.maxConns)
			refuse(c)
			continue
		}
		tc := &tcpConn{s: s, c: c}
		tc.w.wake = make(chan struct{}, 1)
		tc.r.room = make(chan struct{}, 1)
		tc.r.rt.tc, tc.r.rt.reader = tc, true
		tc.setRaw()
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

// refusal is the ERR reply a client over the connection limit gets: out of
// resources, for request id 0 (it has sent none yet).
var refusal = func() []byte {
	b, start := wire.BeginFrame(nil)
	return wire.EndFrame(wire.AppendError(b, 0, wire.ErrCodeMemory), start)
}()

// refuse sends the refusal to a connection over the limit and closes it.
// The reply fits in the empty socket's buffer, so the write does not wait.
func refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(lingerTime))
	_, _ = c.Write(refusal)
	_ = c.Close()
}

// isTemporary reports whether an accept error is worth retrying.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// read reads frames and handles them. While the connection is idle it
// holds only its small first-read buffer; a pooled buffer is taken when a
// batch of frames does not fit in it, and given back when every complete
// frame read has been handled.
func (tc *tcpConn) read() {
	s := tc.s
	defer func() {
		tc.r.spin.close()
		tc.lock()
		tc.o.readerDone = true
		tc.unlock()
		tc.poke()
		s.readers.Done()
	}()
	for {
		// Between requests: idle. A partial frame is left to readFrames,
		// where the time to finish it is bounded.
		tc.r.idleSince.Store(s.timeouts.now())
		n, err := tc.readAtLeast(tc.r.first[:], 1)
		tc.r.idleSince.Store(0)
		if err != nil {
			return
		}
		if !tc.readFrames(n) {
			return
		}
	}
}

// markFrame notes that the reader waits for the rest of a frame: the
// time it has to finish one starts at the first wait.
func (tc *tcpConn) markFrame() {
	if tc.r.frameSince.Load() == 0 {
		tc.r.frameSince.Store(tc.s.timeouts.now())
	}
}

// timeOut ends a connection the sweeper found waiting too long: its reader
// stops, and the writer sends what replies are left and closes it.
func (tc *tcpConn) timeOut(frame bool) {
	s := tc.s
	if frame {
		s.inc(wire.StatConnsClosed)
		s.logTimeout.warn(s.log, "closing a connection that did not finish a request in time", "client", tc.c.RemoteAddr(), "limit", s.timeouts.frame)
	}
	_ = tc.c.SetReadDeadline(time.Unix(1, 0))
}

// wakeReader wakes a reader waiting for its client to take replies.
func (tc *tcpConn) wakeReader() {
	select {
	case tc.r.room <- struct{}{}:
	default:
	}
}

// waitRoom returns once the connection may read more requests: its
// client has few enough replies waiting, and all clients together too
// unless it has none. It reports false when the connection ends first.
func (tc *tcpConn) waitRoom() bool {
	s := tc.s
	for {
		owed := tc.o.owed.Load()
		if owed == 0 || owed < connOut && s.outBytes.Load() <= totalOut {
			return true
		}
		tc.flush()
		tc.lock()
		dead := tc.o.dead
		tc.unlock()
		if dead || s.closing.Load() {
			return false
		}
		s.stalls.Add(1)
		<-tc.r.room
	}
}

// frameBuf is the buffer readFrames works in: the connection's first-read
// buffer, or a pooled one (bp from pool).
type frameBuf struct {
	buf  []byte
	pool *sync.Pool
	bp   *[]byte
}

// release gives a pooled buffer back.
func (fb *frameBuf) release() {
	if fb.bp != nil {
		fb.pool.Put(fb.bp)
		fb.bp = nil
	}
}

// room makes buf[0:need] able to hold the unhandled bytes buf[off:have]
// and the rest of a need-byte piece, moving them to the front or to a
// (bigger) pooled buffer. It returns the new have; the data starts at 0.
func (tc *tcpConn) room(fb *frameBuf, off, have, need int) int {
	if fb.bp != nil && need <= len(fb.buf) {
		return copy(fb.buf, fb.buf[off:have])
	}
	pool := &tc.s.smallBufs
	if need > smallBuf {
		pool = &tc.s.bigBufs
	}
	bp := pool.Get().(*[]byte)
	have = copy(*bp, fb.buf[off:have])
	fb.release()
	fb.buf, fb.pool, fb.bp = *bp, pool, bp
	return have
}

// readFrames handles the frames in tc.r.first[:have] and every frame that
// follows them in the data read along. It reports false when the
// connection is done.
func (tc *tcpConn) readFrames(have int) bool {
	s := tc.s
	fb := frameBuf{buf: tc.r.first[:]}
	defer fb.release()
	// The replies to the frames handled go out together, before every
	// wait for more input.
	defer tc.flush()
	off := 0
	for off < have {
		if have-off < wire.TCPPrefix {
			// More is read into a pooled buffer, never the small one, so
			// that a pipelined batch takes few reads.
			have = tc.room(&fb, off, have, wire.TCPPrefix)
			off = 0
			tc.flush()
			tc.markFrame()
			n, err := tc.readAtLeast(fb.buf[have:], wire.TCPPrefix-have)
			if err != nil {
				return false
			}
			have += n
		}
		n, err := wire.FrameLen(fb.buf[off : off+wire.TCPPrefix])
		if err != nil {
			size := int64(binary.BigEndian.Uint32(fb.buf[off:]))
			if size <= wire.TCPPrefix+wire.MaxMessage || size > maxSkipFrame {
				// The stream cannot be trusted past such a length: the
				// ERR reply is sent, then the connection closed.
				s.inc(wire.StatBrokenRequests)
				s.inc(wire.StatConnsClosed)
				s.logBadFrame.warn(s.log, "closing a connection after a bad frame length", "client", tc.c.RemoteAddr(), "err", err)
				tc.r.rt.quiet = s.passive.Load()
				s.replyErr(&tc.r.rt, nil, 0, wire.ErrCodeBroken)
				tc.lock()
				tc.o.linger = true
				tc.unlock()
				return false
			}
			// Over the limit but plausible: the frame is skipped, and
			// answered as a broken request, with its id.
			have = tc.room(&fb, off, have, wire.TCPPrefix+wire.HeaderSize)
			off = 0
			if have < wire.TCPPrefix+wire.HeaderSize {
				tc.markFrame()
				m, err := tc.readAtLeast(fb.buf[have:], wire.TCPPrefix+wire.HeaderSize-have)
				if err != nil {
					return false
				}
				have += m
			}
			id := wire.MessageID(fb.buf[wire.TCPPrefix:])
			var ok bool
			if off, have, ok = tc.skip(&fb, have, int(size)); !ok {
				return false
			}
			tc.r.frameSince.Store(0)
			s.inc(wire.StatMsgTCP)
			s.inc(wire.StatBrokenRequests)
			s.logBadFrame.warn(s.log, "skipped a request over the size limit", "client", tc.c.RemoteAddr(), "bytes", size)
			tc.r.rt.quiet = s.passive.Load()
			s.replyErr(&tc.r.rt, nil, id, wire.ErrCodeBroken)
			continue
		}
		total := wire.TCPPrefix + n
		if have-off < total {
			if fb.bp == nil || off+total > len(fb.buf) {
				have = tc.room(&fb, off, have, total)
				off = 0
			}
			tc.flush()
			tc.markFrame()
			m, err := tc.readAtLeast(fb.buf[have:], total-(have-off))
			if err != nil {
				return false
			}
			have += m
		}
		if tc.r.frameSince.Load() != 0 {
			tc.r.frameSince.Store(0)
		}
		// Backpressure: a client that does not take its replies gets no
		// more of them made.
		if owed := tc.o.owed.Load(); owed > 0 && (owed >= connOut || s.outBytes.Load() > totalOut) && !tc.waitRoom() {
			return false
		}
		s.handle(fb.buf[off+wire.TCPPrefix:off+total], &tc.r.rt, nil)
		off += total
	}
	return true
}

// skip drops the size-byte frame that begins fb.buf[0:have], reading the
// rest of it, and returns where the data read along after it starts and
// ends in fb.buf; false when the connection ends first.
func (tc *tcpConn) skip(fb *frameBuf, have, size int) (off, end int, ok bool) {
	if have >= size {
		return size, have, true
	}
	left := size - have
	for {
		tc.markFrame()
		m, err := tc.readAtLeast(fb.buf, 1)
		if err != nil {
			return 0, 0, false
		}
		if m >= left {
			return left, m, true
		}
		left -= m
	}
}

// begin locks the output buffer and begins a frame in it.
func (tc *tcpConn) begin() ([]byte, int) {
	tc.lock()
	return wire.BeginFrame(tc.o.buf)
}

// end finishes the frame begun by begin and, if poke is set, wakes the
// writer. A connection whose unwritten replies grow beyond maxOut is cut
// off.
func (tc *tcpConn) end(b []byte, start int, poke bool) {
	b = wire.EndFrame(b, start)
	if tc.o.dead {
		tc.o.buf = b[:0]
		tc.unlock()
		return
	}
	if len(b) > maxOut {
		tc.o.buf = b[:0]
		tc.unlock()
		tc.kill(true)
		return
	}
	tc.owe(len(b) - len(tc.o.buf))
	tc.o.buf = b
	tc.unlock()
	if poke {
		tc.poke()
	}
}

// owe adds n (maybe negative) to the reply bytes the client has not
// taken yet, under the lock.
func (tc *tcpConn) owe(n int) {
	if n != 0 {
		tc.o.owed.Add(int64(n))
		tc.s.outBytes.Add(int64(n))
	}
}

// addPending notes a request queued for the database.
func (tc *tcpConn) addPending() {
	tc.lock()
	tc.o.pending++
	tc.unlock()
}

// donePending notes that a queued request was answered.
func (tc *tcpConn) donePending() {
	tc.lock()
	tc.o.pending--
	idle := tc.o.pending == 0 && tc.o.readerDone
	tc.unlock()
	if idle {
		tc.poke()
	}
}

// kill cuts the connection off: replies are dropped and the socket closed.
// count says whether to count (and log) it as closed for bad behaviour.
func (tc *tcpConn) kill(count bool) {
	tc.lock()
	was := tc.o.dead
	tc.o.dead = true
	tc.owe(-int(tc.o.owed.Load()))
	tc.unlock()
	if !was && count {
		tc.s.inc(wire.StatConnsClosed)
		tc.s.logCutOff.warn(tc.s.log, "cut off a client that does not read its replies", "client", tc.c.RemoteAddr())
	}
	_ = tc.c.Close()
	tc.poke()
	tc.wakeReader()
}

// lingerClose ends the sending side and reads and drops what the client
// still sends, for a bounded time and amount, so that closing the
// connection does not reset it before the client read the last replies.
func (tc *tcpConn) lingerClose() {
	if cw, ok := tc.c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = tc.c.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, tc.c, lingerBytes)
}

// setRaw prepares the reads and the non-blocking writes that go through
// the connection's descriptor (see rawOp), where it has one.
func (tc *tcpConn) setRaw() {
	if runtime.GOOS == "windows" {
		return // sockets are handles there, not descriptors
	}
	sc, ok := tc.c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	tc.raw = raw
	tc.r.spin = tc.s.spin.newSpinner()
	tc.r.op.Spin = &tc.r.spin
	tc.w.op.NoWait = true // never wait for the socket: the writer does that
}

// readAtLeast reads into buf until it holds at least min bytes, as
// io.ReadAtLeast does.
func (tc *tcpConn) readAtLeast(buf []byte, min int) (int, error) {
	if tc.raw == nil {
		return io.ReadAtLeast(tc.c, buf, min)
	}
	n := 0
	for n < min {
		tc.r.op.Buf = buf[n:]
		m, err := tc.r.op.Recvfrom(tc.raw)
		tc.r.op.Buf = nil
		if err == nil && m == 0 {
			err = io.EOF
			if n > 0 {
				err = io.ErrUnexpectedEOF
			}
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// tryWrite writes as much of b as the socket takes now, without waiting,
// and returns how much that was. Errors are left for the writer to find.
func (tc *tcpConn) tryWrite(b []byte) int {
	tc.w.op.Buf = b
	n, _ := tc.w.op.Sendto(tc.raw)
	tc.w.op.Buf = nil
	return n
}

// flush is called by the reader when it is about to wait for input: if no
// write is under way, it writes the replies ready without blocking, and
// wakes the writer for what the socket did not take.
func (tc *tcpConn) flush() {
	tc.lock()
	if len(tc.o.buf) == 0 || tc.o.dead || tc.o.writing {
		// Nothing to do, or the one writing will see the replies.
		tc.unlock()
		return
	}
	if tc.raw == nil {
		tc.unlock()
		tc.poke()
		return
	}
	buf := tc.o.buf
	tc.o.buf, tc.o.spare = tc.o.spare[:0], nil
	tc.o.writing = true
	tc.unlock()

	n := tc.tryWrite(buf)

	tc.lock()
	tc.o.writing = false
	if !tc.o.dead {
		tc.owe(-n)
	}
	if n < len(buf) {
		// Put the rest back before what was added meanwhile.
		rest := buf[:copy(buf, buf[n:])]
		if len(tc.o.buf) > 0 {
			rest = append(rest, tc.o.buf...)
		}
		tc.o.buf, buf = rest, tc.o.buf
	}
	if tc.o.spare == nil && cap(buf) <= keepOut {
		tc.o.spare = buf[:0]
	}
	// The writer is woken for what is left, and to close a connection cut
	// off meanwhile (it left that to the writing reader).
	more := len(tc.o.buf) > 0 || tc.o.dead
	if len(tc.o.buf) > maxOut && !tc.o.dead {
		tc.o.buf = tc.o.buf[:0]
		tc.unlock()
		tc.kill(true)
		return
	}
	tc.unlock()
	if more {
		tc.poke()
	}
}

// write writes the replies as they become ready, all that are ready in one
// write, until the reader is done and every queued request was answered.
func (tc *tcpConn) write() {
	s := tc.s
	defer func() {
		tc.lock()
		tc.o.dead = true // late database replies are dropped
		tc.owe(-int(tc.o.owed.Load()))
		linger := tc.o.linger
		tc.o.linger = false
		tc.unlock()
		tc.wakeReader()
		if linger {
			tc.lingerClose()
		}
		_ = tc.c.Close()
		s.mu.Lock()
		delete(s.conns, tc)
		s.mu.Unlock()
		s.nconns.Add(-1)
		s.writers.Done()
	}()
	for range tc.w.wake {
		for {
			tc.lock()
			if tc.o.writing {
				// The reader is writing; it wakes the writer again if
				// replies are left.
				tc.unlock()
				break
			}
			buf := tc.o.buf
			if len(buf) > 0 {
				// Swap only when there is something to write: an empty
				// buffer stays in place, so no reply grows a new one.
				tc.o.buf, tc.o.spare = tc.o.spare[:0], nil
				tc.o.writing = true
			}
			dead := tc.o.dead
			finished := tc.o.readerDone && tc.o.pending == 0
			tc.unlock()
			if dead {
				if len(buf) > 0 {
					tc.lock()
					tc.o.writing = false
					tc.unlock()
				}
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
			_, err := tc.c.Write(buf)
			tc.lock()
			tc.o.writing = false
			if err == nil && !tc.o.dead {
				tc.owe(-len(buf))
			}
			if err == nil && tc.o.spare == nil && cap(buf) <= keepOut {
				tc.o.spare = buf[:0]
			}
			tc.unlock()
			tc.wakeReader()
			if err != nil {
				tc.kill(errors.Is(err, os.ErrDeadlineExceeded))
				return
			}
		}
	}
}
