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
		ln.sendStream(req) // unlocks mu
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
				ln.fail(fmt.Errorf("%w: %w (%w)", ErrConnLost, ErrNotNMDB, err))
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
