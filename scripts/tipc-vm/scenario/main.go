// Command scenario runs nmdb's multi-node TIPC and SCTP scenarios inside the
// test VM that scripts/tipc-vm/run.sh boots.
//
// The guest script makes a cluster of network namespaces node1..nodeN, then
// runs
//
//	scenario run -nmdb /t/nmdb [-ctest /t/nmdb-c-tipc]
//
// in the first namespace. "run" starts real nmdb daemons on the nodes with
// `ip netns exec`, runs the client side of each scenario as a child process
// of this same program on another node (the subcommands below), prints one
// PASS, FAIL or SKIP line per scenario and exits non-zero when a scenario
// failed.
//
// Subcommands used by run (each runs inside one node's namespace):
//
//	basic     set/get/del/cas/incr in every mode against one server
//	after     check what a restarted server kept on disk after basic
//	shard     the three-server sharding check of scenario 2
//	load      the raw-socket workload of scenario 3, counting replies
//	replies   send one get and count the replies that come back
//	dump      walk one server's store with firstkey/nextkey
//	bad       malformed and unanswerable datagrams against one server
//	wload     a write load retried through failovers (scenarios 7, 8)
package main

import (
	"fmt"
	"os"
)

// usage is printed for a missing or unknown subcommand.
const usage = `usage: scenario run|basic|after|shard|load|replies|dump|bad|wload [flags]
run 'scenario SUBCOMMAND -h' for the flags of one subcommand`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"run":     cmdRun,
		"basic":   cmdBasic,
		"after":   cmdAfter,
		"shard":   cmdShard,
		"load":    cmdLoad,
		"replies": cmdReplies,
		"dump":    cmdDump,
		"bad":     cmdBad,
		"wload":   cmdWload,
	}
	f, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err := f(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "scenario %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
