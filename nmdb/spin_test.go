package nmdb

import (
	"testing"
	"time"
)

// TestSpinner checks when a reader polls before sleeping: only after a
// short wait, for at most its polling time, only while no other reader
// served requests lately, and never when polling is off.
func TestSpinner(t *testing.T) {
	t0 := time.Now()
	slots := &spinSlots{d: 20 * time.Microsecond, max: 1, base: t0}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	us := time.Microsecond
	a := slots.newSpinner()

	// A first wait: nothing known of the client, so no polling.
	if a.Again(at(0)) {
		t.Fatal("polled before any short wait")
	}
	a.Got(at(50 * us)) // a short wait; a is the last reader to serve
	if !a.quick {
		t.Fatal("a short wait not noted")
	}
	// Too soon after a took over from no one: not alone long enough.
	if a.Again(at(100 * us)) {
		t.Fatal("polled right after taking over")
	}
	a.Got(at(150 * us))
	// Alone for a while now: the next wait polls, for its polling time,
	// holding the slot.
	if !a.Again(at(400*us)) || !a.Again(at(410*us)) {
		t.Fatal("did not poll after short waits, alone")
	}
	if slots.busy.Load() != 1 {
		t.Fatalf("%d polling, want 1", slots.busy.Load())
	}
	if a.Again(at(421 * us)) {
		t.Fatal("polled past the polling time")
	}
	if slots.busy.Load() != 0 {
		t.Fatal("slot kept after polling stopped")
	}
	// It slept; a long wait ends polling for the next one.
	a.Got(at(1100 * us))
	if a.quick || a.Again(at(1500*us)) {
		t.Fatal("polled after a long wait")
	}
	a.Got(at(1510 * us))

	// Another reader serves a request: a does not poll for a while.
	b := slots.newSpinner()
	b.Again(at(1600 * us))
	b.Got(at(1610 * us))
	if a.Again(at(1700 * us)) {
		t.Fatal("polled while another reader served requests")
	}
	a.Got(at(1720 * us)) // a takes over again
	if b.Again(at(1730 * us)) {
		t.Fatal("b polled while a served requests")
	}
	b.close()
	// Once a alone served for a while, it polls again; data while
	// polling gives the slot back.
	if !a.Again(at(2 * time.Millisecond)) {
		t.Fatal("did not poll once alone again")
	}
	a.Got(at(2*time.Millisecond + 5*us))
	if slots.busy.Load() != 0 {
		t.Fatal("slot kept after data came")
	}
	// One slot: a second reader alone cannot poll while a polls.
	a.Again(at(3 * time.Millisecond))
	c := slots.newSpinner()
	c.quick = true
	slots.last.Store(c.id)
	if c.Again(at(3*time.Millisecond + us)) {
		t.Fatal("polled with no slot free")
	}
	a.close()
	if slots.busy.Load() != 0 {
		t.Fatalf("after close: %d polling", slots.busy.Load())
	}

	// Polling off.
	off := (&spinSlots{d: -1, max: 1, base: t0}).newSpinner()
	off.quick = true
	off.slots.last.Store(off.id)
	if off.Again(at(time.Hour)) {
		t.Fatal("polled with polling off")
	}
}

// TestSpinnerBackoff checks that polls that find nothing, after missFree
// of them in a row, make the reader skip polling for twice as many waits
// each time, up to maxSkip, and that a poll that finds a request ends the
// skipping.
func TestSpinnerBackoff(t *testing.T) {
	us := time.Microsecond
	now := time.Now()
	slots := &spinSlots{d: 20 * time.Microsecond, max: 1, base: now}
	a := slots.newSpinner()
	// wait runs one wait of a whose request comes after d, and reports
	// whether a polled during it.
	wait := func(d time.Duration) bool {
		polled := a.Again(now)
		if polled && d > 20*us {
			if a.Again(now.Add(21 * us)) {
				t.Fatal("polled past the polling time")
			}
		}
		now = now.Add(d)
		a.Got(now)
		now = now.Add(time.Millisecond) // a alone, long enough
		return polled
	}
	wait(50 * us) // a short wait: a polls from now on
	if !wait(5 * us) {
		t.Fatal("did not poll")
	}
	// A client farther away: each poll finds nothing.
	var pattern []bool
	for range missFree + 1 + 1 + 2 + 1 + 4 + 1 {
		pattern = append(pattern, wait(100*us))
	}
	// Poll missFree times, skip 1, poll, skip 2, poll, skip 4, poll.
	var want []bool
	for range missFree {
		want = append(want, true)
	}
	want = append(want, false, true, false, false, true, false, false, false, false, true)
	for i := range want {
		if i >= len(pattern) || pattern[i] != want[i] {
			t.Fatalf("polled %v, want %v", pattern, want)
		}
	}
	for range 200 {
		wait(100 * us)
	}
	if a.miss != maxSkip {
		t.Fatalf("skipping %d waits, want at most %d", a.miss, maxSkip)
	}
	// The client comes close again: the next poll that catches a request
	// ends the skipping.
	for a.skip > 0 {
		wait(5 * us)
	}
	first, second := wait(5*us), wait(5*us)
	if !first || !second || a.miss != 0 || a.fails != 0 {
		t.Fatalf("not polling again after a poll caught a request (miss %d, fails %d)", a.miss, a.fails)
	}
	// Fewer than missFree polls in vain in a row cost no skipping.
	for range missFree - 1 {
		wait(100 * us)
	}
	first, second = wait(5*us), wait(5*us)
	if !first || !second {
		t.Fatal("skipped after fewer than missFree polls in vain")
	}
}
