package libnmdb

import (
	"context"
	"errors"
)

// errCtxDone is how a link fails a call whose context, which the link
// watches, is done; the caller turns it into the error it reports.
var errCtxDone = errors.New("context done")

// watch decides whether cl waits with the link watching its context: if
// the link watches it already, or watches none and saw the context just
// before, with another call. Called with mu held.
func (ln *link) watch(cl *call) {
	switch {
	case cl.ctxDone == ln.watched:
		cl.watched = true
	case ln.watched == nil && cl.ctxDone == ln.seen:
		ln.watched, ln.seen = cl.ctxDone, nil
		ln.stopWatch = ln.afterDone(cl.ctx, cl.ctxDone)
		cl.watched = true
	default:
		ln.seen = cl.ctxDone
	}
}

// watchAlone makes the link watch the context of cl, a direct call,
// which blocks in a read and cannot select on the context's channel.
// There is no other call in flight, so a watch of another context can
// end. Called with mu held.
func (ln *link) watchAlone(cl *call) {
	if ln.watched != cl.ctxDone {
		if ln.stopWatch != nil {
			ln.stopWatch()
		}
		ln.watched, ln.seen = cl.ctxDone, nil
		ln.stopWatch = ln.afterDone(cl.ctx, cl.ctxDone)
	}
	cl.watched = true
}

// afterDone runs ctxDone for done, the Done channel of ctx, when ctx is
// done, and returns what stops it.
func (ln *link) afterDone(ctx context.Context, done <-chan struct{}) func() bool {
	return context.AfterFunc(ctx, func() { ln.ctxDone(done) })
}

// ctxDone fails the calls of the context whose Done channel is done, now
// closed, with errCtxDone, ends the watch of it, and wakes a direct call
// among them, or the reader goroutine left with nothing to read, from
// its read.
func (ln *link) ctxDone(done <-chan struct{}) {
	var failed []*call
	kick := false
	ln.mu.Lock()
	for i, cl := range ln.slots {
		if cl != nil && cl.watched && cl.ctxDone == done {
			ln.slots[i] = nil
			ln.npend--
			failed = append(failed, cl)
			kick = kick || cl.direct
		}
	}
	if ln.watched == done {
		ln.watched, ln.stopWatch = nil, nil
	}
	kick = kick || ln.idleLoop()
	ln.mu.Unlock()
	for _, cl := range failed {
		cl.err = errCtxDone
		cl.done <- struct{}{}
	}
	if kick {
		ln.kick()
	}
}
