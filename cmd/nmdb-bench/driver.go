package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// maxDepth is the largest number of requests in flight on one connection:
// the slot index travels in the low 8 bits of the request id.
const maxDepth = 256

// maxStale bounds how many stray datagrams (late replies to requests that
// were given up on) a datagram loop skips while waiting for one reply.
const maxStale = 1000

// workload is what the requests of one run look like.
type workload struct {
	keys    int     // keys are chosen among indices [0, keys)
	keySize int     // bytes per key
	val     []byte  // the value every set stores
	getFrac float64 // fraction of requests that are gets
}

// window is the time and count limits of one run, shared by every loop of
// a process. Durations are measured from t0.
type window struct {
	t0     time.Time
	from   time.Duration // requests sent before this are warm-up, not counted
	end    time.Duration // no request is sent after this
	budget uint64        // counted requests per loop; 0 means no limit
}

// tally is what one loop measured.
type tally struct {
	hist                          Hist
	ops, hits, misses, errs, lost uint64
	counted                       uint64        // counted requests sent
	finish                        time.Duration // when the loop's last reply came
}

// merge adds o to t.
func (t *tally) merge(o *tally) {
	t.hist.Merge(&o.hist)
	t.ops += o.ops
	t.hits += o.hits
	t.misses += o.misses
	t.errs += o.errs
	t.lost += o.lost
	t.counted += o.counted
	if o.finish > t.finish {
		t.finish = o.finish
	}
}

// slot is one request in flight.
type slot struct {
	start time.Duration
	id    uint32
	get   bool
	busy  bool
}

// driver runs requests over one connection with up to depth in flight. It
// allocates nothing once built.
type driver struct {
	p      proto
	t      transport
	dgram  bool
	idMask uint32
	depth  int
	wl     *workload
	rng    *rand.Rand

	// seq, when set, makes the driver send sets of keys next..stop-1 in
	// order (preloading) instead of random requests.
	seq        bool
	next, stop int

	key   []byte
	sbuf  []byte
	rbuf  []byte
	slots []slot
	fifo  []int // ordered protocols: slot indices in send order
	head  int
	n     int // entries in fifo
	gen   uint32
}

// newDriver returns a driver for one connection.
func newDriver(p proto, t transport, dgram bool, idMask uint32, depth int, wl *workload, seed uint64) *driver {
	return &driver{
		p:      p,
		t:      t,
		dgram:  dgram,
		idMask: idMask,
		depth:  depth,
		wl:     wl,
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		key:    make([]byte, wl.keySize),
		sbuf:   make([]byte, 0, depth*(len(wl.val)+wl.keySize+64)),
		rbuf:   make([]byte, 64*1024+depth*(len(wl.val)+wl.keySize+64)),
		slots:  make([]slot, depth),
		fifo:   make([]int, depth),
	}
}

// formatKey writes the key of index i into dst: "key:" and the index,
// zero-padded to fill len(dst) (the format redis-benchmark -r uses for
// 16-byte keys). Keys shorter than 5 bytes are digits only.
func formatKey(dst []byte, i int) {
	start := 0
	if len(dst) > 4 {
		copy(dst, "key:")
		start = 4
	}
	for j := len(dst) - 1; j >= start; j-- {
		dst[j] = byte('0' + i%10)
		i /= 10
	}
}

// keyDigits returns how many digits the indices below keys need.
func keyDigits(keys int) int {
	d := 1
	for n := keys - 1; n >= 10; n /= 10 {
		d++
	}
	return d
}

// more reports whether the loop may send another request at now.
func (d *driver) more(w *window, ts *tally, now time.Duration) bool {
	if d.seq {
		return d.next < d.stop
	}
	if now >= w.end {
		return false
	}
	return w.budget == 0 || now < w.from || ts.counted < w.budget
}

// issue encodes one request for slot si into d.sbuf.
func (d *driver) issue(si int, w *window, ts *tally, now time.Duration) {
	var get bool
	if d.seq {
		formatKey(d.key, d.next)
		d.next++
	} else {
		formatKey(d.key, d.rng.IntN(d.wl.keys))
		get = d.wl.getFrac >= 1 || (d.wl.getFrac > 0 && d.rng.Float64() < d.wl.getFrac)
	}
	d.gen++
	id := (d.gen<<8 | uint32(si)) & d.idMask
	if get {
		d.sbuf = d.p.appendGet(d.sbuf, id, d.key)
	} else {
		d.sbuf = d.p.appendSet(d.sbuf, id, d.key, d.wl.val)
	}
	d.slots[si] = slot{start: now, id: id, get: get, busy: true}
	if d.p.ordered() {
		d.fifo[(d.head+d.n)%d.depth] = si
		d.n++
	}
	if now >= w.from {
		ts.counted++
	}
}

// account records the reply to slot s.
func (d *driver) account(s *slot, st status, w *window, ts *tally, now time.Duration) {
	if s.start < w.from {
		return
	}
	ts.ops++
	ts.hist.Record(now - s.start)
	switch {
	case st == stHit && s.get:
		ts.hits++
	case st == stMiss && s.get:
		ts.misses++
	case st == stStored && !s.get:
	default:
		ts.errs++
	}
}

// slotFor finds the slot a reply with id answers.
func (d *driver) slotFor(id uint32) (int, error) {
	if d.p.ordered() {
		if d.n == 0 {
			return 0, errors.New("reply with no request in flight")
		}
		si := d.fifo[d.head]
		d.head = (d.head + 1) % d.depth
		d.n--
		return si, nil
	}
	si := int(id & 0xff)
	if si >= d.depth || !d.slots[si].busy || d.slots[si].id != id {
		return 0, fmt.Errorf("reply with unexpected id %#x", id)
	}
	return si, nil
}

// run drives the connection until the window closes and every reply is in.
func (d *driver) run(w *window, ts *tally) error {
	if d.dgram {
		return d.runDgram(w, ts)
	}
	return d.runStream(w, ts)
}

func (d *driver) runStream(w *window, ts *tally) error {
	now := time.Since(w.t0)
	inflight := 0
	for si := 0; si < d.depth && d.more(w, ts, now); si++ {
		d.issue(si, w, ts, now)
		inflight++
	}
	if err := d.flush(); err != nil {
		return err
	}
	have := 0
	for inflight > 0 {
		n, err := d.t.recv(d.rbuf[have:])
		if err != nil {
			return fmt.Errorf("%d requests in flight: %w", inflight, err)
		}
		have += n
		now = time.Since(w.t0)
		off := 0
		for {
			m, id, st, err := d.p.parse(d.rbuf[off:have])
			if err == errShort {
				break
			}
			if err != nil {
				return err
			}
			off += m
			si, err := d.slotFor(id)
			if err != nil {
				return err
			}
			s := &d.slots[si]
			s.busy = false
			inflight--
			d.account(s, st, w, ts, now)
			if d.more(w, ts, now) {
				d.issue(si, w, ts, now)
				inflight++
			}
		}
		have = copy(d.rbuf, d.rbuf[off:have])
		if have == len(d.rbuf) {
			return fmt.Errorf("reply larger than %d bytes", len(d.rbuf))
		}
		if err := d.flush(); err != nil {
			return err
		}
	}
	ts.finish = now
	return nil
}

// flush sends the encoded requests.
func (d *driver) flush() error {
	if len(d.sbuf) == 0 {
		return nil
	}
	err := d.t.send(d.sbuf)
	d.sbuf = d.sbuf[:0]
	return err
}

func (d *driver) runDgram(w *window, ts *tally) error {
	if d.depth != 1 {
		return fmt.Errorf("datagram transports keep one request in flight per socket, not %d", d.depth)
	}
	now := time.Since(w.t0)
	for d.more(w, ts, now) {
		d.issue(0, w, ts, now)
		if err := d.flush(); err != nil {
			return err
		}
		s := &d.slots[0]
		for stale := 0; ; stale++ {
			if stale == maxStale {
				return fmt.Errorf("%d stray datagrams in a row", stale)
			}
			n, err := d.t.recv(d.rbuf)
			now = time.Since(w.t0)
			if err == errTimeout {
				if s.start >= w.from {
					ts.lost++
				}
				break
			}
			if err != nil {
				return err
			}
			_, id, st, err := d.p.parse(d.rbuf[:n])
			if err != nil {
				return err
			}
			if id != s.id {
				continue
			}
			d.account(s, st, w, ts, now)
			break
		}
	}
	ts.finish = now
	return nil
}

// idMaskFor returns the bits of a request id that a target carries back.
func idMaskFor(target string, dgram bool) uint32 {
	if target == "memcached" && dgram {
		return 0xffff
	}
	return wire.IDMask
}
