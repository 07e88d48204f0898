package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
	"github.com/nmdb-go/nmdb/tipc"
)

// maxTries is how many times a catch-up request is sent before the
// catch-up gives up (the active is then most likely gone, which the
// topology service reports too).
const maxTries = 8

// refetchRounds bounds how often a key changed live by cas or incr is
// fetched again while such changes keep coming.
const refetchRounds = 5

// copier asks one server for keys and values over its own TIPC socket.
type copier struct {
	ctx     context.Context
	c       *tipc.Conn
	to      tipc.Addr
	timeout time.Duration
	id      uint32
	out     []byte
	buf     []byte
}

// copyFrom copies the database of the active server at from into this
// server's through cu: every key the active has (walked with firstkey and
// nextkey, read with get), then the keys changed live by cas or incr meanwhile
// fetched again, then this server's keys that the active lacks deleted.
func (n *Node) copyFrom(ctx context.Context, from tipc.Addr, cu *nmdb.CatchUp) error {
	c, err := tipc.Dial()
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	cp := &copier{ctx: ctx, c: c, to: from, timeout: n.cfg.RequestTimeout, buf: make([]byte, tipc.MaxMessage+1)}

	seen := make(map[string]struct{})
	var key []byte
	first := true
	for {
		next, found, err := cp.key(key, first)
		if err != nil {
			return err
		}
		if !found {
			break
		}
		seen[string(next)] = struct{}{}
		val, found, err := cp.get(next)
		if err != nil {
			return err
		}
		if found {
			if _, err := cu.Copy(next, val); err != nil {
				return err
			}
		}
		key, first = next, false
	}

	for round := 0; round < refetchRounds; round++ {
		rel := cu.Relative()
		again := false
		for k, count := range rel {
			val, found, err := cp.get([]byte(k))
			if err != nil {
				return err
			}
			var stored bool
			if found {
				stored, err = cu.CopyAfter([]byte(k), val, count)
			} else {
				stored, err = cu.DeleteAfter([]byte(k), count)
			}
			if err != nil {
				return err
			}
			if !stored && cu.Relative()[k] != count {
				again = true
			}
		}
		if !again {
			break
		}
	}

	var extra [][]byte
	err = cu.LocalKeys(func(k []byte) error {
		if _, ok := seen[string(k)]; !ok {
			extra = append(extra, append([]byte(nil), k...))
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	for _, k := range extra {
		if _, err := cu.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// key returns the first key, or the key after the given one.
func (cp *copier) key(after []byte, first bool) ([]byte, bool, error) {
	r := wire.Request{Op: wire.OpNextKey, Key: after}
	if first {
		r = wire.Request{Op: wire.OpFirstKey}
	}
	rep, err := cp.call(&r)
	if err != nil {
		return nil, false, err
	}
	switch rep.Code {
	case wire.CodeOK:
		return append([]byte(nil), rep.Val...), true, nil
	case wire.CodeNotIn:
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("cluster: catch-up: %v answered %v to %v", &cp.to, rep.Code, r.Op)
}

// get returns key's value on the other server.
func (cp *copier) get(key []byte) ([]byte, bool, error) {
	r := wire.Request{Op: wire.OpGet, Key: key}
	rep, err := cp.call(&r)
	if err != nil {
		return nil, false, err
	}
	switch rep.Code {
	case wire.CodeOK, wire.CodeCacheHit:
		return append([]byte{}, rep.Val...), true, nil
	case wire.CodeNotIn:
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("cluster: catch-up: %v answered %v to get", &cp.to, rep.Code)
}

// call sends r and waits for its reply, sending it again after each
// timeout (every request it sends is safe to repeat).
func (cp *copier) call(r *wire.Request) (wire.Reply, error) {
	cp.id = (cp.id + 1) & wire.IDMask
	r.ID = cp.id
	var err error
	cp.out, err = wire.AppendRequest(cp.out[:0], r)
	if err != nil {
		return wire.Reply{}, fmt.Errorf("cluster: catch-up: %w", err)
	}
	for try := 0; try < maxTries; try++ {
		if err := cp.ctx.Err(); err != nil {
			return wire.Reply{}, err
		}
		if _, err := cp.c.WriteToTIPC(cp.out, &cp.to); err != nil {
			return wire.Reply{}, fmt.Errorf("cluster: catch-up: %w", err)
		}
		if err := cp.c.SetReadDeadline(time.Now().Add(cp.timeout)); err != nil {
			return wire.Reply{}, err
		}
		for {
			n, err := cp.c.ReadFromTIPC(cp.buf, nil)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return wire.Reply{}, fmt.Errorf("cluster: catch-up: %w", err)
			}
			var rep wire.Reply
			if wire.DecodeReply(cp.buf[:n], &rep) != nil || rep.ID != cp.id {
				continue // a late reply to an earlier try
			}
			if rep.Code == wire.CodeErr {
				return wire.Reply{}, fmt.Errorf("cluster: catch-up: %v answered ERR %v to %v", &cp.to, rep.Err, r.Op)
			}
			return rep, nil
		}
	}
	return wire.Reply{}, fmt.Errorf("cluster: catch-up: no reply from %v to %v after %d tries", &cp.to, r.Op, maxTries)
}

// termAnswer is what an active said its term is.
type termAnswer struct {
	from tipc.Addr
	term uint64
	err  error
}

// askTerm asks the server at addr for its statistics and returns its term
// (0 for a server without one).
func askTerm(done <-chan struct{}, addr tipc.Addr, timeout time.Duration) (uint64, error) {
	c, err := tipc.Dial()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	cp := &copier{ctx: ctx, c: c, to: addr, timeout: timeout, buf: make([]byte, tipc.MaxMessage+1)}
	rep, err := cp.call(&wire.Request{Op: wire.OpStats})
	if err != nil {
		return 0, err
	}
	if rep.Code != wire.CodeOK {
		return 0, fmt.Errorf("cluster: %v answered %v to stats", &addr, rep.Code)
	}
	counters, err := rep.Counters(nil)
	if err != nil {
		return 0, fmt.Errorf("cluster: stats of %v: %w", &addr, err)
	}
	if len(counters) <= wire.StatTerm {
		return 0, nil
	}
	return counters[wire.StatTerm], nil
}
