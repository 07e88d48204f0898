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
package dbq

import (
	"errors"
	"sync"
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
)

// Op is one queued database operation. R carries what the reply needs.
type Op[R any] struct {
	Kind  Kind
	Sync  bool   // set/del: answer only after a durable commit
	ID    uint32 // request id
	Key   []byte
	Val   []byte // set: value; cas: new value
	Old   []byte // cas: expected value
	Delta int64  // incr
	Gen   uint64 // cache shard generation noted when queued
	Reply R
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
func (q *Queue[R]) Drain() []Op[R] {
	for {
		q.mu.Lock()
		if len(q.ops) > 0 || q.closed {
			// Give back the previous batch's memory and take this one.
			clear(q.spareOps)
			ops, arena := q.ops, q.arena
			q.ops, q.arena = q.spareOps[:0], q.spareBuf[:0]
			q.spareOps, q.spareBuf = ops, arena
			q.notFull.Broadcast()
			q.mu.Unlock()
			return ops
		}
		q.mu.Unlock()
		<-q.wake
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
