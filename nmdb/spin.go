package nmdb

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Polling before sleeping.
//
// A client with one request in flight sends its next request a few tens of
// microseconds after it gets a reply. A reader that finds its socket empty
// and goes to sleep in the poller is then woken for it, and on a virtual
// machine waking a thread whose processor has gone idle takes about as
// long as serving the request. So a reader whose last wait was short
// polls its socket for a little longer (Config.PollSpin) before it sleeps.
// Only readers whose clients are in such a loop do it, and only while no
// more such readers are busy than half the processors: with more, the
// server has work enough without polling, and the processor time polling
// takes is better left to whatever else runs on the machine (measured:
// with four one-in-flight clients on two processors, polling lowered the
// rate by a tenth).

const (
	// DefaultPollSpin is Config.PollSpin's default.
	DefaultPollSpin = 20 * time.Microsecond
	// quickWait is the longest wait after which a reader counts as busy
	// (its client sends requests in quick succession).
	quickWait = 200 * time.Microsecond
)

// spinSlots limits the readers polling at once, and counts the busy
// readers.
type spinSlots struct {
	max   int32
	busy  atomic.Int32 // readers polling now
	quick atomic.Int32 // readers whose last wait was short
}

func newSpinSlots() *spinSlots {
	return &spinSlots{max: int32(max(1, runtime.GOMAXPROCS(0)/2))}
}

func (sl *spinSlots) take() bool {
	if sl.busy.Add(1) > sl.max {
		sl.busy.Add(-1)
		return false
	}
	return true
}

func (sl *spinSlots) give() { sl.busy.Add(-1) }

// spinner is one reader's polling state. Its methods are called from the
// reader's raw read function: again when the socket is empty, got when a
// read returned data (or an error).
type spinner struct {
	slots *spinSlots
	d     time.Duration // how long to poll; 0: never
	start time.Time     // when this wait began (zero: not waiting)
	on    bool          // polling, holding a slot
	quick bool          // the last wait was short
}

// again reports whether the reader should read again at once rather than
// sleep until the socket is readable. now is the time.
func (sp *spinner) again(now time.Time) bool {
	if sp.d <= 0 {
		return false
	}
	if sp.start.IsZero() {
		sp.start = now
		if sp.quick && sp.slots.quick.Load() <= sp.slots.max && sp.slots.take() {
			sp.on = true
		}
		return sp.on
	}
	if sp.on && now.Sub(sp.start) < sp.d {
		return true
	}
	sp.stop()
	return false
}

// got ends a wait, at the time now.
func (sp *spinner) got(now time.Time) {
	if sp.start.IsZero() {
		return
	}
	sp.stop()
	sp.setQuick(now.Sub(sp.start) < quickWait)
	sp.start = time.Time{}
}

// setQuick notes whether the reader's last wait was short.
func (sp *spinner) setQuick(q bool) {
	if q == sp.quick {
		return
	}
	sp.quick = q
	if q {
		sp.slots.quick.Add(1)
	} else {
		sp.slots.quick.Add(-1)
	}
}

// close is called when the reader ends.
func (sp *spinner) close() {
	sp.stop()
	if sp.slots != nil {
		sp.setQuick(false)
	}
}

func (sp *spinner) stop() {
	if sp.on {
		sp.on = false
		sp.slots.give()
	}
}
