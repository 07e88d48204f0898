package libnmdb_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/internal/testkit"
	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
)

// daemonEnv, when set to "ADDRESS DBDIR", turns the test binary into a
// server process listening on ADDRESS (see TestMain).
const daemonEnv = "NMDB_LIBNMDB_TEST_DAEMON"

func TestMain(m *testing.M) {
	if v := os.Getenv(daemonEnv); v != "" {
		os.Exit(runDaemon(v))
	}
	os.Exit(m.Run())
}

// runDaemon serves TCP on the address of v, prints it, and stops on
// SIGTERM.
func runDaemon(v string) int {
	addr, dir, _ := strings.Cut(v, " ")
	s, err := nmdbtest.StartAt("tcp", addr, nmdb.Config{DBPath: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(s.Addr)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	<-sigs
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startDaemon runs a server process on addr with its database in dir; it
// is killed when the test ends.
func startDaemon(t *testing.T, addr netip.AddrPort, dir string) *exec.Cmd {
	t.Helper()
	cmd, line := testkit.StartSelf(t, daemonEnv+"="+addr.String()+" "+dir)
	if line != addr.String() {
		t.Fatalf("server process: %q, want %s", line, addr)
	}
	return cmd
}

// freePort returns a loopback address where nothing listens now.
func freePort(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := l.Addr().(*net.TCPAddr).AddrPort()
	l.Close()
	return ap
}

// result is the outcome of one call, as the test counts it.
type result int

const (
	resOK      result = iota
	resTimeout        // no reply before the deadline
	resDown           // failed at once: server marked down
	resOther          // connection refused or lost
)

func classify(err error) result {
	switch {
	case err == nil:
		return resOK
	case errors.Is(err, libnmdb.ErrServerDown):
		return resDown
	case errors.Is(err, context.DeadlineExceeded):
		return resTimeout
	}
	return resOther
}

// loop makes calls over keys user:N, one at a time, spread over every
// server of c, and keeps the results of the calls to the server named
// watch. Calls to the other servers must all succeed.
type loop struct {
	t     *testing.T
	c     *libnmdb.Client
	watch string
	i     int
	seq   []result // results of the calls to watch, in order
	other int      // calls to the other servers
}

// until runs calls until done says so about the results of the calls to
// watch since the loop was last asked, which it returns; it fails the test
// if that takes more than 30 s.
func (l *loop) until(what string, done func(seq []result) bool) []result {
	l.t.Helper()
	start := len(l.seq)
	names := l.c.Servers()
	limit := time.Now().Add(30 * time.Second)
	for !done(l.seq[start:]) {
		if time.Now().After(limit) {
			l.t.Fatalf("%s: not reached in 30 s; calls to %s since: %v", what, l.watch, l.seq[start:])
		}
		key := fmt.Appendf(nil, "user:%d", l.i)
		l.i++
		err := l.c.CacheSet(context.Background(), key, key)
		if names[l.c.Shard(key)] != l.watch {
			if err != nil {
				l.t.Fatalf("%s: call to another server failed: %v", what, err)
			}
			l.other++
			continue
		}
		l.seq = append(l.seq, classify(err))
		time.Sleep(time.Millisecond) // spare the machine while waiting
	}
	return l.seq[start:]
}

func count(seq []result, r result) int {
	n := 0
	for _, x := range seq {
		if x == r {
			n++
		}
	}
	return n
}

// TestServersComeAndGo runs a loop of calls over two in-process servers
// and a server process that is not running when it is added, then starts,
// is stopped with SIGSTOP, continued, killed with SIGKILL and started
// again. Calls to it fail at once while it is marked down (after at most
// one timeout per back-off period), calls to the others all succeed
// throughout, and it is used again once back.
func TestServersComeAndGo(t *testing.T) {
	a, b := startServer(t, "tcp", nmdb.Config{}), startServer(t, "tcp", nmdb.Config{})
	addr, dir := freePort(t), t.TempDir()
	c := newClient(t, libnmdb.Options{Timeout: 300 * time.Millisecond, Backoff: time.Second}, a, b)
	// Added while nothing listens there: adding does not fail.
	if err := c.AddTCPServer(addr.Addr().String(), int(addr.Port())); err != nil {
		t.Fatalf("adding a server that is down: %v", err)
	}
	l := &loop{t: t, c: c, watch: "tcp " + addr.String()}

	// Down from the start: refused at once, then skipped; no timeouts.
	seq := l.until("down before it ever ran", func(s []result) bool { return count(s, resDown) >= 5 })
	if seq[0] != resOther || count(seq, resTimeout) != 0 {
		t.Fatalf("calls to a server not running: %v, want a refusal, then fast failures", seq)
	}
	if got := c.Down(); len(got) != 1 || got[0] != l.watch {
		t.Fatalf("Down() = %q", got)
	}

	cmd := startDaemon(t, addr, dir)
	l.until("started", func(s []result) bool { return count(s, resOK) >= 5 })
	if got := c.Down(); len(got) != 0 {
		t.Fatalf("Down() = %q once it runs", got)
	}

	// Stopped: the first call times out, then calls fail at once, except
	// one probe per back-off period, which times out too.
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	seq = l.until("stopped", func(s []result) bool { return count(s, resTimeout) >= 3 })
	// The signal takes effect a moment after kill(2) returns: a call or
	// two may still be answered.
	for len(seq) > 0 && seq[0] == resOK {
		seq = seq[1:]
	}
	if seq[0] != resTimeout {
		t.Fatalf("first failed call to the stopped server: %v", seq)
	}
	for i := 1; i < len(seq); i++ {
		if seq[i] == resTimeout && seq[i-1] != resDown {
			t.Fatalf("calls to the stopped server: %v: two timeouts without a back-off between", seq)
		}
		if seq[i] == resOther || seq[i] == resOK {
			t.Fatalf("calls to the stopped server: %v", seq)
		}
	}
	t.Logf("stopped: %d timeouts, %d fast failures", count(seq, resTimeout), count(seq, resDown))

	// Continued: used again, after at most the probe under way.
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	seq = l.until("continued", func(s []result) bool { return len(s) > 0 && s[len(s)-1] == resOK })
	if count(seq, resTimeout) > 1 {
		t.Fatalf("after SIGCONT: %v", seq)
	}
	t.Logf("continued: used again after %v (%d calls turned away)", time.Since(start).Round(time.Millisecond), count(seq, resDown))

	// Killed: the connection breaks, later calls are refused or turned
	// away at once; nothing waits for a timeout.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	seq = l.until("killed", func(s []result) bool { return count(s, resDown) >= 20 })
	if count(seq, resTimeout) != 0 || count(seq, resOK) != 0 {
		t.Fatalf("calls to the killed server: %v", seq)
	}

	// Started again on the same address and database.
	startDaemon(t, addr, dir)
	start = time.Now()
	seq = l.until("restarted", func(s []result) bool { return len(s) > 0 && s[len(s)-1] == resOK })
	if count(seq, resTimeout) != 0 {
		t.Fatalf("after the restart: %v", seq)
	}
	t.Logf("restarted: used again after %v (%d calls turned away); %d calls to the other servers, all answered",
		time.Since(start).Round(time.Millisecond), count(seq, resDown), l.other)
}

// TestDownFailsFast: a call to a server marked down fails with
// ErrServerDown, naming the server and the failure, without sending
// anything.
func TestDownFailsFast(t *testing.T) {
	addr := freePort(t)
	c := libnmdb.New(libnmdb.Options{Backoff: time.Hour})
	defer c.Close()
	if err := c.AddTCPServer("127.0.0.1", int(addr.Port())); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	_, err := c.Get(ctx, []byte("k"))
	if err == nil || errors.Is(err, libnmdb.ErrServerDown) {
		t.Fatalf("first call: %v, want the refusal", err)
	}
	for range 3 {
		_, err = c.Get(ctx, []byte("k"))
		if !errors.Is(err, libnmdb.ErrServerDown) || !strings.Contains(err.Error(), addr.String()) || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("call to a server marked down: %v", err)
		}
	}
	t.Log(err)
}
