// Command nmdb-bench-report turns the results nmdb-bench writes (one JSON
// line per run) into the comparison table of docs/BENCH.md.
//
// Usage:
//
//	nmdb-bench-report report [-details] [-table=false] [-check] FILE...
//	                                        print the comparison table of results
//	nmdb-bench-report note -row R -out FILE describe a table row (-test, -goal, -metric)
//	nmdb-bench-report redis-csv [flags] FILE
//	                                        turn redis-benchmark --csv output into results
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/nmdb-go/nmdb/cmd/internal/benchresult"
)

// config is what note and redis-csv record about a result, given with the
// same flags as nmdb-bench's.
type config struct {
	benchresult.Labels
	out                                  string
	conns, depth, keySize, valSize, keys int
	requests                             uint64
	quiet                                bool
}

// newFlagSet returns the flags of note and redis-csv bound to c.
func newFlagSet(name string, c *config) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c.Labels.AddFlags(fs)
	fs.StringVar(&c.out, "out", "", "append the results as JSON lines to this file")
	fs.IntVar(&c.conns, "conns", 1, "connections the run used")
	fs.IntVar(&c.depth, "depth", 1, "requests in flight per connection")
	fs.IntVar(&c.keySize, "keysize", 16, "key size in bytes")
	fs.IntVar(&c.valSize, "valsize", 64, "value size in bytes")
	fs.IntVar(&c.keys, "keys", 100000, "number of distinct keys")
	fs.Uint64Var(&c.requests, "requests", 0, "requests per test of the run")
	fs.BoolVar(&c.quiet, "q", false, "print nothing but errors")
	return fs
}

func main() {
	var err error
	if len(os.Args) < 2 {
		err = errors.New("name a command: report, note or redis-csv")
	} else {
		switch cmd, args := os.Args[1], os.Args[2:]; cmd {
		case "report":
			err = reportMain(args, os.Stdout)
		case "note":
			err = noteMain(args)
		case "redis-csv":
			err = redisCSVMain(args)
		default:
			err = fmt.Errorf("unknown command %q (want report, note or redis-csv)", cmd)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nmdb-bench-report:", err)
		os.Exit(1)
	}
}
