// Command nmdb is the nmdb daemon: a cache with a database behind it, served
// over TIPC, TCP, UDP and SCTP with the classic nmdb wire protocol.
//
// Usage:
//
//	nmdb [-b backend] [-d dbpath] [-l lower] [-L upper] [-t tcpport]
//	     [-T tcpaddr] [-u udpport] [-U udpaddr] [-s sctpport] [-S sctpaddr]
//	     [-c nobj] [-g percent] [-o logfile] [-i pidfile] [-f] [-p] [-r] [-h]
//	     [-V] [--user name] [-M addr] [--join]
//
// Run "nmdb -h" for what each option does. Over TIPC, the servers of one
// port elect their active server and fail over on their own (see
// internal/cluster); --join joins a port that has one as a mirror.
// Without -f, nmdb runs itself again in the background in a new session
// and exits once that copy serves requests. UDP is off unless -u or -U is given; any transport is turned off
// with the value "off" for its port option.
//
// Signals: SIGTERM and SIGINT stop the daemon after every queued database
// write is done; SIGHUP reopens the log file; SIGUSR1 switches to read-only
// mode; SIGUSR2 toggles passive mode.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/nmdb-go/nmdb/internal/daemon"
	"github.com/nmdb-go/nmdb/internal/version"
	"github.com/nmdb-go/nmdb/nmdb"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the program with its exit status: 0 success, 1 failure, 2 a bad
// command line.
func run(args []string, stdout, stderr io.Writer) int {
	backends := nmdb.Backends()
	opts, err := parseArgs(args, backends)
	if err != nil {
		fmt.Fprintf(stderr, "nmdb: %v\nRun 'nmdb -h' for help.\n", err)
		if daemon.IsChild() {
			daemon.Fail(err)
		}
		return 2
	}
	if opts.help {
		printUsage(stdout, backends)
		return 0
	}
	if opts.version {
		fmt.Fprintf(stdout, "nmdb %s\n", version.String())
		return 0
	}
	if !opts.foreground && !daemon.IsChild() {
		// Go to the background: run again in a new session and wait
		// until that copy serves. Logging to standard output keeps the
		// terminal; logging to a file gives the terminal back.
		var out, errOut *os.File
		if opts.logFile == daemon.Stdout {
			out, errOut = os.Stdout, os.Stderr
		}
		if err := daemon.Start(daemon.Options{Args: args, Stdout: out, Stderr: errOut}); err != nil {
			fmt.Fprintf(stderr, "nmdb: %v\n", err)
			return 1
		}
		return 0
	}
	if err := serve(opts); err != nil {
		if daemon.IsChild() {
			// Not ready yet: the parent prints the reason.
			if ferr := daemon.Fail(err); ferr == nil {
				return 1
			}
		}
		fmt.Fprintf(stderr, "nmdb: %v\n", err)
		return 1
	}
	return 0
}
