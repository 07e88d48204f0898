package libnmdb

import (
	"errors"
	"time"
)

// sweepSlack is how close together the sweeps of a link may follow each
// other: calls whose deadlines fall within it of one another may be
// failed together, the later ones that much late.
const sweepSlack = time.Millisecond

// errExpired is how the sweeper fails a call whose deadline passed; the
// caller turns it into the error it reports.
var errExpired = errors.New("deadline passed")

// armSweeper makes the sweeper run at deadline. Called with mu held.
func (ln *link) armSweeper(deadline, now time.Time) {
	ln.sweepAt = deadline
	if ln.sweeper == nil {
		ln.sweeper = time.AfterFunc(deadline.Sub(now), ln.sweep)
		return
	}
	ln.sweeper.Reset(deadline.Sub(now))
}

// sweep fails the calls whose deadline passed with errExpired and sets
// the sweeper for the next deadline, if any call waits for one. It runs
// from the sweeper, so that a caller waits only for its reply and its
// context, not for a timer of its own.
func (ln *link) sweep() {
	var expired []*call
	ln.mu.Lock()
	ln.sweepAt = time.Time{}
	if ln.slots == nil {
		ln.mu.Unlock()
		return
	}
	now := time.Now()
	var next time.Time
	for i, cl := range ln.slots {
		if cl == nil || cl.deadline.IsZero() {
			continue
		}
		if !cl.deadline.After(now) {
			ln.slots[i] = nil
			ln.npend--
			expired = append(expired, cl)
			continue
		}
		if next.IsZero() || cl.deadline.Before(next) {
			next = cl.deadline
		}
	}
	if !next.IsZero() {
		ln.armSweeper(later(next, now.Add(sweepSlack)), now)
	}
	idle := ln.idleLoop()
	ln.mu.Unlock()
	for _, cl := range expired {
		cl.err = errExpired
		cl.done <- struct{}{}
	}
	if idle {
		ln.kick()
	}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
