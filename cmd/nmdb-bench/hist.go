package main

import (
	"math/bits"
	"time"

	"github.com/nmdb-go/nmdb/cmd/internal/benchresult"
)

// subBits sets the histogram's precision: every power of two is split into
// 1<<subBits linear buckets, so a recorded value is off by at most 1/64.
const subBits = 6

// numBuckets covers every uint64 value.
const numBuckets = (64 - subBits + 1) << subBits

// Hist is a log-linear latency histogram in the style of HdrHistogram:
// constant relative precision over the whole range, fixed size, no
// allocation when recording, and mergeable by adding counts.
type Hist struct {
	counts [numBuckets]uint64
	n      uint64
	sum    uint64
	max    uint64
}

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - subBits
	return (shift+1)<<subBits + int(v>>uint(shift)) - 1<<subBits
}

// bucketMid returns a representative value (the middle) of bucket i.
func bucketMid(i int) uint64 {
	k := i >> subBits
	if k == 0 {
		return uint64(i)
	}
	shift := uint(k - 1)
	lo := uint64(i-k<<subBits+1<<subBits) << shift
	return lo + (uint64(1)<<shift)/2
}

// Record adds one observation of d.
func (h *Hist) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += v
	if v > h.max {
		h.max = v
	}
}

// Count returns the number of observations.
func (h *Hist) Count() uint64 { return h.n }

// Merge adds every observation of o to h.
func (h *Hist) Merge(o *Hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Quantile returns the value below which a fraction q of the observations
// fall (q in [0,1]); 0 when the histogram is empty.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := bucketMid(i)
			if v > h.max {
				v = h.max
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

// Mean returns the average observation.
func (h *Hist) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// export returns the sparse form of h.
func (h *Hist) export() *benchresult.HistWire {
	w := &benchresult.HistWire{Sum: h.sum, Max: h.max}
	for i, c := range h.counts {
		if c != 0 {
			w.Buckets = append(w.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return w
}

// merge adds the observations of a sparse histogram to h, ignoring
// buckets out of range.
func (h *Hist) mergeWire(w *benchresult.HistWire) {
	if w == nil {
		return
	}
	for _, b := range w.Buckets {
		if b[0] < numBuckets {
			h.counts[b[0]] += b[1]
			h.n += b[1]
		}
	}
	h.sum += w.Sum
	if w.Max > h.max {
		h.max = w.Max
	}
}
