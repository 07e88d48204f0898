package nmdb

import (
	"testing"
	"time"
)

// TestSpinner checks when a reader polls before sleeping: only after a
// short wait, for at most its polling time, not when more readers are busy
// than there are slots, and never when polling is off.
func TestSpinner(t *testing.T) {
	slots := &spinSlots{max: 1}
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	a := spinner{slots: slots, d: 20 * time.Microsecond}

	// A first wait: nothing known of the client, so no polling.
	if a.again(at(0)) {
		t.Fatal("polled before any short wait")
	}
	a.got(at(50 * time.Microsecond)) // a short wait
	if !a.quick || slots.quick.Load() != 1 {
		t.Fatalf("after a short wait: quick %v, busy readers %d", a.quick, slots.quick.Load())
	}
	// The next wait polls, for its polling time, holding the slot.
	if !a.again(at(100*time.Microsecond)) || !a.again(at(110*time.Microsecond)) {
		t.Fatal("did not poll after a short wait")
	}
	if slots.busy.Load() != 1 {
		t.Fatalf("%d polling, want 1", slots.busy.Load())
	}
	if a.again(at(121 * time.Microsecond)) {
		t.Fatal("polled past the polling time")
	}
	if slots.busy.Load() != 0 {
		t.Fatal("slot kept after polling stopped")
	}
	// It slept; a long wait makes the reader idle again.
	a.got(at(1100 * time.Microsecond))
	if a.quick || slots.quick.Load() != 0 {
		t.Fatalf("after a long wait: quick %v, busy readers %d", a.quick, slots.quick.Load())
	}

	// Two busy readers and one slot: neither polls.
	b := spinner{slots: slots, d: 20 * time.Microsecond}
	for _, sp := range []*spinner{&a, &b} {
		sp.again(at(0))
		sp.got(at(10 * time.Microsecond))
	}
	if slots.quick.Load() != 2 {
		t.Fatalf("%d busy readers, want 2", slots.quick.Load())
	}
	if a.again(at(time.Millisecond)) || b.again(at(time.Millisecond)) {
		t.Fatal("polled with more busy readers than slots")
	}
	a.got(at(time.Millisecond + 10*time.Microsecond))
	// b ends: it no longer counts, and a polls again.
	b.close()
	if slots.quick.Load() != 1 {
		t.Fatalf("%d busy readers after close, want 1", slots.quick.Load())
	}
	if !a.again(at(2 * time.Millisecond)) {
		t.Fatal("did not poll once the other reader ended")
	}
	// Data while polling gives the slot back.
	a.got(at(2*time.Millisecond + 5*time.Microsecond))
	if slots.busy.Load() != 0 {
		t.Fatal("slot kept after data came")
	}
	a.close()
	if slots.quick.Load() != 0 || slots.busy.Load() != 0 {
		t.Fatalf("after close: busy readers %d, polling %d", slots.quick.Load(), slots.busy.Load())
	}

	// Polling off.
	off := spinner{slots: slots, d: -1}
	off.quick = true
	if off.again(at(0)) {
		t.Fatal("polled with polling off")
	}
}
