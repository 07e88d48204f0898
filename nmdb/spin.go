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
// by an eighth). Polls that end with nothing read, missFree of them in a
// row (a client farther away than the polling time), make the reader skip
// polling for its next waits, twice as many after each further such poll,
// up to maxSkip, so that a client that polling does not help costs next to
// nothing. A single poll in vain is common on a busy machine (the client
// was descheduled) and costs no skipping: skipping after every one lowered
// the rate of one client by a sixth.

const (
	// DefaultPollSpin is Config.PollSpin's default.
	DefaultPollSpin = 20 * time.Microsecond
	// quickWait is the longest wait after which a reader still polls
	// before its next sleep (its client sends requests in quick
	// succession).
	quickWait = 200 * time.Microsecond
	// missFree is how many polls in a row may find nothing before the
	// reader skips polling; maxSkip bounds the waits it skips.
	missFree = 4
	maxSkip  = 64
)

// spinSlots limits the readers polling at once, and notes which reader
// served a request last, and when another one last took over.
type spinSlots struct {
	d        time.Duration // how long a reader polls; 0 or less: never
	max      int32
	busy     atomic.Int32  // readers polling now
	ids      atomic.Uint64 // the last reader id given out
	last     atomic.Uint64 // the reader that served a request last
	switched atomic.Int64  // when last changed, in nanoseconds since base
	base     time.Time     // a monotonic clock reading
}

// newSpinSlots returns the polling state shared by the readers of a
// server whose readers poll for d.
func newSpinSlots(d time.Duration) *spinSlots {
	return &spinSlots{d: d, max: int32(max(1, runtime.GOMAXPROCS(0)/2)), base: time.Now()}
}

// newSpinner returns the polling state of a new reader.
func (sl *spinSlots) newSpinner() spinner {
	return spinner{slots: sl, id: sl.ids.Add(1)}
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
// reader's raw read (it is the read's sockfd.Spinner): Again when the
// socket is empty, Got when a read returned data (or an error).
type spinner struct {
	slots *spinSlots
	id    uint64
	start time.Time // when this wait began (zero: not waiting)
	on    bool      // polling, holding a slot
	quick bool      // the last wait was short
	skip  int       // waits left to skip polling for
	fails int       // polls in a row that found nothing
	miss  int       // waits skipped after the last poll that found nothing
}

// Again reports whether the reader should read again at once rather than
// sleep until the socket is readable. now is the time.
func (sp *spinner) Again(now time.Time) bool {
	d := sp.slots.d
	if d <= 0 {
		return false
	}
	if sp.start.IsZero() {
		sp.start = now
		if sp.skip > 0 {
			sp.skip--
			return false
		}
		if sp.quick && sp.alone(now) && sp.slots.take() {
			sp.on = true
		}
		return sp.on
	}
	if sp.on && now.Sub(sp.start) < d {
		return true
	}
	if sp.on {
		// Polled for nothing: after missFree such polls in a row, skip
		// the next waits.
		sp.fails++
		if sp.fails >= missFree {
			sp.miss = min(max(1, 2*sp.miss), maxSkip)
			sp.skip = sp.miss
		}
	}
	sp.stop()
	return false
}

// alone reports whether this reader alone served requests lately.
func (sp *spinner) alone(now time.Time) bool {
	return sp.slots.last.Load() == sp.id && int64(now.Sub(sp.slots.base))-sp.slots.switched.Load() >= int64(quickWait)
}

// Got ends a wait, at the time now.
func (sp *spinner) Got(now time.Time) {
	if sp.start.IsZero() {
		return
	}
	if sp.on {
		sp.fails, sp.miss = 0, 0 // the poll caught the request
	}
	sp.stop()
	sp.quick = now.Sub(sp.start) < quickWait
	sp.start = time.Time{}
	if sp.slots.last.Load() != sp.id {
		sp.slots.last.Store(sp.id)
		sp.slots.switched.Store(int64(now.Sub(sp.slots.base)))
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
