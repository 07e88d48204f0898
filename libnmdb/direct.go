package libnmdb

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// waitAlone waits for the reply to cl, a direct call: one that found
// nothing in flight on its link and so reads the link itself, on its own
// goroutine, as a C client would. A lone request thus costs one write and
// one read, with no other goroutine woken and no timer of its own.
//
// Calls made meanwhile share the link as ever: cl reads their replies too
// and hands each to its caller, and when cl's own reply comes with others
// still in flight, the reader goroutine goes on reading (release).
//
// The socket's read deadline ends the wait: cl's deadline, or the time of
// the next repeat of a datagram. It is set only when it would fire too
// late for cl; a deadline left by an earlier call that fires too early
// costs a wake-up, once per Timeout at most for calls under the default
// timeout. A context that ends is watched by the link (watchAlone), which
// then fails cl and wakes it from its read (kick).
func (c *Client) waitAlone(ctx context.Context, ln *link, cl *call, op wire.Op) error {
	c.direct.Add(1)
	var r wire.Reply
	var next time.Time // when a datagram is repeated
	interval := c.opts.RetryInterval
	if cl.repeat {
		next = time.Now().Add(interval)
	}
	for {
		wake := cl.until
		if cl.repeat && next.Before(wake) {
			wake = next
		}
		if ln.rdl.IsZero() || ln.rdl.After(wake) {
			ln.rdl = wake
			ln.t.setReadDeadline(wake)
		}
		msg, err := ln.readReply(&r)
		switch {
		case err == nil:
			ln.mu.Lock()
			got := ln.take(r.ID)
			ln.mu.Unlock()
			if got == cl {
				cl.msg = append(cl.msg[:0], msg...)
				ln.release()
				return nil
			}
			if got != nil {
				deliver(got, msg)
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			// cl's deadline, a repeat, a deadline an earlier call left
			// or a wake-up: the deadline the socket has is unknown.
			ln.rdl = time.Time{}
			now := time.Now()
			if !now.Before(cl.until) {
				err := c.timeoutErr(ln.s, op, cl.repeat, context.DeadlineExceeded)
				if !ln.forget(cl) {
					<-cl.done // failed, or answered, just now
					err = c.callErr(ctx, ln, op, cl.repeat, cl.err)
				}
				ln.release()
				return err
			}
			if cl.repeat && !now.Before(next) {
				ln.resend(cl)
				interval = min(2*interval, MaxRetryInterval)
				next = now.Add(interval)
			}
		default:
			// The link failed: fail signals cl.
			<-cl.done
			ln.release()
			return c.callErr(ctx, ln, op, cl.repeat, cl.err)
		}
		// cl's context ended, or the link failed: either took cl
		// from the slots and signals it.
		select {
		case <-cl.done:
			ln.release()
			return c.callErr(ctx, ln, op, cl.repeat, cl.err)
		default:
		}
	}
}
