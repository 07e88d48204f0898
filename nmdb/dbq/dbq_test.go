package dbq

import (
	"errors"
	"fmt"
	"testing"
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
