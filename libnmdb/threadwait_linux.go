package libnmdb

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/nmdb-go/nmdb/internal/sockfd"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// maxThreadWait bounds one wait in poll(2): a link failed by another
// goroutine (Close, a failed write) does not wake a thread waiting there,
// which sees it when its wait ends.
const maxThreadWait = 50 * time.Millisecond

// errWouldBlock is what a read that must not wait returns when the socket
// has nothing (more) to read. It matches os.ErrDeadlineExceeded, so that
// readReply passes it on and leaves the link alive.
var errWouldBlock = fmt.Errorf("nothing to read yet: %w", os.ErrDeadlineExceeded)

// threadWait is how a direct call of a client with Options.ThreadWait
// waits for its reply: in poll(2) on the link's socket, on the caller's
// thread (see sockfd.ThreadWait), and then reads without waiting. The
// socket carries no read deadline meanwhile, and so no timer: a timer
// keeps a thread of the runtime waiting in Go's poller, which each reply
// would wake for nothing. One direct call at a time uses it. TCP and UDP
// links have one; the others wait in Go's poller.
type threadWait struct {
	rc syscall.RawConn
	w  sockfd.ThreadWait
	nb *rawRead // datagrams: the read that does not wait
}

// newThreadWait returns the thread wait of t's socket, nil when t has
// none.
func newThreadWait(t transport) *threadWait {
	var rc syscall.RawConn
	var nb *rawRead
	switch t := t.(type) {
	case *streamConn:
		s, ok := t.io.(*rawStream)
		if !ok {
			return nil
		}
		rc = s.rc
	case *msgConn:
		u, ok := t.sock.(*net.UDPConn)
		if !ok {
			return nil
		}
		var err error
		if rc, err = u.SyscallConn(); err != nil {
			return nil
		}
		nb = &rawRead{rc: rc}
		nb.op.NoWait = true
	default:
		return nil
	}
	return &threadWait{rc: rc, nb: nb}
}

// read reads the next reply into r as ln.readReply does, waiting in
// poll(2) until there is something to read, until until or for
// maxThreadWait at most; an error matching os.ErrDeadlineExceeded tells
// that nothing came.
func (tw *threadWait) read(ln *link, r *wire.Reply, until time.Time) ([]byte, error) {
	wait := true
	if s, ok := ln.t.(*streamConn); ok && s.r.Buffered() > 0 {
		wait = false // maybe a whole reply
	}
	for {
		if wait {
			if err := tw.wait(until); err != nil {
				return nil, err
			}
		}
		tw.noWait(ln.t, true)
		msg, err := ln.readReply(r)
		tw.noWait(ln.t, false)
		if err != errWouldBlock {
			if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				// A deadline left on the socket, such as a kick meant
				// for the reader goroutine: this wait wants none.
				ln.t.setReadDeadline(time.Time{})
			}
			return msg, err
		}
		wait = true // nothing, or part of a reply, is in
	}
}

// wait waits in poll(2) for the socket to have something to read, an
// error or a hang-up; it fails with os.ErrDeadlineExceeded when nothing
// came before until or for maxThreadWait.
func (tw *threadWait) wait(until time.Time) error {
	d := time.Until(until)
	if d <= 0 {
		return os.ErrDeadlineExceeded
	}
	ready, err := tw.w.Readable(tw.rc, min(d, maxThreadWait))
	if err == nil && !ready {
		return os.ErrDeadlineExceeded
	}
	return nil // ready, or an error the read reports
}

// noWait makes the reads of t return errWouldBlock rather than wait in
// Go's poller, or wait again.
func (tw *threadWait) noWait(t transport, on bool) {
	switch t := t.(type) {
	case *streamConn:
		t.io.(*rawStream).rop.NoWait = on
	case *msgConn:
		if on {
			t.nb = tw.nb
		} else {
			t.nb = nil
		}
	}
}

// rawRead reads a datagram socket with raw recvfrom(2) calls that never
// wait (see sockfd.Op), for threadWait.
type rawRead struct {
	rc syscall.RawConn
	op sockfd.Op
}

func (r *rawRead) Read(p []byte) (int, error) {
	r.op.Buf = p
	n, err := r.op.Recvfrom(r.rc)
	r.op.Buf = nil
	switch {
	case err == syscall.EAGAIN:
		return 0, errWouldBlock
	case err != nil:
		return 0, sockfd.SyscallError("read", err)
	}
	return n, nil
}
