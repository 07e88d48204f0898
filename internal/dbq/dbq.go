// Package dbq is the ordered queue between the request handlers and the
// database worker.
//
// Handlers Push operations in arrival order; the single worker takes
// everything queued at once with Drain and applies it as one batch. The
// queue copies the bytes of each operation into an arena that the worker
// gives back with its next Drain, so pushing does not allocate once the
// arenas have grown. The queue is bounded in operations and bytes: Push
// waits while it is full, which slows down the clients that fill it instead
// of letting memory grow.
//
// DrainGroup is Drain for group commit: when the queue holds writes that
// wait for an fsync, it can wait a little for the writers it just answered
// to come back, so that one fsync carries all of them instead of
// alternating between two half groups.
package dbq

import (
	"errors"
	"sync"
	"time"
)

// ErrClosed is returned by Push after Close.
var ErrClosed = errors.New("dbq: queue closed")

// Kind is what an operation does.
type Kind uint8

// Operation kinds.
const (
	Get Kind = iota + 1
	Set
	Del
	CAS
	Incr
	FirstKey
	NextKey
	// Reopen asks the worker to close and reopen the store (after a full
	// disk); it carries no request.
	Reopen
)

// Op is one queued database operation. R carries what the reply needs.
type Op[R any] struct {
	Kind  Kind
	Sync  bool   // answer only after a durable commit (sync set/del, cas, incr)
	ID    uint32 // request id
	Key   []byte
	Val   []byte // set: value; cas: new value
	Old   []byte // cas: expected value
	Delta int64  // incr
	Gen   uint64 // cache shard generation noted when queued
	// NoFill keeps a get's value out of the cache (wire.FlagNoFill).
	NoFill bool
	Reply  R
}

// Queue is a bounded FIFO of operations. It is safe for concurrent use by
// many producers and one consumer.
type Queue[R any] struct {
	mu       sync.Mutex
	notFull  *sync.Cond
	wake     chan struct{}
	ops      []Op[R]
	arena    []byte
	spareOps []Op[R]
	spareBuf []byte
	closed   bool
	maxOps   int
	maxBytes int
	syncs    int         // queued operations with Sync set
	timer    *time.Timer // DrainGroup's, made on first use (one consumer)
}

// New returns a queue that holds at most maxOps operations and maxBytes
// bytes of keys and values (an operation larger than maxBytes is still
// accepted when the queue is empty).
func New[R any](maxOps, maxBytes int) *Queue[R] {
	q := &Queue[R]{wake: make(chan struct{}, 1), maxOps: maxOps, maxBytes: maxBytes}
	q.notFull = sync.NewCond(&q.mu)
	return q
}

// Push appends op, copying its Key, Val and Old. It waits while the queue
// is full and fails only after Close.
func (q *Queue[R]) Push(op Op[R]) error {
	size := len(op.Key) + len(op.Val) + len(op.Old)
	q.mu.Lock()
	for !q.closed && len(q.ops) > 0 &&
		(len(q.ops) >= q.maxOps || len(q.arena)+size > q.maxBytes) {
		q.notFull.Wait()
	}
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	op.Key = q.copyIn(op.Key)
	op.Val = q.copyIn(op.Val)
	op.Old = q.copyIn(op.Old)
	q.ops = append(q.ops, op)
	if op.Sync {
		q.syncs++
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// copyIn copies b into the arena. The copy stays valid until the worker
// hands the arena back: a later append that moves the arena leaves earlier
// copies where they are.
func (q *Queue[R]) copyIn(b []byte) []byte {
	if b == nil {
		return nil
	}
	start := len(q.arena)
	q.arena = append(q.arena, b...)
	return q.arena[start:len(q.arena):len(q.arena)]
}

// Drain waits until operations are queued and takes all of them. It
// returns an empty slice once the queue is closed and empty. The slices of
// the returned operations stay valid until the next call to Drain, which
// reuses their memory; the caller must not keep them longer.
func (q *Queue[R]) Drain() []Op[R] { return q.DrainGroup(0, 0) }

// DrainGroup is Drain with a bounded wait for a fuller group. Once
// operations are queued, if some of them are Sync, it waits until the
// queue holds more Sync operations than it did when DrainGroup was called
// plus expect, or until maxWait has passed, whichever comes first. The
// caller passes as expect the number of Sync writers it has just answered:
// those are the ones likely to send their next write within a round trip.
// With expect 0 or maxWait 0 it does not wait.
func (q *Queue[R]) DrainGroup(expect int, maxWait time.Duration) []Op[R] {
	q.mu.Lock()
	target := q.syncs + expect
	q.mu.Unlock()
	waited := false
	for {
		q.mu.Lock()
		ready := len(q.ops) > 0 || q.closed
		if ready && !waited && !q.closed && expect > 0 && maxWait > 0 &&
			q.syncs > 0 && q.syncs < target && len(q.ops) < q.maxOps {
			q.mu.Unlock()
			q.waitSyncs(target, maxWait)
			waited = true
			continue
		}
		if ready {
			// Give back the previous batch's memory and take this one.
			clear(q.spareOps)
			ops, arena := q.ops, q.arena
			q.ops, q.arena = q.spareOps[:0], q.spareBuf[:0]
			q.spareOps, q.spareBuf = ops, arena
			q.syncs = 0
			q.notFull.Broadcast()
			q.mu.Unlock()
			return ops
		}
		q.mu.Unlock()
		<-q.wake
	}
}

// waitSyncs waits until target Sync operations are queued, the queue is
// full or closed, or d has passed.
func (q *Queue[R]) waitSyncs(target int, d time.Duration) {
	if q.timer == nil {
		q.timer = time.NewTimer(d)
	} else {
		q.timer.Reset(d)
	}
	defer q.timer.Stop()
	for {
		select {
		case <-q.wake:
		case <-q.timer.C:
			return
		}
		q.mu.Lock()
		done := q.closed || q.syncs >= target || len(q.ops) >= q.maxOps
		q.mu.Unlock()
		if done {
			return
		}
	}
}

// Len returns the number of operations queued now.
func (q *Queue[R]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ops)
}

// Close makes further Pushes fail; Drain still returns what was queued.
func (q *Queue[R]) Close() {
	q.mu.Lock()
	q.closed = true
	q.notFull.Broadcast()
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
