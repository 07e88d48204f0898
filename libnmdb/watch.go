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
