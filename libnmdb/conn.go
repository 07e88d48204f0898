package libnmdb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// transport moves messages to and from one server.
type transport interface {
	// readMsg returns the next reply message. The slice is valid until
	// the next call. Only the link's reader calls it.
	readMsg() ([]byte, error)
	// write sends b: on a stream any number of framed messages, on a
	// datagram transport exactly one message.
	write(b []byte) error
	Close() error
}

// server is one server of a client: how to reach it, and the current
// link with it.
type server struct {
	c     *Client
	tr    wire.Transport
	ip    netip.Addr // IP transports
	port  int
	name  string // "tcp 127.0.0.1:26010"
	retry bool   // datagrams may be lost: repeat what is safe to repeat

	// stream is true for byte streams (TCP), whose messages carry a
	// length prefix and are written in batches (see link.send).
	stream bool
	dial   func(ctx context.Context) (transport, error)

	mu     sync.Mutex // held while dialling
	closed bool       // under mu
	cur    atomic.Pointer[link]
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
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.c.opts.Timeout)
		defer cancel()
	}
	t, err := s.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", s.name, err)
	}
	ln := &link{s: s, t: t, slots: make([]*call, minSlots)}
	if s.stream {
		ln.wake = make(chan struct{}, 1)
		ln.quit = make(chan struct{})
		go ln.writeLoop()
	}
	go ln.readLoop()
	s.cur.Store(ln)
	if old != nil {
		s.c.log.Info("nmdb: reconnected", "server", s.name)
	}
	return ln, nil
}

// close fails the current link with ErrClosed and prevents new ones.
func (s *server) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if ln := s.cur.Load(); ln != nil {
		ln.fail(ErrClosed)
	}
	return nil
}

// link is one connection (or datagram socket) to a server and the
// requests waiting for replies on it.
type link struct {
	s    *server
	t    transport
	dead atomic.Bool

	mu sync.Mutex
	// slots holds the calls waiting for replies, each at its request id
	// modulo len(slots), a power of two: ids are handed out in turn, and
	// the table is kept at most half full so that the id after the last
	// one usually has a free slot. A reply finds its call in one step,
	// and one to a request given up finds nothing, or a call with a
	// different id. nil once the link is dead.
	slots   []*call
	npend   int         // calls in slots
	lastID  uint32      // the last request id handed out
	err     error       // why the link died; set once
	sweeper *time.Timer // runs sweep; made when first needed
	sweepAt time.Time   // when sweeper fires; zero when it is not set

	wbuf    []byte // streams: framed requests waiting to be written
	spare   []byte // streams: the other buffer of a caller that writes
	writing bool   // streams: a caller or the writer goroutine is writing

	wake chan struct{} // streams: the writer goroutine takes over writing
	quit chan struct{} // streams: closed when the link dies

	// The link watches one context at a time, one that several calls
	// share (a context many goroutines use, or one a goroutine makes
	// several calls with). Its calls wait for their reply alone: when the
	// context is done, ctxDone fails them, so that they need no select
	// on the context's channel. Calls with another context select on it.
	// Under mu.
	watched   <-chan struct{} // Done of the watched context; nil: none
	seen      <-chan struct{} // Done of the last context not watched
	stopWatch func() bool     // stops the watch
}

// minSlots is the initial size of a link's table of calls.
const minSlots = 256

// sweepSlack is how close together the sweeps of a link may follow each
// other: calls whose deadlines fall within it of one another may be
// failed together, the later ones that much late.
const sweepSlack = time.Millisecond

// errExpired is how the sweeper fails a call whose deadline passed; the
// caller turns it into the error it reports.
var errExpired = errors.New("deadline passed")

// errCtxDone is how a link fails a call whose context, which the link
// watches, is done; the caller turns it into the error it reports.
var errCtxDone = errors.New("context done")

// call is one request waiting for its reply. Calls are pooled by the
// client. Whoever removes a call from its link's slots owns it: the
// reader, the sweeper and fail signal done once; a caller giving up that
// removed it itself does not wait for a signal.
type call struct {
	done  chan struct{} // capacity 1
	timer *time.Timer   // datagram repeats; made when first needed
	id    uint32
	// deadline, when set, is when the link's sweeper fails the call
	// with errExpired. It is set for calls whose context carries no
	// deadline of its own.
	deadline time.Time
	// ctxDone is the Done channel of the call's context. watched tells
	// whether the link watches that context; the call is then failed with
	// errCtxDone when the context is done.
	ctx     context.Context
	ctxDone <-chan struct{}
	watched bool
	msg     []byte // the reply message
	pkt     []byte // datagrams: the encoded request, kept for repeats
	err     error
}

func newCall() *call {
	return &call{done: make(chan struct{}, 1)}
}

func (c *Client) getCall() *call { return c.calls.Get().(*call) }

func (c *Client) putCall(cl *call) {
	cl.err = nil
	cl.deadline = time.Time{}
	cl.ctx, cl.ctxDone = nil, nil
	cl.watched = false
	cl.msg = cl.msg[:0]
	cl.pkt = cl.pkt[:0]
	c.calls.Put(cl)
}

// register gives cl a request id not in flight and puts it in the slots,
// which it grows to stay at most half full. The id after the last one is
// taken unless its slot is busy, 0 never. Called with mu held.
func (ln *link) register(cl *call) error {
	if ln.npend >= wire.IDMask/2 {
		return errors.New("too many requests in flight")
	}
	if 2*(ln.npend+1) > len(ln.slots) {
		ln.grow()
	}
	mask := uint32(len(ln.slots) - 1)
	for {
		ln.lastID = (ln.lastID + 1) & wire.IDMask
		if ln.lastID != 0 && ln.slots[ln.lastID&mask] == nil {
			break
		}
	}
	cl.id = ln.lastID
	ln.slots[cl.id&mask] = cl
	ln.npend++
	if !cl.deadline.IsZero() && (ln.sweepAt.IsZero() || cl.deadline.Before(ln.sweepAt)) {
		ln.armSweeper(cl.deadline, time.Now())
	}
	if cl.ctxDone != nil {
		ln.watch(cl)
	}
	return nil
}

// watch decides whether cl waits with the link watching its context: if
// the link watches it already, or watches none and saw the context just
// before, with another call. Called with mu held.
func (ln *link) watch(cl *call) {
	switch {
	case cl.ctxDone == ln.watched:
		cl.watched = true
	case ln.watched == nil && cl.ctxDone == ln.seen:
		ln.watched, ln.seen = cl.ctxDone, nil
		ln.stopWatch = context.AfterFunc(cl.ctx, ln.ctxDone)
		cl.watched = true
	default:
		ln.seen = cl.ctxDone
	}
}

// ctxDone fails the calls of the watched context, now done, with
// errCtxDone, and ends the watch.
func (ln *link) ctxDone() {
	var done []*call
	ln.mu.Lock()
	for i, cl := range ln.slots {
		if cl != nil && cl.watched && cl.ctxDone == ln.watched {
			ln.slots[i] = nil
			ln.npend--
			done = append(done, cl)
		}
	}
	ln.watched, ln.stopWatch = nil, nil
	ln.mu.Unlock()
	for _, cl := range done {
		cl.err = errCtxDone
		cl.done <- struct{}{}
	}
}

// grow doubles the slots. Ids in flight stay apart: two ids that differ
// modulo n differ modulo 2n. Called with mu held.
func (ln *link) grow() {
	slots := make([]*call, 2*len(ln.slots))
	mask := uint32(len(slots) - 1)
	for _, cl := range ln.slots {
		if cl != nil {
			slots[cl.id&mask] = cl
		}
	}
	ln.slots = slots
}

// take removes and returns the call waiting for the reply with id, nil if
// none is. Called with mu held.
func (ln *link) take(id uint32) *call {
	if ln.slots == nil {
		return nil
	}
	i := id & uint32(len(ln.slots)-1)
	cl := ln.slots[i]
	if cl == nil || cl.id != id {
		return nil
	}
	ln.slots[i] = nil
	ln.npend--
	return cl
}

// armSweeper makes the sweeper run at deadline. Called with mu held.
func (ln *link) armSweeper(deadline, now time.Time) {
	ln.sweepAt = deadline
	if ln.sweeper == nil {
		ln.sweeper = time.AfterFunc(deadline.Sub(now), ln.sweep)
		return
	}
	ln.sweeper.Reset(deadline.Sub(now))
}

// sweep fails the calls whose deadline passed with errExpired and sets
// the sweeper for the next deadline, if any call waits for one. It runs
// from the sweeper, so that a caller waits only for its reply and its
// context, not for a timer of its own.
func (ln *link) sweep() {
	var expired []*call
	ln.mu.Lock()
	ln.sweepAt = time.Time{}
	if ln.slots == nil {
		ln.mu.Unlock()
		return
	}
	now := time.Now()
	var next time.Time
	for i, cl := range ln.slots {
		if cl == nil || cl.deadline.IsZero() {
			continue
		}
		if !cl.deadline.After(now) {
			ln.slots[i] = nil
			ln.npend--
			expired = append(expired, cl)
			continue
		}
		if next.IsZero() || cl.deadline.Before(next) {
			next = cl.deadline
		}
	}
	if !next.IsZero() {
		ln.armSweeper(later(next, now.Add(sweepSlack)), now)
	}
	ln.mu.Unlock()
	for _, cl := range expired {
		cl.err = errExpired
		cl.done <- struct{}{}
	}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// send registers cl and sends req. On error cl is not registered, and
// notSent tells whether nothing went out because the link was already
// dead. safe tells whether req may be repeated.
func (ln *link) send(cl *call, req *wire.Request, safe bool) (notSent bool, err error) {
	ln.mu.Lock()
	if ln.err != nil {
		err := ln.err
		ln.mu.Unlock()
		return true, err
	}
	if err := ln.register(cl); err != nil {
		ln.mu.Unlock()
		return false, err
	}
	req.ID = cl.id
	if ln.s.stream {
		var start int
		ln.wbuf, start = wire.BeginFrame(ln.wbuf)
		ln.wbuf, _ = wire.AppendRequest(ln.wbuf, req) // sizes checked by the caller
		ln.wbuf = wire.EndFrame(ln.wbuf, start)
		if ln.writing {
			// A write is under way; what it leaves queued goes in the
			// next one.
			ln.mu.Unlock()
			return false, nil
		}
		// Nobody is writing: write now, from this goroutine. First let
		// the callers woken by the same burst of replies run, so that
		// they queue their requests and one write carries them all;
		// alone, the yield returns at once.
		ln.writing = true
		ln.mu.Unlock()
		runtime.Gosched()
		ln.mu.Lock()
		out := ln.wbuf
		ln.wbuf, ln.spare = ln.spare[:0], nil
		ln.mu.Unlock()
		err := ln.t.write(out)
		ln.mu.Lock()
		ln.spare = out[:0]
		more := len(ln.wbuf) > 0
		if !more {
			ln.writing = false
		}
		ln.mu.Unlock()
		if err != nil {
			// cl is pending: fail signals it.
			ln.fail(fmt.Errorf("%w: write: %w", ErrConnLost, err))
		} else if more {
			// Requests queued meanwhile: the writer goroutine writes
			// them, and what comes while it does, so that this caller
			// gets on with waiting for its reply.
			select {
			case ln.wake <- struct{}{}:
			case <-ln.quit:
			}
		}
		return false, nil
	}
	ln.mu.Unlock()
	cl.pkt, _ = wire.AppendRequest(cl.pkt[:0], req)
	err = ln.t.write(cl.pkt)
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, syscall.EMSGSIZE):
		// Larger than a datagram can be: repeating will not help.
		err = fmt.Errorf("%d-byte message does not fit in a datagram: %w (%w)", len(cl.pkt), ErrTooBig, err)
	case ln.s.retry && safe:
		return false, nil // as if lost: it is repeated
	case !ln.s.retry:
		// A reliable transport that cannot send is broken.
		err = fmt.Errorf("%w: write: %w", ErrConnLost, err)
		ln.fail(err)
	}
	if !ln.forget(cl) {
		<-cl.done // a failure (or a reply) got there first; take it
		if cl.err != nil {
			return false, cl.err
		}
	}
	return false, fmt.Errorf("send: %w", err)
}

// forget removes cl from the pending requests and reports whether it was
// still there (and so is now owned by the caller, with no signal coming).
func (ln *link) forget(cl *call) bool {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.slots == nil {
		return false
	}
	i := cl.id & uint32(len(ln.slots)-1)
	if ln.slots[i] == cl {
		ln.slots[i] = nil
		ln.npend--
		return true
	}
	return false
}

// resend repeats a datagram request.
func (ln *link) resend(cl *call) {
	if err := ln.t.write(cl.pkt); err != nil {
		ln.s.c.log.Debug("nmdb: repeat failed", "server", ln.s.name, "err", err)
	}
}

// writeLoop takes over writing from a caller when requests queued up
// during its write, and writes whatever is queued, all of it at once,
// until nothing is.
func (ln *link) writeLoop() {
	var out []byte
	for {
		select {
		case <-ln.wake:
		case <-ln.quit:
			return
		}
		for {
			ln.mu.Lock()
			if len(ln.wbuf) == 0 {
				ln.writing = false
				ln.mu.Unlock()
				break
			}
			out, ln.wbuf = ln.wbuf, out[:0]
			ln.mu.Unlock()
			if err := ln.t.write(out); err != nil {
				ln.fail(fmt.Errorf("%w: write: %w", ErrConnLost, err))
				return
			}
			if cap(out) > 1<<20 {
				out = nil // do not keep a burst's buffer forever
			}
		}
	}
}

// readLoop hands each reply to the call waiting for it.
func (ln *link) readLoop() {
	var r wire.Reply
	errs := 0
	for {
		msg, err := ln.t.readMsg()
		if err != nil {
			if ln.s.retry && errors.Is(err, syscall.ECONNREFUSED) {
				// A lossy datagram socket reporting that an earlier
				// datagram found no server (ICMP port unreachable):
				// the requests concerned are repeated or time out.
				continue
			}
			if !ln.s.retry || isClosed(err) || errs > 100 {
				if errors.Is(err, io.EOF) {
					err = errors.New("closed by server")
				}
				ln.fail(fmt.Errorf("%w: %w", ErrConnLost, err))
				return
			}
			// Some other error on a datagram socket: keep reading
			// unless it persists.
			errs++
			continue
		}
		errs = 0
		if err := wire.DecodeReply(msg, &r); err != nil {
			if ln.s.stream {
				ln.fail(fmt.Errorf("%w: %w", ErrConnLost, err))
				return
			}
			ln.s.c.log.Debug("nmdb: malformed datagram dropped", "server", ln.s.name, "err", err)
			continue
		}
		ln.mu.Lock()
		cl := ln.take(r.ID)
		ln.mu.Unlock()
		if cl == nil {
			continue // a reply to a request given up, or to a repeat
		}
		cl.msg = append(cl.msg[:0], msg...)
		cl.err = nil
		cl.done <- struct{}{}
	}
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)
}

// fail kills the link: the transport is closed and every waiting call
// fails with err.
func (ln *link) fail(err error) {
	ln.mu.Lock()
	if ln.err != nil {
		ln.mu.Unlock()
		return
	}
	ln.err = err
	ln.dead.Store(true)
	pend := ln.slots
	ln.slots = nil
	ln.npend = 0
	if ln.sweeper != nil {
		ln.sweeper.Stop()
		ln.sweepAt = time.Time{}
	}
	if ln.stopWatch != nil {
		ln.stopWatch()
		ln.watched, ln.stopWatch = nil, nil
	}
	ln.seen = nil
	ln.mu.Unlock()
	if ln.quit != nil {
		close(ln.quit)
	}
	ln.t.Close()
	for _, cl := range pend {
		if cl != nil {
			cl.err = err
			cl.done <- struct{}{}
		}
	}
}

// exec sends req to s and waits for the reply. On success the caller must
// putCall the returned call once done with the reply, whose slices alias
// it. ERR replies come back as *ServerError.
func (c *Client) exec(ctx context.Context, s *server, req *wire.Request, safe bool) (*call, wire.Reply, error) {
	var r wire.Reply
	if _, err := wire.RequestSize(req); err != nil {
		return nil, r, fmt.Errorf("nmdb: %v: %w", req.Op, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, r, fmt.Errorf("nmdb: %v on %s: %w", req.Op, s.name, err)
	}
	repeat := safe && s.retry
	cl := c.getCall()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.opts.Timeout)
	}
	if !repeat {
		cl.ctx, cl.ctxDone = ctx, ctx.Done()
		if !ok || cl.ctxDone == nil {
			// No context fires at this deadline: the link's sweeper
			// does.
			cl.deadline = deadline
		}
	}
	var ln *link
	for attempt := 0; ; attempt++ {
		var err error
		ln, err = s.link(ctx)
		if err != nil {
			c.putCall(cl)
			return nil, r, fmt.Errorf("nmdb: %v: %w", req.Op, err)
		}
		notSent, err := ln.send(cl, req, safe)
		if err == nil {
			break
		}
		if notSent && attempt == 0 {
			// The link died after we picked it and nothing was
			// sent: dial again once.
			continue
		}
		c.putCall(cl)
		return nil, r, fmt.Errorf("nmdb: %v on %s: %w", req.Op, s.name, err)
	}
	var err error
	if repeat {
		err = c.waitRepeating(ctx, ln, cl, deadline, req.Op)
	} else {
		err = c.wait(ctx, ln, cl, req.Op)
	}
	if err == nil {
		err = wire.DecodeReply(cl.msg, &r)
	}
	if err != nil {
		c.putCall(cl)
		return nil, r, fmt.Errorf("nmdb: %v on %s: %w", req.Op, s.name, err)
	}
	if r.Code == wire.CodeErr {
		c.putCall(cl)
		return nil, r, &ServerError{Server: s.name, Op: req.Op, Code: r.Err}
	}
	return cl, r, nil
}

// wait waits for the reply to a request that is not repeated: until the
// reply or a failure comes, ctx is done, or the sweeper fails the call at
// its deadline. No timer of its own is needed, nor a select when the link
// watches ctx (see link.watch).
func (c *Client) wait(ctx context.Context, ln *link, cl *call, op wire.Op) error {
	var err error
	if cl.ctxDone == nil || cl.watched {
		<-cl.done
		err = cl.err
	} else {
		select {
		case <-cl.done:
			err = cl.err
		case <-cl.ctxDone:
			err = c.giveUp(ln, cl, errCtxDone)
		}
	}
	switch err {
	case errExpired:
		err = c.timeoutErr(ln, op, false, context.DeadlineExceeded)
	case errCtxDone:
		err = ctx.Err()
		if err == nil {
			// A context whose Done channel closed before its Err
			// says why.
			err = context.Canceled
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = c.timeoutErr(ln, op, false, err)
		}
	}
	return err
}

// waitRepeating waits for cl's reply until deadline, repeating the
// request on the way, at RetryInterval and then twice as long each time up
// to MaxRetryInterval.
func (c *Client) waitRepeating(ctx context.Context, ln *link, cl *call, deadline time.Time, op wire.Op) error {
	const repeat = true
	if cl.timer == nil {
		cl.timer = time.NewTimer(time.Hour)
		cl.timer.Stop()
	}
	interval := c.opts.RetryInterval
	for {
		d := time.Until(deadline)
		if d <= 0 {
			return c.giveUp(ln, cl, c.timeoutErr(ln, op, repeat, context.DeadlineExceeded))
		}
		if interval < d {
			d = interval
		}
		cl.timer.Reset(d)
		select {
		case <-cl.done:
			cl.timer.Stop()
			return cl.err
		case <-ctx.Done():
			cl.timer.Stop()
			err := ctx.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				err = c.timeoutErr(ln, op, repeat, err)
			}
			return c.giveUp(ln, cl, err)
		case <-cl.timer.C:
			if time.Now().Before(deadline) {
				ln.resend(cl)
				interval = min(2*interval, MaxRetryInterval)
			}
		}
	}
}

// timeoutErr explains a call that got no reply in time.
func (c *Client) timeoutErr(ln *link, op wire.Op, repeated bool, err error) error {
	if ln.s.retry && !repeated {
		return fmt.Errorf("no reply before the deadline; a lost %v is not repeated since it is not safe to repeat: %w", op, err)
	}
	return fmt.Errorf("no reply before the deadline: %w", err)
}

// giveUp abandons cl. If a reply or a failure got there first, that is
// the result instead of err.
func (c *Client) giveUp(ln *link, cl *call, err error) error {
	if ln.forget(cl) {
		return err
	}
	<-cl.done
	return cl.err
}

// streamConn is a TCP connection: messages carry a length prefix.
type streamConn struct {
	c  net.Conn
	io streamIO
	r  *bufio.Reader
}

// streamIO reads and writes a stream: Read as io.Reader does (for the
// link's reader), write all of b or fail (for whoever writes).
type streamIO interface {
	Read(p []byte) (int, error)
	write(b []byte) error
}

// netStream is a streamIO through the net package.
type netStream struct {
	c       net.Conn
	timeout time.Duration
}

func (s netStream) Read(p []byte) (int, error) { return s.c.Read(p) }

func (s netStream) write(b []byte) error {
	// A server that stops reading must not hold the writer forever.
	s.c.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.c.Write(b)
	return err
}

func dialTCP(ctx context.Context, ap netip.AddrPort, timeout time.Duration) (transport, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	sio := fastStream(c, timeout)
	return &streamConn{c: c, io: sio, r: bufio.NewReaderSize(sio, wire.TCPPrefix+wire.MaxMessage)}, nil
}

func (t *streamConn) readMsg() ([]byte, error) {
	p, err := t.r.Peek(wire.TCPPrefix)
	if err != nil {
		return nil, err
	}
	n, err := wire.FrameLen(p)
	if err != nil {
		return nil, err
	}
	t.r.Discard(wire.TCPPrefix)
	msg, err := t.r.Peek(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	t.r.Discard(n)
	return msg, nil
}

func (t *streamConn) write(b []byte) error { return t.io.write(b) }

func (t *streamConn) Close() error { return t.c.Close() }

// msgSocket is a socket that keeps message boundaries: each Write sends
// one message to the server, each Read returns one message from it.
type msgSocket interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Close() error
}

// msgConn is a transport over a msgSocket (UDP, SCTP, TIPC): one message
// per request and per reply.
type msgConn struct {
	sock msgSocket
	buf  []byte
}

func newMsgConn(sock msgSocket) *msgConn {
	return &msgConn{sock: sock, buf: make([]byte, wire.MaxMessage+1)}
}

func dialUDP(ap netip.AddrPort) (transport, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, err
	}
	return newMsgConn(c), nil
}

// readMsg returns the next message, skipping any longer than a message
// can be.
func (t *msgConn) readMsg() ([]byte, error) {
	for {
		n, err := t.sock.Read(t.buf)
		if err != nil {
			return nil, err
		}
		if n <= wire.MaxMessage {
			return t.buf[:n], nil
		}
	}
}

func (t *msgConn) write(b []byte) error {
	_, err := t.sock.Write(b)
	return err
}

func (t *msgConn) Close() error { return t.sock.Close() }
