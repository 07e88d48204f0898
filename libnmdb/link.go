package libnmdb

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// link is one connection (or datagram socket) to a server and the
// requests waiting for replies on it.
type link struct {
	s    *server
	t    transport
	dead atomic.Bool
	// users counts the calls that picked the link, with more than one
	// link per server (see server.pick).
	users atomic.Int32

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
	quit chan struct{} // closed when the link dies

	// One goroutine at a time reads the link: a direct call (one that
	// found nothing in flight) reading its own reply, or the reader
	// goroutine when calls are left in flight. reading tells whether one
	// does, under mu; nothing is in flight while none does.
	reading   bool
	loopReads bool          // the reader goroutine reads; under mu
	rwake     chan struct{} // the reader goroutine takes over reading
	rdl       time.Time     // the read deadline as the reader last set it

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
		ln.sendStream(req, !cl.direct) // unlocks mu
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
	forgot := ln.forget(cl)
	if cl.direct {
		ln.release()
	}
	if !forgot {
		<-cl.done // a failure (or a reply) got there first; take it
		if cl.err != nil {
			return false, cl.err
		}
	}
	return false, fmt.Errorf("send: %w", err)
}

// readReply reads the next reply into r and returns its message, valid
// until the next read. It skips what a datagram socket may bring that is
// not a reply. It returns an error matching os.ErrDeadlineExceeded when
// the read deadline passes, the link still alive; any other error has
// failed the link.
func (ln *link) readReply(r *wire.Reply) ([]byte, error) {
	errs := 0
	for {
		msg, err := ln.t.readMsg()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, err
			}
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
				err = fmt.Errorf("%w: %w", ErrConnLost, err)
				ln.fail(err)
				return nil, err
			}
			// Some other error on a datagram socket: keep reading
			// unless it persists.
			errs++
			continue
		}
		errs = 0
		if err := wire.DecodeReply(msg, r); err != nil {
			if ln.s.stream {
				err = fmt.Errorf("%w: %w (%w)", ErrConnLost, ErrNotNMDB, err)
				ln.fail(err)
				return nil, err
			}
			ln.s.c.log.Debug("nmdb: malformed datagram dropped", "server", ln.s.name, "err", err)
			continue
		}
		return msg, nil
	}
}

// deliver hands msg, the reply to cl, which the reader took from the
// slots, to the caller waiting for it.
func deliver(cl *call, msg []byte) {
	cl.msg = append(cl.msg[:0], msg...)
	cl.err = nil
	cl.done <- struct{}{}
}

// readLoop reads the link when a direct call got its reply with other
// calls still in flight (see release): it hands each reply to the call
// waiting for it until none is left.
func (ln *link) readLoop() {
	var r wire.Reply
	for {
		select {
		case <-ln.rwake:
		case <-ln.quit:
			return
		}
		for {
			msg, err := ln.readReply(&r)
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					return // the link failed
				}
				// A deadline a direct call left, or a wake-up meant
				// for one: read on without a deadline.
				ln.rdl = time.Time{}
				ln.t.setReadDeadline(ln.rdl)
			}
			var cl *call
			ln.mu.Lock()
			if err == nil {
				cl = ln.take(r.ID)
			}
			idle := ln.npend == 0
			if idle {
				ln.loopReads = false
				if cl != nil {
					// The next reader may reuse the buffer msg is in.
					cl.msg = append(cl.msg[:0], msg...)
				}
				ln.reading = false
			}
			ln.mu.Unlock()
			switch {
			case cl != nil && idle:
				cl.err = nil
				cl.done <- struct{}{}
			case cl != nil:
				deliver(cl, msg)
			}
			if idle {
				break
			}
		}
	}
}

// release gives up the reading of the link, once a direct call is done
// with it: to the reader goroutine if calls are in flight, else to the
// next call.
func (ln *link) release() {
	ln.mu.Lock()
	if ln.npend == 0 || ln.slots == nil {
		ln.reading = false
		ln.mu.Unlock()
		return
	}
	ln.loopReads = true
	ln.mu.Unlock()
	ln.s.c.handoffs.Add(1)
	select {
	case ln.rwake <- struct{}{}:
	default: // a link without a reader goroutine (tests)
	}
}

// aLongTimeAgo is a read deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// kick wakes whoever reads the link from a blocked read: the read fails
// with a passed deadline, and the reader looks why.
func (ln *link) kick() {
	ln.t.setReadDeadline(aLongTimeAgo)
}

// idleLoop tells whether the reader goroutine reads the link for calls
// that are all gone (given up, timed out): it then needs a kick to give
// the reading back, since no reply will wake it. Called with mu held.
func (ln *link) idleLoop() bool {
	return ln.npend == 0 && ln.loopReads && ln.slots != nil
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
