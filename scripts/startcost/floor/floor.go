// Command floor is a Go library that does nothing: built with
// -buildmode=c-shared, it is the smallest thing that starts a Go runtime
// in a C process, the floor of the C library's start cost (see
// scripts/startcost/startcost.sh).
package main

// #include <stdint.h>
import "C"

// main is required by -buildmode=c-shared; it never runs.
func main() {}

// startcost_floor is the library's one function: calling it waits until
// the runtime has started, as the C library's first call into its core
// does.
//
//export startcost_floor
func startcost_floor() C.uintptr_t { return 1 }
