package libnmdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// resend repeats a datagram request.
func (ln *link) resend(cl *call) {
	if err := ln.t.write(cl.pkt); err != nil {
		ln.s.c.log.Debug("nmdb: repeat failed", "server", ln.s.name, "err", err)
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
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.opts.Timeout)
	}
	cl := c.getCall()
	cl.ctx, cl.until, cl.repeat = ctx, deadline, repeat
	if !repeat {
		cl.ctxDone = ctx.Done()
		if !ok || cl.ctxDone == nil {
			// No context fires at this deadline: the link's sweeper
			// does.
			cl.deadline = deadline
		}
	}
	var ln *link
	for attempt := 0; ; attempt++ {
		var err error
		ln, err = s.pick(ctx)
		if err != nil {
			c.putCall(cl)
			return nil, r, fmt.Errorf("nmdb: %v: %w", req.Op, err)
		}
		notSent, err := ln.send(cl, req, safe)
		if err == nil {
			break
		}
		s.unpick(ln)
		if notSent && attempt == 0 {
			// The link died after we picked it and nothing was
			// sent: dial again once.
			continue
		}
		c.putCall(cl)
		return nil, r, fmt.Errorf("nmdb: %v on %s: %w", req.Op, s.name, err)
	}
	var err error
	switch {
	case cl.direct:
		err = c.waitAlone(ctx, ln, cl, req.Op)
	case repeat:
		err = c.waitRepeating(ctx, ln, cl, deadline, req.Op)
	default:
		err = c.wait(ctx, ln, cl, req.Op)
	}
	s.unpick(ln)
	return c.result(s, req, cl, r, err)
}

// result decodes the reply to req in cl, or reports err, how the call
// failed.
func (c *Client) result(s *server, req *wire.Request, cl *call, r wire.Reply, err error) (*call, wire.Reply, error) {
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
	return c.callErr(ctx, ln, op, false, err)
}

// callErr turns how a call was failed into the error it reports;
// repeated tells whether the call repeated its request.
func (c *Client) callErr(ctx context.Context, ln *link, op wire.Op, repeated bool, err error) error {
	switch err {
	case errExpired:
		err = c.timeoutErr(ln.s, op, repeated, context.DeadlineExceeded)
	case errCtxDone:
		err = ctx.Err()
		if err == nil {
			// A context whose Done channel closed before its Err
			// says why.
			err = context.Canceled
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = c.timeoutErr(ln.s, op, repeated, err)
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
			return c.giveUp(ln, cl, c.timeoutErr(ln.s, op, repeat, context.DeadlineExceeded))
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
				err = c.timeoutErr(ln.s, op, repeat, err)
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

// timeoutErr explains a call to s that got no reply in time.
func (c *Client) timeoutErr(s *server, op wire.Op, repeated bool, err error) error {
	if s.retry && !repeated {
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
