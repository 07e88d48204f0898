// Command nmdb-stats prints the statistics counters of one nmdb server, in
// the format of the classic tool:
//
//	nmdb-stats tipc PORT
//	nmdb-stats tcp|udp|sctp HOST PORT
//
// The output is "stats for server 0:" followed by one line per counter,
// "<TAB>value<TAB>name", then an empty line. The 23 classic counters come
// first, line for line as classic nmdb-stats prints them; the counters this
// server adds follow under their names (version and role as text), and
// counters the tool has no name for are printed as "unknown field".
// "nmdb-stats -V" prints the version. See nmdb-stats(1).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/nmdb-go/nmdb/internal/statsfmt"
	"github.com/nmdb-go/nmdb/internal/version"
	"github.com/nmdb-go/nmdb/libnmdb"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the server could not be reached or replied with an error
	exitUsage = 2 // bad command line
)

const usage = `usage: nmdb-stats tipc PORT
       nmdb-stats tcp|udp|sctp HOST PORT
       nmdb-stats -V
`

// errUsage marks a bad command line.
var errUsage = errors.New("bad command line")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program, returning its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if len(args) == 1 && (args[0] == "-V" || args[0] == "--version") {
		fmt.Fprintf(stdout, "nmdb-stats %s\n", version.String())
		return exitOK
	}
	c := libnmdb.New(libnmdb.Options{})
	defer c.Close()
	if err := addServer(c, args); err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "nmdb-stats: %v\n%s", err, usage)
			return exitUsage
		}
		fmt.Fprintf(stderr, "nmdb-stats: %v\n", err)
		return exitError
	}
	stats, err := c.Stats(context.Background())
	if err != nil {
		fmt.Fprintf(stderr, "nmdb-stats: error getting stats: %v\n", err)
		return exitError
	}
	if err := write(stdout, stats); err != nil {
		fmt.Fprintf(stderr, "nmdb-stats: %v\n", err)
		return exitError
	}
	return exitOK
}

// addServer adds the one server the command line names to c.
func addServer(c *libnmdb.Client, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing transport", errUsage)
	}
	switch args[0] {
	case "tipc":
		if len(args) != 2 {
			return fmt.Errorf("%w: tipc takes one argument, PORT", errUsage)
		}
		port, err := parsePort(args[1])
		if err != nil {
			return err
		}
		if err := c.AddTIPCServer(port); err != nil {
			return fmt.Errorf("adding TIPC server %d: %w", port, err)
		}
		return nil
	case "tcp", "udp", "sctp":
		if len(args) != 3 {
			return fmt.Errorf("%w: %s takes two arguments, HOST PORT", errUsage, args[0])
		}
		port, err := parsePort(args[2])
		if err != nil {
			return err
		}
		add := map[string]func(string, int) error{
			"tcp":  c.AddTCPServer,
			"udp":  c.AddUDPServer,
			"sctp": c.AddSCTPServer,
		}[args[0]]
		if err := add(args[1], port); err != nil {
			return fmt.Errorf("adding %s server %s port %d: %w", args[0], args[1], port, err)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown transport %q (want tipc, tcp, udp or sctp)", errUsage, args[0])
}

// parsePort parses a port number.
func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("%w: bad port %q", errUsage, s)
	}
	return p, nil
}

// write prints the counters of every server in the classic format
// (statsfmt.Write).
func write(w io.Writer, stats [][]uint64) error {
	return statsfmt.Write(w, stats)
}
