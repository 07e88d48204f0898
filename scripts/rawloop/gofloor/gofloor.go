// Command gofloor is the floor under the C library's threaded and
// start-cost benchmark rows: built with -buildmode=c-shared and loaded by
// rawloop -g, it adds to the raw C loop what any library whose core is in
// Go adds per request, and nothing more: one call from a C thread into
// Go, and the C library's yield. A C thread's goroutine is never
// scheduled anew between calls, so the runtime's monitor takes its P
// after 10 ms; the C library's C layer therefore yields it every few
// milliseconds, per thread (YIELD_NS in cgo/shim/nmdb.c), and the
// benchmark programs do the same with gofloor_yield
// (cbench_gofloor_call in scripts/rawloop/cbench.h). It is also the floor
// under the TIPC rows (tipc_rawloop -g in the test VM). rawloop -1 -g is
// a plain C client that also starts a Go runtime: the floor of a C
// program's start cost.
package main

// #include <stdint.h>
import "C"

import "runtime"

// main is required by -buildmode=c-shared; it never runs.
func main() {}

// gofloor_start raises GOMAXPROCS to threads plus the number of
// processors, as the C library does once that many threads are in calls
// (raiseProcs in cgo/nmdb.go), so that the floor runs under the same
// number of Ps. Call it once, before the threads start.
//
//export gofloor_start
func gofloor_start(threads C.int) {
	if want := int(threads) + runtime.NumCPU(); want > runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(want)
	}
}

// gofloor_call is the call made before each request: it does nothing.
//
//export gofloor_call
func gofloor_call() {}

// gofloor_yield yields the P of the calling thread's goroutine, as the C
// library's nmdbgo_yield does.
//
//export gofloor_yield
func gofloor_yield() { runtime.Gosched() }
