package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// env is the state of one "run": paths of the programs under test and the
// daemons started by the scenario in progress.
type env struct {
	self    string // this program
	nmdb    string // the nmdb daemon
	ctest   string // C test program linked against libnmdb.so, or ""
	cskip   string // why there is no C test program
	tmp     string // directory for stores, logs and dumps
	sctp    string // SCTP address prefix of the nodes, e.g. 169.254.10
	daemons []*daemon
}

// logf prints a progress line.
func (e *env) logf(format string, args ...any) {
	fmt.Printf("  "+format+"\n", args...)
}

// cleanup kills the daemons a scenario left running.
func (e *env) cleanup() {
	for _, d := range e.daemons {
		d.kill()
	}
	e.daemons = nil
}

// failLogs prints the logs of the scenario's daemons.
func (e *env) failLogs() {
	for _, d := range e.daemons {
		fmt.Printf("  --- log of %s (node%d), last lines:\n%s\n", d.name, d.node, indent(d.logTail(40)))
	}
}

// errSkip marks a scenario that could not run; it never counts as a pass.
type errSkip struct{ reason string }

// Error returns the reason the scenario was skipped.
func (s errSkip) Error() string { return s.reason }

// scenario is one numbered check.
type scenario struct {
	num  int
	desc string
	run  func(ctx context.Context, e *env) error
}

// cmdRun runs the scenarios from the first namespace and reports on each.
func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	e := &env{}
	fs.StringVar(&e.nmdb, "nmdb", "/t/nmdb", "nmdb daemon binary")
	fs.StringVar(&e.ctest, "ctest", "", "C test program for scenario 5 (empty: skip it)")
	fs.StringVar(&e.cskip, "cskip", "no C test program was built", "reason reported when -ctest is empty")
	fs.StringVar(&e.tmp, "tmp", "/tmp/scenarios", "directory for stores and logs")
	fs.StringVar(&e.sctp, "net", "169.254.10", "first three octets of the nodes' IPv4 addresses")
	only := fs.String("only", "", "comma-separated scenario numbers to run (default all)")
	timeout := fs.Duration("timeout", 8*time.Minute, "time limit of each scenario")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own path: %w", err)
	}
	e.self = self
	if err := os.MkdirAll(e.tmp, 0o755); err != nil {
		return fmt.Errorf("make %s: %w", e.tmp, err)
	}

	all := []scenario{
		{1, "TIPC client on node1, server on node2: set/get/del in normal, sync and cache-only modes, cas, incr, restart", scenarioTIPC},
		{2, "3 servers on TIPC ports 11/12/13 on 3 nodes: 10000 keys each on exactly the predicted server", scenarioShard},
		{3, "active server and passive mirror on TIPC port 10: one reply per request, stores equal after SIGUSR2", scenarioMirror},
		{4, "SCTP client on node1, server on node2: scenario 1 over SCTP", scenarioSCTP},
		{5, "C program linked against libnmdb.so over TIPC across nodes", scenarioC},
		{6, "bad datagrams over TIPC (short, wrong version, unknown, broken, oversized, undeliverable replies): answered per spec or dropped, server keeps serving", scenarioBad},
		{7, "SIGKILL of the active under a write load, two mirrors: one promoted, writes kept; the old active rejoins, catches up, ends equal", scenarioKill},
		{8, "the active node's links cut under a write load: the mirror promoted; healed: one active steps down, one reply per request", scenarioLinks},
		{9, "two actives on one port: the second refuses to start; with --join it joins as a mirror", scenarioTwoActives},
	}
	var want []int
	if *only != "" {
		for _, s := range strings.Split(*only, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("bad -only %q: %w", *only, err)
			}
			want = append(want, n)
		}
	}

	var pass, fail, skip int
	var lines []string
	for _, sc := range all {
		if want != nil && !slices.Contains(want, sc.num) {
			continue
		}
		fmt.Printf("=== scenario %d: %s\n", sc.num, sc.desc)
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		start := time.Now()
		err := sc.run(ctx, e)
		cancel()
		took := time.Since(start).Seconds()
		var sk errSkip
		var line string
		switch {
		case err == nil:
			pass++
			line = fmt.Sprintf("PASS scenario %d: %s (%.1fs)", sc.num, sc.desc, took)
		case errors.As(err, &sk):
			skip++
			line = fmt.Sprintf("SKIP scenario %d: %s", sc.num, sk.reason)
		default:
			fail++
			line = fmt.Sprintf("FAIL scenario %d: %v (%.1fs)", sc.num, err, took)
			e.failLogs()
		}
		e.cleanup()
		fmt.Println(line)
		lines = append(lines, line)
	}
	fmt.Println("=== summary")
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Printf("scenarios: %d passed, %d failed, %d skipped\n", pass, fail, skip)
	if fail > 0 {
		return fmt.Errorf("%d scenario(s) failed", fail)
	}
	return nil
}

// stopAll stops the daemons in order, each with SIGTERM, and reports the
// first that did not exit cleanly.
func stopAll(ds ...*daemon) error {
	var first error
	for _, d := range ds {
		if err := d.stop(30 * time.Second); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// scenarioBasic is scenarios 1 and 4: a server on node2, a client on node1
// doing every operation in every mode, then a restart of the server on the
// same store and a check of what it kept. server are the daemon flags that
// choose the transport; client is the client's -server flag.
func scenarioBasic(ctx context.Context, e *env, name string, server []string, client string, tipcPort int) error {
	db := filepath.Join(e.tmp, name+".db")
	args := append([]string{"-d", db, "-o", "-"}, server...)
	s, err := e.startDaemon(name, 2, args...)
	if err != nil {
		return err
	}
	if tipcPort > 0 {
		nodes, err := waitBindings(ctx, tipcPort, 1)
		if err != nil {
			return err
		}
		e.logf("TIPC port %d is bound on %v", tipcPort, nodes)
	}
	if _, err := e.runOn(ctx, 1, "basic", "-server", client); err != nil {
		return err
	}
	if err := s.stop(30 * time.Second); err != nil {
		return err
	}
	if tipcPort > 0 {
		if _, err := waitBindings(ctx, tipcPort, 0); err != nil {
			return err
		}
	}
	s2, err := e.startDaemon(name+"-restarted", 2, args...)
	if err != nil {
		return err
	}
	if tipcPort > 0 {
		if _, err := waitBindings(ctx, tipcPort, 1); err != nil {
			return err
		}
	}
	if _, err := e.runOn(ctx, 1, "after", "-server", client); err != nil {
		return err
	}
	if err := s2.stop(30 * time.Second); err != nil {
		return err
	}
	if tipcPort > 0 {
		_, err := waitBindings(ctx, tipcPort, 0)
		return err
	}
	return nil
}

// scenarioTIPC is scenario 1: the default TIPC port, no TCP needed.
func scenarioTIPC(ctx context.Context, e *env) error {
	return scenarioBasic(ctx, e, "s1", nil, "tipc:10", 10)
}

// scenarioSCTP is scenario 4: the server listens for SCTP on node2's
// address only; TIPC is moved off the default port so that nothing else can
// answer.
func scenarioSCTP(ctx context.Context, e *env) error {
	addr := e.sctp + ".2"
	return scenarioBasic(ctx, e, "s4", []string{"-l", "40", "-s", "26010", "-S", addr},
		"sctp:"+addr+":26010", 0)
}

// scenarioShard is scenario 2.
func scenarioShard(ctx context.Context, e *env) error {
	var ds []*daemon
	for i, port := range []int{11, 12, 13} {
		name := "s2-" + strconv.Itoa(port)
		d, err := e.startDaemon(name, i+1, "-l", strconv.Itoa(port), "-d", filepath.Join(e.tmp, name+".db"), "-o", "-")
		if err != nil {
			return err
		}
		ds = append(ds, d)
	}
	for _, port := range []int{11, 12, 13} {
		nodes, err := waitBindings(ctx, port, 1)
		if err != nil {
			return err
		}
		e.logf("TIPC port %d is bound on %v", port, nodes)
	}
	args := []string{"-ports", "13,11,12", "-n", "10000"}
	// The client runs on node3, away from two of the three servers.
	if _, err := e.runOn(ctx, 3, "shard", args...); err != nil {
		return err
	}
	return stopAll(ds...)
}

// scenarioMirror is scenario 3.
func scenarioMirror(ctx context.Context, e *env) error {
	if _, err := waitBindings(ctx, 10, 0); err != nil {
		return fmt.Errorf("TIPC port 10 still in use before the scenario: %w", err)
	}
	adb := filepath.Join(e.tmp, "s3-active.db")
	mdb := filepath.Join(e.tmp, "s3-mirror.db")
	active, err := e.startDaemon("s3-active", 2, "-l", "10", "-d", adb, "-o", "-")
	if err != nil {
		return err
	}
	mirror, err := e.startDaemon("s3-mirror", 3, "-p", "-l", "10", "-d", mdb, "-o", "-")
	if err != nil {
		return err
	}
	nodes, err := waitBindings(ctx, 10, 2)
	if err != nil {
		return err
	}
	e.logf("TIPC port 10 is bound on %v", nodes)

	// The workload, from node1, with the model of what the store must hold.
	expected := filepath.Join(e.tmp, "s3-expected.dump")
	if _, err := e.runOn(ctx, 1, "load", "-port", "10", "-ops", "1000", "-out", expected); err != nil {
		return err
	}

	// SIGUSR2 turns the mirror active: a get to port 10 now gets two
	// replies. The signal is handled asynchronously, so ask a few times.
	if err := mirror.signal(syscall.SIGUSR2); err != nil {
		return err
	}
	var two bool
	for try := 0; try < 20 && !two; try++ {
		out, err := e.runOn(ctx, 1, "replies", "-port", "10", "-wait", "1s")
		if err != nil {
			return err
		}
		two = strings.Contains(out, "replies: 2")
	}
	if !two {
		return errors.New("after SIGUSR2 the mirror does not answer: a get to port 10 did not get 2 replies")
	}
	e.logf("after SIGUSR2 both servers answer on port 10")

	// Stop the active server; the former mirror alone holds port 10.
	if err := active.stop(30 * time.Second); err != nil {
		return err
	}
	if _, err := waitBindings(ctx, 10, 1); err != nil {
		return err
	}
	mirrorDump := filepath.Join(e.tmp, "s3-mirror.dump")
	if _, err := e.runOn(ctx, 1, "dump", "-port", "10", "-out", mirrorDump); err != nil {
		return err
	}
	// Reopen the stopped server's store on another port to walk it.
	reopened, err := e.startDaemon("s3-active-reopened", 2, "-l", "21", "-d", adb, "-o", "-")
	if err != nil {
		return err
	}
	if _, err := waitBindings(ctx, 21, 1); err != nil {
		return err
	}
	activeDump := filepath.Join(e.tmp, "s3-active.dump")
	if _, err := e.runOn(ctx, 1, "dump", "-port", "21", "-out", activeDump); err != nil {
		return err
	}
	if err := compareDumps(activeDump, mirrorDump); err != nil {
		return fmt.Errorf("active vs mirror: %w", err)
	}
	if err := compareDumps(expected, activeDump); err != nil {
		return fmt.Errorf("workload model vs active: %w", err)
	}
	n, err := countLines(activeDump)
	if err != nil {
		return err
	}
	e.logf("active and mirror stores hold the same %d pairs, as the workload predicts", n)
	return stopAll(mirror, reopened)
}

// scenarioC is scenario 5.
func scenarioC(ctx context.Context, e *env) error {
	if e.ctest == "" {
		return errSkip{e.cskip}
	}
	s, err := e.startDaemon("s5", 2, "-l", "50", "-d", filepath.Join(e.tmp, "s5.db"), "-o", "-")
	if err != nil {
		return err
	}
	if _, err := waitBindings(ctx, 50, 1); err != nil {
		return err
	}
	cmd := nodeCmd(ctx, 1, e.ctest, "50")
	out, err := cmd.CombinedOutput()
	text := strings.TrimRight(string(out), "\n")
	if text != "" {
		e.logf("%s", indent(text))
	}
	if err != nil {
		return fmt.Errorf("the C program on node1 failed (%v): %s", err, lastLine(text))
	}
	return s.stop(30 * time.Second)
}

// scenarioBad is scenario 6: the bad input of the TIPC issue, sent across
// nodes to a real daemon.
func scenarioBad(ctx context.Context, e *env) error {
	s, err := e.startDaemon("s6", 2, "-l", "60", "-d", filepath.Join(e.tmp, "s6.db"), "-o", "-")
	if err != nil {
		return err
	}
	if _, err := waitBindings(ctx, 60, 1); err != nil {
		return err
	}
	if _, err := e.runOn(ctx, 1, "bad", "-port", "60"); err != nil {
		return err
	}
	return s.stop(30 * time.Second)
}
