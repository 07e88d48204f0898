package libnmdb

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// unexpected reports a reply code that does not fit the request.
func unexpected(s *server, op wire.Op, code wire.Code) error {
	return fmt.Errorf("nmdb: %v on %s: %w: %v", op, s.name, ErrUnexpectedReply, code)
}

// execKey is exec on the server that holds req.Key.
func (c *Client) execKey(ctx context.Context, req *wire.Request, safe bool) (*server, *call, wire.Reply, error) {
	s, err := c.pick(req.Key)
	if err != nil {
		return nil, nil, wire.Reply{}, err
	}
	cl, r, err := c.roundTrip(ctx, s, req, safe)
	return s, cl, r, err
}

// do runs a set, del or cas request, whose reply carries no value, on the
// server that holds req.Key; safe tells whether a lost datagram may be
// repeated.
func (c *Client) do(ctx context.Context, req *wire.Request, safe bool) error {
	s, cl, r, err := c.execKey(ctx, req, safe)
	if err != nil {
		return err
	}
	c.putCall(cl)
	switch {
	case r.Code == wire.CodeOK:
		return nil
	case r.Code == wire.CodeNotIn && req.Op != wire.OpSet:
		return ErrNotFound
	case r.Code == wire.CodeNoMatch && req.Op == wire.OpCAS:
		return ErrNoMatch
	}
	return unexpected(s, req.Op, r.Code)
}

// Get returns the value of key, from the cache or else from the database.
// It returns ErrNotFound if there is none.
func (c *Client) Get(ctx context.Context, key []byte) ([]byte, error) {
	return c.get(ctx, nil, key, 0)
}

// CacheGet returns the value of key from the cache alone. It returns
// ErrNotFound if the key is not cached.
func (c *Client) CacheGet(ctx context.Context, key []byte) ([]byte, error) {
	return c.get(ctx, nil, key, wire.FlagCacheOnly)
}

// GetNoFill is Get that leaves the server's cache as it is: a cached value
// is not marked used, and a value read from the database is not cached.
// It is meant for walks over every key (dumps, copies), which would
// otherwise push the working set out of a live server's cache. It sends
// wire.FlagNoFill, which classic servers ignore: they answer as for Get.
func (c *Client) GetNoFill(ctx context.Context, key []byte) ([]byte, error) {
	return c.get(ctx, nil, key, wire.FlagNoFill)
}

// AppendGet is Get appending the value to dst and returning the extended
// slice; it allocates nothing when dst has room. On error dst is returned
// unchanged.
func (c *Client) AppendGet(ctx context.Context, dst, key []byte) ([]byte, error) {
	return c.get(ctx, dst, key, 0)
}

// AppendCacheGet is CacheGet appending the value to dst, as AppendGet.
func (c *Client) AppendCacheGet(ctx context.Context, dst, key []byte) ([]byte, error) {
	return c.get(ctx, dst, key, wire.FlagCacheOnly)
}

func (c *Client) get(ctx context.Context, dst, key []byte, flags wire.Flags) ([]byte, error) {
	req := wire.Request{Op: wire.OpGet, Flags: flags, Key: key}
	s, cl, r, err := c.execKey(ctx, &req, true)
	if err != nil {
		return dst, err
	}
	defer c.putCall(cl)
	switch r.Code {
	case wire.CodeCacheHit, wire.CodeOK:
		if dst == nil {
			dst = make([]byte, 0, len(r.Val))
		}
		return append(dst, r.Val...), nil
	case wire.CodeNotIn, wire.CodeCacheMiss:
		return dst, ErrNotFound
	}
	return dst, unexpected(s, req.Op, r.Code)
}

// Set stores val under key in the cache and queues it for the database.
// It returns once the server has queued the write: a later request from
// any client sees it.
func (c *Client) Set(ctx context.Context, key, val []byte) error {
	return c.do(ctx, &wire.Request{Op: wire.OpSet, Key: key, Val: val}, true)
}

// SetSync stores val under key in the cache and the database, and returns
// once the database has it.
func (c *Client) SetSync(ctx context.Context, key, val []byte) error {
	return c.do(ctx, &wire.Request{Op: wire.OpSet, Flags: wire.FlagSync, Key: key, Val: val}, true)
}

// CacheSet stores val under key in the cache alone.
func (c *Client) CacheSet(ctx context.Context, key, val []byte) error {
	return c.do(ctx, &wire.Request{Op: wire.OpSet, Flags: wire.FlagCacheOnly, Key: key, Val: val}, true)
}

// Del removes key from the cache and queues its removal from the database.
// It does not tell whether the key existed. On a datagram transport a lost
// Del is not repeated (a late copy could remove a newer value), so it can
// fail with a timeout.
func (c *Client) Del(ctx context.Context, key []byte) error {
	return c.do(ctx, &wire.Request{Op: wire.OpDel, Key: key}, false)
}

// DelSync removes key from the cache and the database and returns once the
// database is done. It returns ErrNotFound if the database did not have the
// key. When a datagram was lost and repeated, ErrNotFound can also mean
// that the first copy removed it.
func (c *Client) DelSync(ctx context.Context, key []byte) error {
	return c.do(ctx, &wire.Request{Op: wire.OpDel, Flags: wire.FlagSync, Key: key}, true)
}

// CacheDel removes key from the cache alone. It returns ErrNotFound if the
// key was not cached (which, as for DelSync, a repeated datagram can also
// cause).
func (c *Client) CacheDel(ctx context.Context, key []byte) error {
	return c.do(ctx, &wire.Request{Op: wire.OpDel, Flags: wire.FlagCacheOnly, Key: key}, true)
}

// CAS replaces the value of key with newVal if it is oldVal, in the cache
// and the database. It returns nil if it swapped, ErrNoMatch if the value
// differs, and ErrNotFound if there is no value. Never repeated on a
// datagram transport.
func (c *Client) CAS(ctx context.Context, key, oldVal, newVal []byte) error {
	return c.do(ctx, &wire.Request{Op: wire.OpCAS, Key: key, Old: oldVal, Val: newVal}, false)
}

// CacheCAS is CAS on the cache alone: ErrNotFound if the key is not cached.
func (c *Client) CacheCAS(ctx context.Context, key, oldVal, newVal []byte) error {
	return c.do(ctx, &wire.Request{Op: wire.OpCAS, Flags: wire.FlagCacheOnly, Key: key, Old: oldVal, Val: newVal}, false)
}

// Incr adds delta to the counter stored under key, in the cache and the
// database, and returns the new value. A counter is a decimal number
// followed by a NUL byte, as Incr stores it (see wire.AppendCounter); any
// other value gives ErrNotNumber, and no value ErrNotFound. Never repeated
// on a datagram transport.
func (c *Client) Incr(ctx context.Context, key []byte, delta int64) (int64, error) {
	return c.incr(ctx, key, delta, 0)
}

// CacheIncr is Incr on the cache alone: ErrNotFound if the key is not
// cached.
func (c *Client) CacheIncr(ctx context.Context, key []byte, delta int64) (int64, error) {
	return c.incr(ctx, key, delta, wire.FlagCacheOnly)
}

func (c *Client) incr(ctx context.Context, key []byte, delta int64, flags wire.Flags) (int64, error) {
	req := wire.Request{Op: wire.OpIncr, Flags: flags, Key: key, Delta: delta}
	s, cl, r, err := c.execKey(ctx, &req, false)
	if err != nil {
		return 0, err
	}
	defer c.putCall(cl)
	switch r.Code {
	case wire.CodeOK:
		n, err := r.Int64()
		if err != nil {
			return 0, fmt.Errorf("nmdb: incr on %s: %w", s.name, err)
		}
		return n, nil
	case wire.CodeNoMatch:
		return 0, ErrNotNumber
	case wire.CodeNotIn:
		return 0, ErrNotFound
	}
	return 0, unexpected(s, req.Op, r.Code)
}

// only returns the single server key iteration needs.
func (c *Client) only() (*server, error) {
	list := *c.servers.Load()
	if len(list) != 1 {
		if len(list) == 0 && c.closed.Load() {
			return nil, ErrClosed
		}
		return nil, ErrOneServer
	}
	return list[0], nil
}

// FirstKey returns a key of the database of the client's only server, to
// start a walk over all of them with NextKey. It returns ErrNotFound if the
// database is empty, and ErrOneServer unless the client holds exactly one
// server. Keys come in no promised order.
func (c *Client) FirstKey(ctx context.Context) ([]byte, error) {
	s, err := c.only()
	if err != nil {
		return nil, err
	}
	return c.walk(ctx, s, wire.Request{Op: wire.OpFirstKey})
}

// NextKey returns the key after key in the walk FirstKey started. It
// returns ErrNotFound at the end, and ErrOneServer unless the client holds
// exactly one server.
func (c *Client) NextKey(ctx context.Context, key []byte) ([]byte, error) {
	s, err := c.only()
	if err != nil {
		return nil, err
	}
	return c.walk(ctx, s, wire.Request{Op: wire.OpNextKey, Key: key})
}

func (c *Client) walk(ctx context.Context, s *server, req wire.Request) ([]byte, error) {
	cl, r, err := c.roundTrip(ctx, s, &req, true)
	if err != nil {
		return nil, err
	}
	defer c.putCall(cl)
	switch r.Code {
	case wire.CodeOK:
		return append(make([]byte, 0, len(r.Val)), r.Val...), nil
	case wire.CodeNotIn:
		return nil, ErrNotFound
	}
	return nil, unexpected(s, req.Op, r.Code)
}

// Keys walks every key of the database of the client's only server, with
// FirstKey and NextKey. An error ends the walk after being yielded once;
// with more or fewer than one server that error is ErrOneServer.
func (c *Client) Keys(ctx context.Context) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		k, err := c.FirstKey(ctx)
		for {
			if errors.Is(err, ErrNotFound) {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(k, nil) {
				return
			}
			k, err = c.NextKey(ctx, k)
		}
	}
}

// Stats returns the counters of every server, in sharding order (see
// Servers); the wire.Stat* constants index them (ServerStats names them
// instead). Servers may send more counters than wire.ClassicStats. The
// servers are asked in parallel; if any fails, Stats returns the first
// error in sharding order.
func (c *Client) Stats(ctx context.Context) ([][]uint64, error) {
	list, err := c.list()
	if err != nil {
		return nil, err
	}
	out := make([][]uint64, len(list))
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, s := range list {
		wg.Go(func() { out[i], errs[i] = c.stats(ctx, s) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (c *Client) stats(ctx context.Context, s *server) ([]uint64, error) {
	req := wire.Request{Op: wire.OpStats}
	cl, r, err := c.roundTrip(ctx, s, &req, true)
	if err != nil {
		return nil, err
	}
	defer c.putCall(cl)
	if r.Code != wire.CodeOK {
		return nil, unexpected(s, req.Op, r.Code)
	}
	st, err := r.Counters(make([]uint64, 0, len(r.Val)/8))
	if err != nil {
		return nil, fmt.Errorf("nmdb: stats on %s: %w", s.name, err)
	}
	return st, nil
}

// Ping asks every server for a reply, in parallel, with a stats request
// (the one request that needs no key and changes nothing). It returns nil
// if every server replied, and otherwise the errors of those that did not,
// each naming its server, joined with errors.Join; ErrNoServers if the
// client holds none.
func (c *Client) Ping(ctx context.Context) error {
	list, err := c.list()
	if err != nil {
		return err
	}
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, s := range list {
		wg.Go(func() { _, errs[i] = c.stats(ctx, s) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
