// Package memo shares the results of a Go function between every process
// of an nmdb cluster.
//
// A memoized function looks its result up in the servers' caches (the
// cache-only mode: the database is never touched) under a key made of a
// digest, a name and the encoded argument (see Memo.Key). On a miss it computes the result, stores
// it for every other process, and returns it. Within one process,
// concurrent callers with the same argument wait for a single computation.
//
//	render := memo.Func(client, "render/v3", func(ctx context.Context, page string) (string, error) {
//		return expensiveRendering(ctx, page)
//	}, memo.Options{})
//	html, err := render(ctx, "/index")
//
// Results stay until the servers' caches evict them (least recently used
// first) or Memo.Forget removes one; there is no expiry time. Errors are
// returned, never stored. A result whose encoding does not fit
// in one nmdb message is returned but not stored, and the Memo says so once
// through its logger or callback. When the servers cannot be reached the
// function is still computed: the cache is an optimization, not a
// dependency. With a server down or hung, a call waits for it at most once
// (the lookup; the result is then not stored), and while the client has
// the server marked down (see libnmdb.ErrServerDown) calls compute at
// once: at most one timeout per back-off period.
//
// The name is the whole identity of the function in the cluster: two
// functions under one name, or one function whose result type or meaning
// changed, must not share it (put a version in the name).
package memo

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// Codec turns values into bytes and back. Its encodings must not depend on
// the process that made them, since other processes decode them.
type Codec interface {
	// Marshal encodes v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into the value v points to.
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec: encoding/json.
type JSON struct{}

// Marshal encodes v as JSON.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON data into v.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Gob is a Codec using encoding/gob, which keeps Go types JSON cannot (such
// as maps with struct keys) and is compact for large values. Each value is
// encoded as a complete gob stream, so any process can decode it. Use it
// for results, not for keys: gob does not promise that one value always
// encodes to the same bytes.
type Gob struct{}

// Marshal encodes v as a gob stream.
func (Gob) Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Unmarshal decodes a gob stream into v.
func (Gob) Unmarshal(data []byte, v any) error {
	return gob.NewDecoder(bytes.NewReader(data)).Decode(v)
}

// Options configure a Memo. The zero value gives the defaults.
type Options struct {
	// Codec is how results are stored; nil means JSON.
	Codec Codec
	// KeyEncoder turns an argument into the part of the key after the
	// name; nil means its JSON encoding. Equal arguments must give equal
	// bytes in every process.
	KeyEncoder func(arg any) ([]byte, error)
	// Logger receives the Memo's problems: results too big to store
	// (once), and cache errors it worked around (at debug level). nil
	// discards them.
	Logger *slog.Logger
	// TooBig, if set, is called once, the first time a result is too big
	// to store, with the Memo's name and the encoded size.
	TooBig func(name string, size int)
	// Timeout bounds each cache request of the Memo, whatever the
	// deadline of the caller's context: the cache is an optimization, and
	// a call does not wait longer for it. 0 means the client's
	// Options.Timeout.
	Timeout time.Duration
}

// Memo is a memoized function with argument type A and result type R. It
// is safe for concurrent use.
type Memo[A, R any] struct {
	c      *libnmdb.Client
	name   string
	f      func(context.Context, A) (R, error)
	opts   Options
	log    *slog.Logger
	group  singleflight.Group
	warned atomic.Bool
}

// New memoizes f under name through the cache of c's servers, configured
// by o; the zero Options give the defaults.
func New[A, R any](c *libnmdb.Client, name string, f func(context.Context, A) (R, error), o Options) *Memo[A, R] {
	if o.Codec == nil {
		o.Codec = JSON{}
	}
	if o.KeyEncoder == nil {
		o.KeyEncoder = json.Marshal
	}
	if o.Timeout <= 0 {
		o.Timeout = libnmdb.DefaultTimeout
		if c != nil {
			o.Timeout = c.Options().Timeout
		}
	}
	m := &Memo[A, R]{c: c, name: name, f: f, opts: o, log: o.Logger}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m
}

// Func memoizes f under name through the cache of c's servers and returns
// the memoized function. See New.
func Func[A, R any](c *libnmdb.Client, name string, f func(context.Context, A) (R, error), o Options) func(context.Context, A) (R, error) {
	return New(c, name, f, o).Call
}

// digestLen is the length of the digest that begins a key: 16 hexadecimal
// digits of a 64-bit hash.
const digestLen = 16

// Key returns the nmdb key the result for a is stored under: a digest of
// the name and the encoded argument (16 lowercase hexadecimal digits of
// libnmdb.KeyHash64 of the name, a NUL byte and the encoded argument), a
// colon, the name, a NUL byte and the encoded argument.
//
// The digest comes first so that one function's results spread over the
// servers under every sharding rule: the classic rule reads only about
// the first half of a key, which for a name followed by arguments that
// differ at their end is the same for every argument. Keys made before
// the digest (the name first) are not looked up: such results are missed
// once, computed again, and stored under the new key, while the old ones
// wait for the caches to evict them.
func (m *Memo[A, R]) Key(a A) ([]byte, error) {
	enc, err := m.opts.KeyEncoder(a)
	if err != nil {
		return nil, fmt.Errorf("memo %s: encode argument: %w", m.name, err)
	}
	k := make([]byte, digestLen+1, digestLen+1+len(m.name)+1+len(enc))
	k = append(k, m.name...)
	k = append(k, 0)
	k = append(k, enc...)
	sum := libnmdb.KeyHash64(k[digestLen+1:])
	for i := digestLen - 1; i >= 0; i-- {
		k[i] = hexDigits[sum&0xf]
		sum >>= 4
	}
	k[digestLen] = ':'
	return k, nil
}

const hexDigits = "0123456789abcdef"

// Call returns the result for a: from the cluster's cache if some process
// stored it, else computed by f (once for all concurrent callers in this
// process) and stored. Concurrent callers share the result value. The
// computation runs under the context of the caller that started it; if
// that context ends, callers that joined it and whose own context has not
// ended start another. Errors from f are returned and not stored.
func (m *Memo[A, R]) Call(ctx context.Context, a A) (R, error) {
	var zero R
	key, err := m.Key(a)
	if err != nil {
		return zero, err
	}
	if len(key) > wire.MaxData {
		// No request can carry this key: compute every time.
		m.reportTooBig(len(key))
		return m.f(ctx, a)
	}
	for {
		ch := m.group.DoChan(string(key), func() (any, error) {
			return m.fill(ctx, key, a)
		})
		select {
		case res := <-ch:
			if res.Err == nil {
				return res.Val.(R), nil
			}
			if ctx.Err() == nil && isContextErr(res.Err) {
				// The computation this call joined ran under another
				// caller's context, which ended; this one has not.
				continue
			}
			return zero, res.Err
		case <-ctx.Done():
			return zero, fmt.Errorf("memo %s: %w", m.name, ctx.Err())
		}
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// fill looks key up and computes and stores the result on a miss.
func (m *Memo[A, R]) fill(ctx context.Context, key []byte, a A) (R, error) {
	var r R
	cctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	data, err := m.c.CacheGet(cctx, key)
	switch {
	case err == nil:
		err := m.opts.Codec.Unmarshal(data, &r)
		if err == nil {
			return r, nil
		}
		m.log.Debug("memo: stored result does not decode; computing it again", "name", m.name, "err", err)
	case !errors.Is(err, libnmdb.ErrNotFound):
		// The server is down, hung or failing: compute, and do not
		// wait for it a second time to store the result. While the
		// client has it marked down, lookups fail at once.
		m.log.Debug("memo: cache lookup failed; computing, not storing", "name", m.name, "err", err)
		return m.f(ctx, a)
	}
	r, err = m.f(ctx, a)
	if err != nil {
		return r, err
	}
	data, err = m.opts.Codec.Marshal(r)
	if err != nil {
		m.log.Debug("memo: result does not encode; not stored", "name", m.name, "err", err)
		return r, nil
	}
	err = m.c.CacheSet(cctx, key, data)
	switch {
	case errors.Is(err, libnmdb.ErrTooBig):
		m.reportTooBig(len(key) + len(data))
	case err != nil:
		m.log.Debug("memo: storing result failed", "name", m.name, "err", err)
	}
	return r, nil
}

// Forget removes the stored result for a from the cluster's cache, so that
// the next call computes it again. It returns nil if there was none.
func (m *Memo[A, R]) Forget(ctx context.Context, a A) error {
	key, err := m.Key(a)
	if err != nil {
		return err
	}
	if err := m.c.CacheDel(ctx, key); err != nil && !errors.Is(err, libnmdb.ErrNotFound) {
		return fmt.Errorf("memo %s: forget: %w", m.name, err)
	}
	return nil
}

// reportTooBig says once that results are too big to store.
func (m *Memo[A, R]) reportTooBig(size int) {
	if m.warned.Swap(true) {
		return
	}
	m.log.Warn("memo: result too big for an nmdb message; computed but not stored",
		"name", m.name, "size", size, "max", wire.MaxData)
	if m.opts.TooBig != nil {
		m.opts.TooBig(m.name, size)
	}
}
