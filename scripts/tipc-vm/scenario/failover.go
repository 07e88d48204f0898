package main

// Scenarios of the self-healing TIPC group (issue 14): automatic failover
// after SIGKILL of the active and after its node's links are cut, two
// mirrors, the old active rejoining and catching up, two actives meeting.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
)

// Service types of the role names (cluster.ActiveType, cluster.MirrorType),
// as literals so that the checks do not trust the package under test.
const (
	activeType = 26002
	mirrorType = 26003
)

// names counts the sockets bound to {typ, port} in node 1's name table.
func names(ctx context.Context, typ, port int) (int, error) {
	out, err := nodeCmd(ctx, 1, tipcTool, "nametable", "show").Output()
	if err != nil {
		return 0, fmt.Errorf("tipc nametable show: %w", err)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 6 && f[0] == strconv.Itoa(typ) && f[1] == strconv.Itoa(port) {
			n++
		}
	}
	return n, nil
}

// waitNames waits until exactly want sockets bind {typ, port}.
func waitNames(ctx context.Context, typ, port, want int) error {
	for {
		n, err := names(ctx, typ, port)
		if err != nil {
			return err
		}
		if n == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d binding(s) of {%d,%d}, have %d: %w", want, typ, port, n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logHas reports whether the daemon's log holds s.
func (d *daemon) logHas(s string) bool {
	b, _ := os.ReadFile(d.log)
	return strings.Contains(string(b), s)
}

// waitLog waits until the daemon's log holds s.
func waitLog(ctx context.Context, d *daemon, s string) error {
	for !d.logHas(s) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never logged %q: %w", d.name, s, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// loadRun is a write load running in the background on a node.
type loadRun struct {
	acks string // file of the acknowledgement times
	out  string
	err  error
	done chan struct{}
}

// startLoad runs "wload" on node n in the background.
func (e *env) startLoad(ctx context.Context, n int, name string, args ...string) *loadRun {
	l := &loadRun{acks: filepath.Join(e.tmp, name+".acks"), done: make(chan struct{})}
	args = append(args, "-acks", l.acks, "-model", filepath.Join(e.tmp, name+".model"))
	go func() {
		l.out, l.err = e.runOn(ctx, n, "wload", args...)
		close(l.done)
	}()
	return l
}

// firstAckAfter returns the first acknowledgement time after t.
func (l *loadRun) firstAckAfter(t time.Time) (time.Time, error) {
	b, err := os.ReadFile(l.acks)
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Fields(string(b)) {
		ns, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", l.acks, err)
		}
		if at := time.Unix(0, ns); at.After(t) {
			return at, nil
		}
	}
	return time.Time{}, errors.New("no request was answered after the failure: clients did not resume")
}

// checkModel checks that every pair of a load's model is in dump, and
// every key it deleted is not.
func checkModel(model, dump string) (int, error) {
	m, err := readDump(model)
	if err != nil {
		return 0, err
	}
	d, err := readDump(dump)
	if err != nil {
		return 0, err
	}
	for k, v := range m {
		got, ok := d[k]
		switch {
		case len(v) == 0 && ok:
			return 0, fmt.Errorf("key %q deleted with an acknowledged del is back (%q)", k, got)
		case len(v) > 0 && !ok:
			return 0, fmt.Errorf("acknowledged sync write of %q lost", k)
		case len(v) > 0 && string(got) != string(v):
			return 0, fmt.Errorf("acknowledged sync write of %q: holds %q, want %q", k, got, v)
		}
	}
	return len(m), nil
}

// cmdWload writes in a loop for a while, each request retried until it is
// answered, and records when each was acknowledged and what the store must
// hold. Mode "set" does sync sets; "mixed" adds sync deletes of earlier
// keys and incr of counters.
func cmdWload(args []string) error {
	fs := flag.NewFlagSet("wload", flag.ExitOnError)
	port := fs.Int("port", 10, "TIPC port")
	dur := fs.Duration("dur", 5*time.Second, "how long to write")
	mode := fs.String("mode", "set", "set or mixed")
	prefix := fs.String("prefix", "k", "key prefix")
	try := fs.Duration("try", 150*time.Millisecond, "time limit of one try")
	acks := fs.String("acks", "", "file for the acknowledgement times")
	modelPath := fs.String("model", "", "file for the pairs the store must hold (empty value: deleted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := libnmdb.New(libnmdb.Options{Timeout: *try})
	defer c.Close()
	if err := c.AddTIPCServer(*port); err != nil {
		return fmt.Errorf("add tipc %d: %w", *port, err)
	}
	model := map[string][]byte{}
	var times []string
	retries, longest := 0, time.Duration(0)
	do := func(f func(ctx context.Context) error) {
		start := time.Now()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), *try)
			err := f(ctx)
			cancel()
			if err == nil {
				break
			}
			retries++
		}
		now := time.Now()
		longest = max(longest, now.Sub(start))
		times = append(times, strconv.FormatInt(now.UnixNano(), 10))
	}
	key := func(i int) []byte { return fmt.Appendf(nil, "%s-%05d", *prefix, i) }
	val := func(i int) []byte { return fmt.Appendf(nil, "value %d of %s", i, *prefix) }
	if *mode == "mixed" {
		for j := range 3 {
			ck := fmt.Appendf(nil, "%s-ctr%d", *prefix, j)
			do(func(ctx context.Context) error { return c.SetSync(ctx, ck, counter(0)) })
		}
	}
	begin := time.Now()
	i := 0
	for ; time.Since(begin) < *dur; i++ {
		switch {
		case *mode == "mixed" && i%4 == 2:
			k := key(i - 2)
			do(func(ctx context.Context) error {
				err := c.DelSync(ctx, k)
				if errors.Is(err, libnmdb.ErrNotFound) {
					return nil // a try whose reply was lost did it
				}
				return err
			})
			model[string(k)] = nil
		case *mode == "mixed" && i%4 == 3:
			ck := fmt.Appendf(nil, "%s-ctr%d", *prefix, i%3)
			do(func(ctx context.Context) error { _, err := c.Incr(ctx, ck, 1); return err })
		default:
			k, v := key(i), val(i)
			do(func(ctx context.Context) error { return c.SetSync(ctx, k, v) })
			model[string(k)] = v
		}
	}
	fmt.Printf("wload: %d requests acknowledged, %d tries retried, longest wait %.0f ms\n", len(times), retries, longest.Seconds()*1000)
	if err := os.WriteFile(*acks, []byte(strings.Join(times, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	// Deleted keys are written with an empty value.
	return writeDump(*modelPath, model)
}

// killAt kills the daemon with SIGKILL and returns when.
func killAt(d *daemon) (time.Time, error) {
	at := time.Now()
	if err := d.signal(syscall.SIGKILL); err != nil {
		return at, err
	}
	<-d.done
	return at, nil
}

// promotedAt returns when the daemon's log says it was promoted.
func (d *daemon) promotedAt() (time.Time, error) {
	b, err := os.ReadFile(d.log)
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "promoted to active") {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		return time.Parse(time.RFC3339Nano, ts)
	}
	return time.Time{}, fmt.Errorf("%s was not promoted", d.name)
}

// failover prints how long after the failure at t the daemon d was
// promoted, and the first request the new active answered after that: the
// old active answers nothing once d is active.
func (e *env) failover(what string, t time.Time, d *daemon, load *loadRun) error {
	at, err := d.promotedAt()
	if err != nil {
		return err
	}
	first, err := load.firstAckAfter(at)
	if err != nil {
		return err
	}
	e.logf("PROMOTION after %s: %s promoted after %.0f ms; first request answered by it %.0f ms after the %s",
		what, d.name, at.Sub(t).Seconds()*1000, first.Sub(t).Seconds()*1000, what)
	return nil
}

// promoted returns the daemons whose log says they were promoted.
func promoted(ds ...*daemon) []string {
	var p []string
	for _, d := range ds {
		if d.logHas("promoted to active") {
			p = append(p, d.name)
		}
	}
	return p
}

// scenarioKill is scenario 7: SIGKILL of the active under a write load
// with two mirrors; then the old active rejoins and catches up.
func scenarioKill(ctx context.Context, e *env) error {
	const port = 30
	p := strconv.Itoa(port)
	adb := filepath.Join(e.tmp, "s7-a.db")
	a, err := e.startDaemon("s7-a", 2, "-l", p, "-d", adb, "-o", "-")
	if err != nil {
		return err
	}
	if err := waitNames(ctx, activeType, port, 1); err != nil {
		return err
	}
	m1, err := e.startDaemon("s7-m1", 3, "-p", "-l", p, "-d", filepath.Join(e.tmp, "s7-m1.db"), "-o", "-")
	if err != nil {
		return err
	}
	m2, err := e.startDaemon("s7-m2", 1, "-p", "-l", p, "-d", filepath.Join(e.tmp, "s7-m2.db"), "-o", "-")
	if err != nil {
		return err
	}
	if err := waitNames(ctx, mirrorType, port, 2); err != nil {
		return err
	}
	e.logf("active on node2, two caught-up mirrors on node3 and node1")

	load := e.startLoad(ctx, 1, "s7-kill", "-port", p, "-dur", "5s", "-prefix", "k")
	time.Sleep(2 * time.Second)
	killed, err := killAt(a)
	if err != nil {
		return err
	}
	<-load.done
	if load.err != nil {
		return load.err
	}
	if err := waitNames(ctx, activeType, port, 1); err != nil {
		return err
	}
	if err := waitNames(ctx, mirrorType, port, 1); err != nil {
		return err
	}
	pr := promoted(m1, m2)
	if len(pr) != 1 {
		return fmt.Errorf("promoted: %v, want exactly one mirror", pr)
	}
	e.logf("exactly one mirror promoted (%s); the other stays a mirror", pr[0])
	winner := m1
	if pr[0] == m2.name {
		winner = m2
	}
	if err := e.failover("SIGKILL", killed, winner, load); err != nil {
		return err
	}
	dump := filepath.Join(e.tmp, "s7-after-kill.dump")
	if _, err := e.runOn(ctx, 1, "dump", "-port", p, "-out", dump); err != nil {
		return err
	}
	n, err := checkModel(filepath.Join(e.tmp, "s7-kill.model"), dump)
	if err != nil {
		return err
	}
	e.logf("the new active holds all %d sync-acknowledged writes", n)

	// The old active comes back with --join while sets, deletes and incr
	// go on: it catches up and ends equal, key by key.
	load = e.startLoad(ctx, 1, "s7-rejoin", "-port", p, "-dur", "4s", "-mode", "mixed", "-prefix", "x")
	time.Sleep(500 * time.Millisecond)
	a2, err := e.startDaemon("s7-a-rejoin", 2, "--join", "-l", p, "-d", adb, "-o", "-")
	if err != nil {
		return err
	}
	<-load.done
	if load.err != nil {
		return load.err
	}
	if err := waitLog(ctx, a2, "caught up"); err != nil {
		return err
	}
	if err := waitNames(ctx, mirrorType, port, 2); err != nil {
		return err
	}
	e.logf("the old active rejoined as a mirror and caught up")
	activeDump := filepath.Join(e.tmp, "s7-active.dump")
	if _, err := e.runOn(ctx, 1, "dump", "-port", p, "-out", activeDump); err != nil {
		return err
	}
	if err := a2.stop(30 * time.Second); err != nil {
		return err
	}
	reopened, err := e.startDaemon("s7-a-reopened", 2, "-l", "31", "-d", adb, "-o", "-")
	if err != nil {
		return err
	}
	if err := waitNames(ctx, activeType, 31, 1); err != nil {
		return err
	}
	rejoinDump := filepath.Join(e.tmp, "s7-rejoined.dump")
	if _, err := e.runOn(ctx, 1, "dump", "-port", "31", "-out", rejoinDump); err != nil {
		return err
	}
	if err := compareDumps(activeDump, rejoinDump); err != nil {
		return fmt.Errorf("active vs rejoined old active: %w", err)
	}
	if _, err := checkModel(filepath.Join(e.tmp, "s7-rejoin.model"), rejoinDump); err != nil {
		return err
	}
	lines, err := countLines(activeDump)
	if err != nil {
		return err
	}
	e.logf("the rejoined old active equals the active key by key (%d pairs)", lines)
	return stopAll(m1, m2, reopened)
}

// scenarioLinks is scenario 8: the active node's links cut under a write
// load, then healed: two actives meet and one steps down.
func scenarioLinks(ctx context.Context, e *env) error {
	const port = 40
	p := strconv.Itoa(port)
	// Link loss is noticed after the link tolerance (TIPC's default is
	// 1.5 s); a group that wants failover within a second sets it lower.
	for n := 1; n <= 3; n++ {
		if out, err := nodeCmd(ctx, n, tipcTool, "bearer", "set", "tolerance", "300", "media", "eth", "device", "eth0").CombinedOutput(); err != nil {
			return fmt.Errorf("node%d: tipc bearer set tolerance: %v: %s", n, err, out)
		}
	}
	a, err := e.startDaemon("s8-a", 2, "-l", p, "-d", filepath.Join(e.tmp, "s8-a.db"), "-o", "-")
	if err != nil {
		return err
	}
	if err := waitNames(ctx, activeType, port, 1); err != nil {
		return err
	}
	m, err := e.startDaemon("s8-m", 3, "-p", "-l", p, "-d", filepath.Join(e.tmp, "s8-m.db"), "-o", "-")
	if err != nil {
		return err
	}
	if err := waitNames(ctx, mirrorType, port, 1); err != nil {
		return err
	}
	load := e.startLoad(ctx, 1, "s8-cut", "-port", p, "-dur", "8s", "-prefix", "c")
	time.Sleep(2 * time.Second)
	// Whatever happens, node2 is linked again for the next scenarios.
	defer exec.Command(ipTool, "link", "set", "veth2", "up").Run()
	// node2's port on the bridge goes down: its packets reach no other
	// node, and the others learn of it only when the link times out.
	cut := time.Now()
	if out, err := exec.CommandContext(ctx, ipTool, "link", "set", "veth2", "down").CombinedOutput(); err != nil {
		return fmt.Errorf("cutting node2's links: %v: %s", err, out)
	}
	if err := waitLog(ctx, m, "promoted to active"); err != nil {
		return err
	}
	<-load.done
	if load.err != nil {
		return load.err
	}
	if err := e.failover("link cut", cut, m, load); err != nil {
		return err
	}
	dump := filepath.Join(e.tmp, "s8-after-cut.dump")
	if _, err := e.runOn(ctx, 1, "dump", "-port", p, "-out", dump); err != nil {
		return err
	}
	n, err := checkModel(filepath.Join(e.tmp, "s8-cut.model"), dump)
	if err != nil {
		return err
	}
	e.logf("the new active holds all %d sync-acknowledged writes", n)

	// Heal: the old active, cut off, still thinks it is active.
	if out, err := exec.CommandContext(ctx, ipTool, "link", "set", "veth2", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("healing node2's links: %v: %s", err, out)
	}
	var down *daemon
	for down == nil {
		for _, d := range []*daemon{a, m} {
			if d.logHas("stepping down") {
				down = d
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("two actives met and none stepped down: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if down != a || m.logHas("stepping down") {
		return fmt.Errorf("%s stepped down, want only the old active (term 1; the promoted mirror has term 2)", down.name)
	}
	e.logf("partition healed: the old active %s stepped down, the promoted mirror kept answering", down.name)
	if err := waitNames(ctx, activeType, port, 1); err != nil {
		return err
	}
	for range 5 {
		out, err := e.runOn(ctx, 1, "replies", "-port", p, "-wait", "500ms")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "replies: 1") {
			return fmt.Errorf("after the step-down a request got %q, want 1 reply", lastLine(out))
		}
	}
	if err := waitLog(ctx, down, "caught up"); err != nil {
		return err
	}
	e.logf("one reply per request; %s caught up as a mirror", down.name)
	dump = filepath.Join(e.tmp, "s8-after-heal.dump")
	if _, err := e.runOn(ctx, 1, "dump", "-port", p, "-out", dump); err != nil {
		return err
	}
	if _, err := checkModel(filepath.Join(e.tmp, "s8-cut.model"), dump); err != nil {
		return fmt.Errorf("after the partition healed: %w", err)
	}
	e.logf("the active still holds every acknowledged write")
	return stopAll(a, m)
}

// scenarioTwoActives is scenario 9: a second server started active on a
// port that has one refuses to start; with --join it joins as a mirror.
func scenarioTwoActives(ctx context.Context, e *env) error {
	const port = 45
	p := strconv.Itoa(port)
	a, err := e.startDaemon("s9-a", 2, "-l", p, "-d", filepath.Join(e.tmp, "s9-a.db"), "-o", "-")
	if err != nil {
		return err
	}
	if err := waitNames(ctx, activeType, port, 1); err != nil {
		return err
	}
	b, err := e.startDaemon("s9-b", 3, "-l", p, "-d", filepath.Join(e.tmp, "s9-b.db"), "-o", "-")
	if err != nil {
		return err
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return errors.New("a second active server on the port did not refuse to start")
	}
	if b.err == nil || !b.logHas("already has an active server") {
		return fmt.Errorf("second active: exit %v, log: %s", b.err, b.logTail(3))
	}
	e.logf("the second active refused: %s", lastLine(b.logTail(1)))
	e.daemons = slices.DeleteFunc(e.daemons, func(d *daemon) bool { return d == b })
	j, err := e.startDaemon("s9-join", 3, "--join", "-l", p, "-d", filepath.Join(e.tmp, "s9-b.db"), "-o", "-")
	if err != nil {
		return err
	}
	if err := waitNames(ctx, mirrorType, port, 1); err != nil {
		return err
	}
	if n, err := names(ctx, activeType, port); err != nil || n != 1 {
		return fmt.Errorf("%d actives after --join (%v)", n, err)
	}
	e.logf("with --join it joined as a mirror")
	return stopAll(j, a)
}
