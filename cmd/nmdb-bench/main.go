// Command nmdb-bench is a load generator for nmdb, memcached and Redis. It
// drives each with the same workload (key and value sizes, key count, mix
// of gets and sets, connections, requests in flight, client processes) and
// reports operations per second, latency percentiles and the server's
// resident memory.
//
// Usage:
//
//	nmdb-bench [flags]                 run one benchmark (see -h)
//	nmdb-bench report FILE...          print the comparison table of results
//	nmdb-bench redis-csv [flags] FILE  turn redis-benchmark --csv output into results
//	nmdb-bench note -row R -out FILE   describe a table row (-test, -goal, -metric)
//
// A run against nmdb uses a minimal client on raw sockets (-client raw) or
// the libnmdb Go client (-client lib). With -procs N the program runs N
// copies of itself as client processes that start together, and adds up
// their results. Every run is bounded by -duration and -requests, and every
// wait for a reply by -timeout. Profiles of a server under this load come
// from scripts/bench-profile.
package main

import (
	"fmt"
	"os"
)

func main() {
	var err error
	args := os.Args[1:]
	cmd := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "":
		err = benchMain(args)
	case "report":
		err = reportMain(args, os.Stdout)
	case "note":
		err = noteMain(args)
	case "redis-csv":
		err = redisCSVMain(args)
	default:
		err = fmt.Errorf("unknown command %q (want report, note, redis-csv, or flags for a run)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nmdb-bench:", err)
		os.Exit(1)
	}
}
