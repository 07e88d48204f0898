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
	tr    transportKind
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
	ln := &link{s: s, t: t, pending: make(map[uint32]*call)}
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

	mu      sync.Mutex
	pending map[uint32]*call // by request id
	lastID  uint32
	err     error  // why the link died; set once
	wbuf    []byte // streams: framed requests waiting to be written
	spare   []byte // streams: the other buffer of a caller that writes
	writing bool   // streams: a caller or the writer goroutine is writing

	wake chan struct{} // streams: the writer goroutine takes over writing
	quit chan struct{} // streams: closed when the link dies
}

// call is one request waiting for its reply. Calls are pooled by the
// client. Whoever removes a call from its link's pending map owns it:
// the reader and fail signal done once; a caller giving up that removed it
// itself does not wait for a signal.
type call struct {
	done  chan struct{} // capacity 1
	timer *time.Timer
	id    uint32
	msg   []byte // the reply message
	pkt   []byte // datagrams: the encoded request, kept for repeats
	err   error
}

func newCall() *call {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &call{done: make(chan struct{}, 1), timer: t}
}

func (c *Client) getCall() *call { return c.calls.Get().(*call) }

func (c *Client) putCall(cl *call) {
	cl.err = nil
	cl.msg = cl.msg[:0]
	cl.pkt = cl.pkt[:0]
	c.calls.Put(cl)
}

// newID returns an id not in flight. Called with mu held.
func (ln *link) newID() uint32 {
	for {
		ln.lastID = (ln.lastID + 1) & wire.IDMask
		if ln.lastID == 0 {
			continue
		}
		if _, busy := ln.pending[ln.lastID]; !busy {
			return ln.lastID
		}
	}
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
	if len(ln.pending) > wire.IDMask/2 {
		ln.mu.Unlock()
		return false, errors.New("too many requests in flight")
	}
	req.ID = ln.newID()
	cl.id = req.ID
	ln.pending[req.ID] = cl
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
	if ln.pending[cl.id] == cl {
		delete(ln.pending, cl.id)
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
		cl := ln.pending[r.ID]
		if cl != nil {
			delete(ln.pending, r.ID)
		}
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
	pend := ln.pending
	ln.pending = nil
	ln.mu.Unlock()
	if ln.quit != nil {
		close(ln.quit)
	}
	ln.t.Close()
	for _, cl := range pend {
		cl.err = err
		cl.done <- struct{}{}
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
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.opts.Timeout)
	}
	cl := c.getCall()
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
	err := c.wait(ctx, ln, cl, deadline, safe && s.retry, req.Op)
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

// wait waits for cl's reply until deadline, repeating the request on the
// way if repeat is set.
func (c *Client) wait(ctx context.Context, ln *link, cl *call, deadline time.Time, repeat bool, op wire.Op) error {
	interval := c.opts.RetryInterval
	for {
		d := time.Until(deadline)
		if d <= 0 {
			return c.giveUp(ln, cl, c.timeoutErr(ln, op, repeat, context.DeadlineExceeded))
		}
		if repeat && interval < d {
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
			if repeat && time.Now().Before(deadline) {
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
	c       net.Conn
	r       *bufio.Reader
	timeout time.Duration
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
	return &streamConn{c: c, r: bufio.NewReaderSize(c, wire.TCPPrefix+wire.MaxMessage), timeout: timeout}, nil
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

func (t *streamConn) write(b []byte) error {
	// A server that stops reading must not hold the writer forever.
	t.c.SetWriteDeadline(time.Now().Add(t.timeout))
	_, err := t.c.Write(b)
	return err
}

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
