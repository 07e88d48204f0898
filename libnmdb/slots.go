package libnmdb

import (
	"context"
	"errors"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// call is one request waiting for its reply. Calls are pooled by the
// client. Whoever removes a call from its link's slots owns it: the
// reader, the sweeper, ctxDone and fail signal done once; a caller that
// removed it itself (a caller reading its own reply, or giving up) does
// not wait for a signal.
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
	// direct tells that the call found nothing in flight and reads the
	// link itself (see waitAlone), until until; repeat that it repeats
	// its datagram on the way.
	direct bool
	repeat bool
	until  time.Time
	msg    []byte // the reply message
	pkt    []byte // datagrams: the encoded request, kept for repeats
	err    error
}

func newCall() *call {
	return &call{done: make(chan struct{}, 1)}
}

func (c *Client) getCall() *call { return c.calls.Get().(*call) }

func (c *Client) putCall(cl *call) {
	cl.err = nil
	cl.deadline = time.Time{}
	cl.ctx, cl.ctxDone = nil, nil
	cl.watched, cl.direct, cl.repeat = false, false, false
	cl.until = time.Time{}
	cl.msg = cl.msg[:0]
	cl.pkt = cl.pkt[:0]
	c.calls.Put(cl)
}

// register gives cl a request id not in flight and puts it in the slots,
// which it grows to stay at most half full. The id after the last one is
// taken unless its slot is busy, 0 never. A call that finds nobody
// reading the link becomes its reader (direct); the others wait to be
// handed their reply. Called with mu held.
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
	if !ln.reading {
		// Nobody reads, so nothing else is in flight: the call reads
		// its reply itself, and the socket's read deadline, not the
		// sweeper, ends its wait.
		ln.reading = true
		cl.direct = true
		cl.deadline = time.Time{}
		if cl.ctx != nil {
			if cl.ctxDone = cl.ctx.Done(); cl.ctxDone != nil {
				ln.watchAlone(cl)
			}
		}
		return nil
	}
	if !cl.deadline.IsZero() && (ln.sweepAt.IsZero() || cl.deadline.Before(ln.sweepAt)) {
		ln.armSweeper(cl.deadline, time.Now())
	}
	if cl.ctxDone != nil {
		ln.watch(cl)
	}
	return nil
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

// forget removes cl from the pending requests and reports whether it was
// still there (and so is now owned by the caller, with no signal coming).
func (ln *link) forget(cl *call) bool {
	ln.mu.Lock()
	if ln.slots == nil {
		ln.mu.Unlock()
		return false
	}
	i := cl.id & uint32(len(ln.slots)-1)
	if ln.slots[i] != cl {
		ln.mu.Unlock()
		return false
	}
	ln.slots[i] = nil
	ln.npend--
	idle := ln.idleLoop()
	ln.mu.Unlock()
	if idle {
		ln.kick()
	}
	return true
}
