package main

import "runtime/debug"

// defaultGCPercent is the garbage collector's target (-g) when neither -g
// nor the GOGC environment variable is given. Go's own default, 100, lets
// the heap reach twice the live data before a collection: a full cache
// whose sets keep evicting objects for new ones then holds about twice its
// data in memory. 50 bounds that at about half more, for more collector
// work on the sets that allocate (those of keys not cached; a set that
// overwrites a cached value in place, and a get, allocate nothing).
const defaultGCPercent = 50

// gcPercent returns the garbage collector target the daemon sets, and
// false when it leaves the runtime's own: -g when given, else the default
// unless the environment variable GOGC (which the runtime has applied
// already) is set.
func gcPercent(o *options, getenv func(string) string) (int, bool) {
	switch {
	case o.gcPercent > 0:
		return o.gcPercent, true
	case getenv("GOGC") != "":
		return 0, false
	}
	return defaultGCPercent, true
}

// applyGCPercent sets the garbage collector target for o (see gcPercent)
// and returns the one in effect (-1: collection off, GOGC=off).
func applyGCPercent(o *options, getenv func(string) string) int {
	p, ok := gcPercent(o, getenv)
	if !ok {
		// The runtime's, from GOGC: read it by setting it.
		p = debug.SetGCPercent(-1)
	}
	debug.SetGCPercent(p)
	return p
}

// memoryFixed is what the memory limit allows besides the cache: the
// database queue's buffers (2 x 32 MiB at most), connection buffers, the
// runtime's own.
const memoryFixed = 96 << 20

// memoryLimit returns the soft memory limit the daemon gives the Go
// runtime for a cache of cacheBytes, and false when it leaves the
// runtime's own: the GOMEMLIMIT environment variable, which the runtime
// has applied already, wins. Without a limit the heap may grow by the
// garbage collector's target (-g, 50 %) over the live data, which a full
// cache mostly is; with it, the collector runs sooner once the heap
// nears the cache's bound plus an eighth plus memoryFixed.
func memoryLimit(cacheBytes int64, getenv func(string) string) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	return cacheBytes + cacheBytes/8 + memoryFixed, true
}

// applyMemoryLimit sets the memory limit (see memoryLimit) and returns the
// one in effect.
func applyMemoryLimit(cacheBytes int64, getenv func(string) string) int64 {
	if l, ok := memoryLimit(cacheBytes, getenv); ok {
		debug.SetMemoryLimit(l)
		return l
	}
	return debug.SetMemoryLimit(-1)
}
