package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
)

// libOp is one operation of the libnmdb client in the run's mode.
type libOp struct {
	get func(ctx context.Context, key []byte) ([]byte, error)
	set func(ctx context.Context, key, val []byte) error
}

func libOps(c *libnmdb.Client, mode string) libOp {
	switch mode {
	case "cache":
		return libOp{get: c.CacheGet, set: c.CacheSet}
	case "sync":
		return libOp{get: c.Get, set: c.SetSync}
	}
	return libOp{get: c.Get, set: c.Set}
}

// runLib runs c.conns libnmdb clients (one connection each) with
// c.goroutines goroutines sharing each, and returns their summed tally.
func runLib(c *config, ready func() error) (*tally, error) {
	ap, err := netip.ParseAddrPort(c.addr)
	if err != nil {
		return nil, fmt.Errorf("address %q (want IP:port): %w", c.addr, err)
	}
	clients := make([]*libnmdb.Client, 0, c.conns)
	defer func() {
		for _, cl := range clients {
			_ = cl.Close()
		}
	}()
	for range c.conns {
		cl := libnmdb.New(libnmdb.Options{Timeout: c.timeout})
		clients = append(clients, cl)
		add := cl.AddTCPServer
		if c.transport == "udp" {
			add = cl.AddUDPServer
		}
		if err := add(ap.Addr().String(), int(ap.Port())); err != nil {
			return nil, fmt.Errorf("libnmdb: %w", err)
		}
	}
	if ready != nil {
		if err := ready(); err != nil {
			return nil, err
		}
	}
	wl := &workload{keys: c.keys, keySize: c.keySize, val: makeValue(c.valSize), getFrac: c.gets}
	w := newWindow(c)
	// One context bounds the whole run; each call also gets the client's
	// per-call timeout from Options.
	ctx, cancel := context.WithDeadline(context.Background(), w.t0.Add(w.end+c.timeout+10*time.Second))
	defer cancel()
	return runLoops(c.conns*c.goroutines, func(i int, ts *tally) error {
		d := newLibDriver(libOps(clients[i/c.goroutines], c.mode), wl, c.seed*1000003+uint64(i))
		return d.run(ctx, &w, ts)
	})
}

// maxLibFailures is how many client failures in a row end a libnmdb loop.
const maxLibFailures = 10

// libDriver is one goroutine's request loop over a shared libnmdb client.
type libDriver struct {
	ops libOp
	drv *driver // for key choice and accounting; its transport is unused
}

func newLibDriver(ops libOp, wl *workload, seed uint64) *libDriver {
	return &libDriver{ops: ops, drv: newDriver(nil, nil, false, 0, 1, wl, seed)}
}

func (l *libDriver) run(ctx context.Context, w *window, ts *tally) error {
	d := l.drv
	now := time.Since(w.t0)
	failures := 0
	for d.more(w, ts, now) {
		formatKey(d.key, d.rng.IntN(d.wl.keys))
		get := d.wl.getFrac >= 1 || (d.wl.getFrac > 0 && d.rng.Float64() < d.wl.getFrac)
		s := slot{start: now, get: get}
		if now >= w.from {
			ts.counted++
		}
		var err error
		if get {
			_, err = l.ops.get(ctx, d.key)
		} else {
			err = l.ops.set(ctx, d.key, d.wl.val)
		}
		now = time.Since(w.t0)
		st := stStored
		switch {
		case err == nil && get:
			st = stHit
		case errors.Is(err, libnmdb.ErrNotFound):
			st = stMiss
		case err != nil:
			// A server ERR reply counts as an error of the run; so does a
			// failure of the client (a timeout, a lost connection), unless
			// it keeps failing.
			st = stError
			var se *libnmdb.ServerError
			if !errors.As(err, &se) {
				failures++
				if failures > maxLibFailures {
					return fmt.Errorf("libnmdb: %d failures in a row, the last: %w", failures, err)
				}
			}
		}
		if st != stError {
			failures = 0
		}
		d.account(&s, st, w, ts, now)
	}
	ts.finish = now
	return nil
}
