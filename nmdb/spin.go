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
// Only a reader whose client is in such a loop does it, and only while no
// other reader has served a request lately: with several clients busy,
// the server has work enough without polling, and the processor time
// polling takes is better left to them (measured: with four clients with
// one request in flight each on two processors, polling lowered the rate
// by an eighth).

const (
	// DefaultPollSpin is Config.PollSpin's default.
	DefaultPollSpin = 20 * time.Microsecond
	// quickWait is the longest wait after which a reader still polls
	// before its next sleep (its client sends requests in quick
	// succession).
	quickWait = 200 * time.Microsecond
)

// spinSlots limits the readers polling at once, and notes which reader
// served a request last, and when another one last took over.
type spinSlots struct {
	max      int32
	busy     atomic.Int32  // readers polling now
	ids      atomic.Uint64 // the last reader id given out
	last     atomic.Uint64 // the reader that served a request last
	switched atomic.Int64  // when last changed, in Unix nanoseconds
}

func newSpinSlots() *spinSlots {
	return &spinSlots{max: int32(max(1, runtime.GOMAXPROCS(0)/2))}
}

// newSpinner returns the polling state of a new reader that polls for d.
func (sl *spinSlots) newSpinner(d time.Duration) spinner {
	return spinner{slots: sl, d: d, id: sl.ids.Add(1)}
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
	id    uint64
	start time.Time // when this wait began (zero: not waiting)
	on    bool      // polling, holding a slot
	quick bool      // the last wait was short
}

// again reports whether the reader should read again at once rather than
// sleep until the socket is readable. now is the time.
func (sp *spinner) again(now time.Time) bool {
	if sp.d <= 0 {
		return false
	}
	if sp.start.IsZero() {
		sp.start = now
		if sp.quick && sp.alone(now) && sp.slots.take() {
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

// alone reports whether this reader alone served requests lately.
func (sp *spinner) alone(now time.Time) bool {
	return sp.slots.last.Load() == sp.id && now.UnixNano()-sp.slots.switched.Load() >= int64(quickWait)
}

// got ends a wait, at the time now.
func (sp *spinner) got(now time.Time) {
	if sp.start.IsZero() {
		return
	}
	sp.stop()
	sp.quick = now.Sub(sp.start) < quickWait
	sp.start = time.Time{}
	if sp.slots.last.Load() != sp.id {
		sp.slots.last.Store(sp.id)
		sp.slots.switched.Store(now.UnixNano())
	}
}

// close is called when the reader ends.
func (sp *spinner) close() { sp.stop() }

func (sp *spinner) stop() {
	if sp.on {
		sp.on = false
		sp.slots.give()
	}
}
