package dbq

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestOrderAndCopies(t *testing.T) {
	q := New[int](100, 1<<20)
	buf := []byte("k0")
	for i := range 10 {
		buf[1] = byte('0' + i)
		if err := q.Push(Op[int]{Kind: Set, Key: buf, Val: []byte(fmt.Sprint(i)), Reply: i}); err != nil {
			t.Fatal(err)
		}
	}
	if q.Len() != 10 {
		t.Fatalf("len %d", q.Len())
	}
	ops := q.Drain()
	if len(ops) != 10 {
		t.Fatalf("drained %d", len(ops))
	}
	for i, op := range ops {
		if op.Reply != i || string(op.Key) != fmt.Sprint("k", i) || string(op.Val) != fmt.Sprint(i) {
			t.Fatalf("op %d: %+v", i, op)
		}
	}
	q.Close()
	if err := q.Push(Op[int]{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("push after close: %v", err)
	}
	if ops := q.Drain(); len(ops) != 0 {
		t.Fatalf("drain after close: %d", len(ops))
	}
}

func TestBoundBlocksPush(t *testing.T) {
	q := New[int](2, 1<<20)
	for range 2 {
		if err := q.Push(Op[int]{Kind: Get}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error)
	go func() { done <- q.Push(Op[int]{Kind: Get, Reply: 3}) }()
	select {
	case err := <-done:
		t.Fatalf("push into a full queue returned %v", err)
	default:
	}
	if ops := q.Drain(); len(ops) != 2 {
		t.Fatalf("drained %d", len(ops))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ops := q.Drain(); len(ops) != 1 || ops[0].Reply != 3 {
		t.Fatalf("second drain %+v", ops)
	}
}

// TestDrainGroupWaitsForExpected: with sync writes queued and more
// expected, DrainGroup takes the batch only once the expected writers
// have joined it.
func TestDrainGroupWaitsForExpected(t *testing.T) {
	q := New[int](100, 1<<20)
	if err := q.Push(Op[int]{Kind: Set, Sync: true, Reply: 0}); err != nil {
		t.Fatal(err)
	}
	joined := make(chan struct{})
	go func() {
		defer close(joined)
		for i := 1; i <= 3; i++ {
			if err := q.Push(Op[int]{Kind: Set, Sync: true, Reply: i}); err != nil {
				t.Error(err)
			}
		}
	}()
	// Expecting three more than the one queued: the batch holds all four
	// (the bound is far longer than the pushes take).
	ops := q.DrainGroup(3, time.Minute)
	<-joined
	if len(ops) != 4 {
		t.Fatalf("drained %d ops, want the 4 of the group", len(ops))
	}
	for i, op := range ops {
		if op.Reply != i {
			t.Fatalf("op %d is %d", i, op.Reply)
		}
	}
}

// TestDrainGroupNoWait: DrainGroup does not wait when nothing more is
// expected, when the batch has no sync write, or once the bound passes.
func TestDrainGroupNoWait(t *testing.T) {
	q := New[int](100, 1<<20)
	q.Push(Op[int]{Kind: Set, Sync: true})
	if ops := q.DrainGroup(0, time.Hour); len(ops) != 1 {
		t.Fatalf("expect 0: drained %d", len(ops))
	}
	q.Push(Op[int]{Kind: Set})
	if ops := q.DrainGroup(5, time.Hour); len(ops) != 1 {
		t.Fatalf("no sync write: drained %d", len(ops))
	}
	// Nobody joins: the wait ends at the bound with what is queued.
	q.Push(Op[int]{Kind: Set, Sync: true})
	if ops := q.DrainGroup(5, time.Millisecond); len(ops) != 1 {
		t.Fatalf("bound: drained %d", len(ops))
	}
	// Close ends a wait at once, and the queued op is still returned.
	q.Push(Op[int]{Kind: Set, Sync: true})
	go q.Close()
	if ops := q.DrainGroup(5, time.Hour); len(ops) != 1 {
		t.Fatalf("close: drained %d", len(ops))
	}
}
