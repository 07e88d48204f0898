// Command nmdb-bench is a load generator for nmdb, memcached and Redis. It
// drives each with the same workload (key and value sizes, key count, mix
// of gets and sets, connections, requests in flight, client processes) and
// reports operations per second, latency percentiles and the server's
// resident memory.
//
// Usage:
//
//	nmdb-bench [flags]                 run one benchmark (see -h)
//
// A run against nmdb uses a minimal client on raw sockets (-client raw) or
// the libnmdb Go client (-client lib). With -procs N the program runs N
// copies of itself as client processes that start together, and adds up
// their results. Every run is bounded by -duration and -requests, and every
// wait for a reply by -timeout. With -out, the result is appended as a JSON
// line, which nmdb-bench-report turns into the comparison table. Profiles
// of a server under this load come from scripts/bench-profile.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := benchMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "nmdb-bench:", err)
		os.Exit(1)
	}
}
