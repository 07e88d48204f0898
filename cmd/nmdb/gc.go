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
