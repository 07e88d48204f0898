package libnmdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nmdb-go/nmdb/nmdb/wire"
	"github.com/nmdb-go/nmdb/tipc"
)

// Blocking connections (Options.ThreadWait) are how a call of a caller
// bound to its thread, such as a C thread in the C library, costs what a
// classic C client's call costs: one send(2) and one recv(2) on a socket
// in blocking mode, made on the caller's own thread. Nothing else runs
// for it: no poll(2) before the read, no other goroutine, no timer.
//
// A blocking connection carries one request at a time. A call takes an
// idle one of its server, or connects a new one up to
// Options.LinksPerServer, and gives it back when its reply is in; when
// all are in use, the call shares the server's multiplexed link as any
// other. Sockets in blocking mode are not in Go's poller: the wait is a
// system call the runtime sees as one, and the socket's receive timeout
// (SO_RCVTIMEO, blockSlice) ends a wait that goes on so that the call can
// look at its deadline, or repeat a datagram.
//
// A connection whose call failed in a way that may leave a reply in
// flight (a timeout on a stream, a broken frame) is closed, never reused.
//
// A caller bound to its thread, such as a C thread calling into Go, keeps
// its goroutine, and the P the goroutine runs on, from one call to the
// next: the runtime never schedules it anew, so its monitor thread
// (sysmon) takes it for a goroutine running for over 10 ms, takes the P
// away, and then wakes every 20 us for a while. Such a caller must yield
// its P (runtime.Gosched) every few milliseconds, per thread; the C
// library does so (YIELD_NS in cgo/shim/nmdb.c).

// blockSlice is the longest a blocking read waits before its caller
// looks at the call's deadline again.
const blockSlice = 50 * time.Millisecond

// blockPool holds the blocking connections of one server.
type blockPool struct {
	s *server
	// How to make a socket for the server, and where it goes: connected
	// to peer (TCP, UDP), or sending each request to to (TIPC).
	family, typ int
	peer, to    unix.Sockaddr
	mu          sync.Mutex
	idle        []*blockConn
	open        int    // connections open, idle or in use
	calls       uint64 // calls made on them, for tests
	shut        bool
}

// blockConn is one connection (TCP), connected socket (UDP) or socket
// (TIPC) in blocking mode.
type blockConn struct {
	fd   int
	to   unix.Sockaddr // the server's address, for a socket not connected
	id   uint32        // the last request id sent
	wbuf []byte        // the request being sent
	rbuf []byte        // the reply being read; TCP: with its prefix
}

// newBlockPool returns the pool of blocking connections of s, nil when
// its transport has none.
func newBlockPool(s *server, ap netip.AddrPort) *blockPool {
	p := &blockPool{s: s, family: unix.AF_INET, typ: unix.SOCK_DGRAM}
	switch s.tr {
	case wire.TCP, wire.UDP:
		if ip := ap.Addr(); ip.Is4() {
			p.peer = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
		} else {
			p.family = unix.AF_INET6
			p.peer = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
		}
		if s.tr == wire.TCP {
			p.typ = unix.SOCK_STREAM
		}
	case wire.TIPC:
		p.family, p.typ = unix.AF_TIPC, unix.SOCK_RDM
		a := tipc.ServiceAddr(s.port)
		p.to = &unix.SockaddrTIPC{Scope: unix.TIPC_CLUSTER_SCOPE, Addr: &unix.TIPCServiceRange{Type: a.Type, Lower: a.Lower, Upper: a.Upper}}
	default:
		return nil // SCTP: one-to-many sockets, which bring notifications
	}
	return p
}

// get returns an idle connection, or a new one while fewer than
// Options.LinksPerServer are open; nil, nil when that many are in use.
func (p *blockPool) get(until time.Time) (*blockConn, error) {
	p.mu.Lock()
	if p.shut {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		bc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return bc, nil
	}
	if p.open >= p.s.c.opts.LinksPerServer {
		p.mu.Unlock()
		return nil, nil
	}
	p.open++
	p.mu.Unlock()
	bc, err := p.dial(until)
	if err != nil {
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		return nil, fmt.Errorf("connect to %s: %w", p.s.name, err)
	}
	return bc, nil
}

// put gives back a connection whose call is done with it. It and drop
// count the call under the lock they take anyway: a counter the client's
// calls all wrote would be a cache line that threads sharing a handle
// pass around on every call.
func (p *blockPool) put(bc *blockConn) {
	p.mu.Lock()
	p.calls++
	if !p.shut {
		p.idle = append(p.idle, bc)
		p.mu.Unlock()
		return
	}
	p.open--
	p.mu.Unlock()
	unix.Close(bc.fd)
}

// drop closes a connection that must not be used again.
func (p *blockPool) drop(bc *blockConn) {
	unix.Close(bc.fd)
	p.mu.Lock()
	p.calls++
	p.open--
	p.mu.Unlock()
}

// callCount returns how many calls were made on the pool's connections.
func (p *blockPool) callCount() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// close closes the idle connections, and those in use as they come back.
func (p *blockPool) close() {
	p.mu.Lock()
	p.shut = true
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	p.mu.Unlock()
	for _, bc := range idle {
		unix.Close(bc.fd)
	}
}

// dial connects a socket in blocking mode, giving up at until.
func (p *blockPool) dial(until time.Time) (*blockConn, error) {
	fd, err := unix.Socket(p.family, p.typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		err = os.NewSyscallError("socket", err)
		if p.family == unix.AF_TIPC && errors.Is(err, unix.EAFNOSUPPORT) {
			err = fmt.Errorf("%w: %w", tipc.ErrUnsupported, err)
		}
		return nil, err
	}
	if err := p.setup(fd, until); err != nil {
		unix.Close(fd)
		return nil, err
	}
	size := wire.MaxMessage
	if p.typ == unix.SOCK_STREAM {
		size += wire.TCPPrefix
	} else {
		size++ // so that a datagram too long shows
	}
	return &blockConn{fd: fd, to: cloneSockaddr(p.to), rbuf: make([]byte, size)}, nil
}

// setup connects the new socket fd, when the server has an address to
// connect to, by until, and sets its options.
func (p *blockPool) setup(fd int, until time.Time) error {
	d := time.Until(until)
	if d <= 0 {
		return os.ErrDeadlineExceeded
	}
	// A blocking connect waits at most the send timeout.
	if err := setTimeout(fd, unix.SO_SNDTIMEO, d); err != nil {
		return err
	}
	if peer := cloneSockaddr(p.peer); peer != nil {
		err := unix.Connect(fd, peer)
		for err == unix.EINTR {
			err = unix.Connect(fd, peer)
		}
		switch {
		case err == unix.EINPROGRESS || err == unix.EAGAIN:
			return &net.OpError{Op: "dial", Net: p.s.tr.String(), Addr: p.s.netAddr(), Err: os.ErrDeadlineExceeded}
		case err != nil:
			return &net.OpError{Op: "dial", Net: p.s.tr.String(), Addr: p.s.netAddr(), Err: os.NewSyscallError("connect", err)}
		}
	}
	if p.typ == unix.SOCK_STREAM {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return os.NewSyscallError("setsockopt TCP_NODELAY", err)
		}
	}
	// A server that stops reading holds a sender for the client's timeout
	// at most; a read waits a slice at most before its caller looks at
	// the deadline, or repeats a datagram.
	if err := setTimeout(fd, unix.SO_SNDTIMEO, p.s.c.opts.Timeout); err != nil {
		return err
	}
	slice := blockSlice
	if p.s.retry {
		slice = min(slice, p.s.c.opts.RetryInterval)
	}
	return setTimeout(fd, unix.SO_RCVTIMEO, slice)
}

// cloneSockaddr returns a copy of sa: a unix.Sockaddr encodes itself into
// a field of its own when used, so callers in parallel need one each.
func cloneSockaddr(sa unix.Sockaddr) unix.Sockaddr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		c := *sa
		return &c
	case *unix.SockaddrInet6:
		c := *sa
		return &c
	case *unix.SockaddrTIPC:
		c := *sa
		return &c
	}
	return nil
}

// setTimeout sets the socket timeout opt (SO_SNDTIMEO, SO_RCVTIMEO) of
// fd to d, a millisecond at least.
func setTimeout(fd, opt int, d time.Duration) error {
	tv := unix.NsecToTimeval(max(d, time.Millisecond).Nanoseconds())
	return os.NewSyscallError("setsockopt", unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv))
}

// execBlocking is exec on a blocking connection of s: it sends req and
// reads the reply on the calling thread, until until. It returns handled
// false, doing nothing, when all of s's blocking
// connections are in use.
// Otherwise cl is the call holding the reply, for exec's result, which
// also reports err.
func (c *Client) execBlocking(s *server, req *wire.Request, safe bool, until time.Time) (cl *call, handled bool, err error) {
	bc, err := s.blk.get(until)
	if bc == nil && err == nil {
		return nil, false, nil
	}
	cl = c.getCall()
	if err != nil {
		return cl, true, err
	}
	msg, err := bc.roundTrip(s, req, safe, until)
	// Copied before the connection goes back: msg is in its buffer,
	// which its next caller reads into.
	cl.msg = append(cl.msg[:0], msg...)
	var r wire.Reply
	switch {
	case err == nil && s.stream && wire.DecodeReply(cl.msg, &r) != nil:
		// Not a reply (exec's result says so): the stream cannot be
		// trusted any more.
		s.blk.drop(bc)
	case err == nil:
		s.blk.put(bc)
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = c.timeoutErr(s, req.Op, s.retry && safe, context.DeadlineExceeded)
		if s.stream {
			s.blk.drop(bc) // the reply may still come
		} else {
			s.blk.put(bc) // a late reply is told apart by its id
		}
	default:
		s.blk.drop(bc)
	}
	return cl, true, err
}

// roundTrip sends req and returns the reply's message, valid until the
// next call. An error matching os.ErrDeadlineExceeded tells that no reply
// came before until.
func (bc *blockConn) roundTrip(s *server, req *wire.Request, safe bool, until time.Time) ([]byte, error) {
	bc.id = (bc.id + 1) & wire.IDMask
	if bc.id == 0 {
		bc.id = 1
	}
	req.ID = bc.id
	var start int
	b := bc.wbuf[:0]
	if s.stream {
		b, start = wire.BeginFrame(b)
	}
	b, err := wire.AppendRequest(b, req)
	if err != nil {
		return nil, err
	}
	if s.stream {
		b = wire.EndFrame(b, start)
	}
	bc.wbuf = b
	if err := bc.send(s, safe); err != nil {
		return nil, err
	}
	if s.stream {
		return bc.readFrame(until)
	}
	return bc.readDatagram(s, safe, until)
}

// send sends the request in wbuf, all of it; safe tells whether a
// datagram may be repeated, and so counts as lost if it cannot be sent.
func (bc *blockConn) send(s *server, safe bool) error {
	b := bc.wbuf
	for len(b) > 0 {
		n, err := sendNoSignal(bc.fd, b, bc.to)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return fmt.Errorf("%w: write: %w", ErrConnLost, os.ErrDeadlineExceeded)
		case err == unix.EMSGSIZE:
			return fmt.Errorf("%d-byte message does not fit in a datagram: %w (%w)", len(bc.wbuf), ErrTooBig, os.NewSyscallError("sendto", err))
		case err != nil && s.retry && safe:
			// Lost, as far as the caller can tell: it is repeated or
			// times out.
			return nil
		case err != nil && s.retry:
			return fmt.Errorf("send: %w", os.NewSyscallError("sendto", err))
		case err != nil:
			return fmt.Errorf("%w: write: %w", ErrConnLost, os.NewSyscallError("sendto", err))
		}
		b = b[n:]
	}
	return nil
}

// readFrame reads the reply to the request just sent on a stream. One
// read takes the whole reply as a rule: nothing else can come on the
// connection, so it reads as much as the buffer holds.
func (bc *blockConn) readFrame(until time.Time) ([]byte, error) {
	have, want := 0, 0
	for want == 0 || have < want {
		n, err := recv(bc.fd, bc.rbuf[have:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			if !time.Now().Before(until) {
				return nil, os.ErrDeadlineExceeded
			}
			continue
		case err != nil:
			return nil, fmt.Errorf("%w: read: %w", ErrConnLost, os.NewSyscallError("read", err))
		case n == 0:
			return nil, fmt.Errorf("%w: closed by server", ErrConnLost)
		}
		have += n
		if want == 0 && have >= wire.TCPPrefix {
			m, err := wire.FrameLen(bc.rbuf[:wire.TCPPrefix])
			if err != nil {
				// "HTTP", "SSH-" read as a length: the peer speaks
				// something else (as streamConn.readMsg says).
				return nil, fmt.Errorf("%w: %w", ErrConnLost, ErrNotNMDB)
			}
			want = wire.TCPPrefix + m
		}
	}
	msg := bc.rbuf[wire.TCPPrefix:want]
	if have > want || wire.MessageID(msg) != bc.id {
		return nil, fmt.Errorf("%w: %d bytes for a reply of %d; reply %d to request %d", ErrConnLost, have, want, wire.MessageID(msg), bc.id)
	}
	return msg, nil
}

// readDatagram reads the reply to the request just sent on a datagram
// socket, repeating the request on the way when safe.
func (bc *blockConn) readDatagram(s *server, safe bool, until time.Time) ([]byte, error) {
	interval := s.c.opts.RetryInterval
	next := time.Now().Add(interval)
	errs := 0
	for {
		n, err := recv(bc.fd, bc.rbuf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			now := time.Now()
			if !now.Before(until) {
				return nil, os.ErrDeadlineExceeded
			}
			if safe && !now.Before(next) {
				bc.send(s, true)
				interval = min(2*interval, MaxRetryInterval)
				next = now.Add(interval)
			}
			continue
		case err == unix.ECONNREFUSED:
			// An earlier datagram found no server: the request is
			// repeated or times out.
			continue
		case err != nil:
			if errs++; errs > 100 {
				return nil, fmt.Errorf("%w: read: %w", ErrConnLost, os.NewSyscallError("read", err))
			}
			continue
		case n > wire.MaxMessage:
			continue
		}
		msg := bc.rbuf[:n]
		if len(msg) < wire.HeaderSize || wire.MessageID(msg) != bc.id {
			continue // a late reply to an earlier request, or noise
		}
		return msg, nil
	}
}

// sendNoSignal is send(2) with MSG_NOSIGNAL, to to unless it is nil: a
// peer gone is an error (EPIPE), not a SIGPIPE that would kill a C
// program.
func sendNoSignal(fd int, b []byte, to unix.Sockaddr) (int, error) {
	if to != nil {
		// Whole datagrams: all or nothing.
		if err := unix.Sendto(fd, b, unix.MSG_NOSIGNAL, to); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), unix.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// recv is recv(2) of fd into b: on a socket, the same as read(2) but for
// the file layer that read goes through first.
func recv(fd int, b []byte) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
