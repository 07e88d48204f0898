package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/internal/daemon"
	"github.com/nmdb-go/nmdb/internal/sctp"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
	"github.com/nmdb-go/nmdb/tipc"
)

// port returns the port as a command line value.
func port(p int) string { return strconv.Itoa(p) }

func TestHelp(t *testing.T) {
	code, out := runDaemon(t, "-h")
	if code != 0 {
		t.Fatalf("nmdb -h: exit status %d, output:\n%s", code, out)
	}
	for _, want := range []string{
		"Usage: nmdb", "-b backend", "pebble, null", "-d dbpath", "-l lower", "-L upper",
		"-t port", "-T addr", "-u port", "-U addr", "-s port", "-S addr", "-c nobj", "-g percent",
		"-o logfile", "-i pidfile", "-f ", "-p ", "-r ", "-h ", `"off"`,
		"UDP is off unless -u or -U", "modprobe tipc", "SIGHUP", "SIGUSR1", "SIGUSR2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nmdb -h output lacks %q:\n%s", want, out)
		}
	}
}

func TestBadCommandLine(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-b", "qdbm"}, []string{`"qdbm"`, "classic", "pebble, null"}},
		{[]string{"-b", "tdb"}, []string{`"tdb"`, "classic", "pebble, null"}},
		{[]string{"-b", "bdb"}, []string{`"bdb"`, "classic", "pebble, null"}},
		{[]string{"-b", "tc"}, []string{`"tc"`, "classic", "pebble, null"}},
		{[]string{"-b", "leveldb"}, []string{`"leveldb"`, "classic", "pebble, null"}},
		{[]string{"-bsqlite"}, []string{`unknown backend "sqlite"`, "pebble, null"}},
		{[]string{"-t", "http"}, []string{"-t", `"http"`, "port number"}},
		{[]string{"-u", "70000"}, []string{"-u", "70000"}},
		{[]string{"-l", "-1"}, []string{"-l", "TIPC instance"}},
		{[]string{"-l", "20", "-L", "19"}, []string{"-L", "below"}},
		{[]string{"-c", "0"}, []string{"-c", "cache size"}},
		{[]string{"-c", "99999999999"}, []string{"-c", `"99999999999"`, "from 1 to 1048576"}},
		{[]string{"-m", "99999999999"}, []string{"cache memory", `"99999999999"`, "from 1 to 4194304"}},
		{[]string{"--max-conns", "0"}, []string{"--max-conns", "connection limit", `"0"`}},
		{[]string{"--max-conns=99999999999"}, []string{"--max-conns", "from 1 to"}},
		{[]string{"--idle-timeout", "soon"}, []string{"--idle-timeout", `"soon"`, "duration"}},
		{[]string{"--frame-timeout", "0"}, []string{"--frame-timeout", `"0"`}},
		{[]string{"--frame-timeout", "99999999999"}, []string{"--frame-timeout", "24h0m0s"}},
		{[]string{"-g", "0"}, []string{"-g", `"0"`, "percentage"}},
		{[]string{"-g", "lots"}, []string{"-g", `"lots"`, "percentage"}},
		{[]string{"-x"}, []string{"unknown option -x"}},
		{[]string{"-t"}, []string{"-t needs a value"}},
		{[]string{"database"}, []string{`unexpected argument "database"`}},
	} {
		// Without -f: a bad command line is reported before going to
		// the background, by the process that was started.
		args := append([]string{"-d", db, "-o", filepath.Join(t.TempDir(), "log")}, tc.args...)
		code, out := runDaemon(t, args...)
		if code != 2 {
			t.Errorf("nmdb %v: exit status %d, want 2; output:\n%s", tc.args, code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("nmdb %v: output lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a bad command line created the database directory (stat: %v)", err)
	}
}

func TestParseArgs(t *testing.T) {
	backends := []string{"pebble", "null"}
	o, err := parseArgs(nil, backends)
	if err != nil {
		t.Fatal(err)
	}
	if o.backend != "pebble" || o.dbPath != "database" || !o.tipc || o.tipcExplicit ||
		o.tipcLower != 10 || o.tipcUpper != 10 || !o.tcp || o.tcpPort != 26010 || o.tcpAddr != "" ||
		o.udp || !o.sctp || o.sctpExplicit || o.sctpPort != 26010 || o.cacheK != 128 || o.gcPercent != 0 ||
		o.logFile != "-" || o.pidFile != "" || o.foreground || o.passive || o.readOnly {
		t.Errorf("defaults: %+v", o)
	}
	o, err = parseArgs([]string{"-fpr", "-t26011", "-T", "127.0.0.1", "-U", "::1", "-l", "11", "-L13",
		"-s", "off", "-c", "2", "-g40", "-o", "log", "-i", "pid", "-b", "null", "-d", "db"}, backends)
	if err != nil {
		t.Fatal(err)
	}
	if !o.foreground || !o.passive || !o.readOnly || o.tcpPort != 26011 || o.tcpAddr != "127.0.0.1" ||
		!o.udp || o.udpPort != 26010 || o.udpAddr != "::1" || !o.tipc || !o.tipcExplicit ||
		o.tipcLower != 11 || o.tipcUpper != 13 || o.sctp || !o.sctpExplicit || o.cacheK != 2 || o.gcPercent != 40 ||
		o.logFile != "log" || o.pidFile != "pid" || o.backend != "null" || o.dbPath != "db" {
		t.Errorf("parsed: %+v", o)
	}
	for _, tc := range []struct {
		args                  []string
		tipc, tcp, udp, sctp  bool
		tipcExplicit, sctpExp bool
	}{
		{[]string{"-u", "26020"}, true, true, true, true, false, false},
		{[]string{"-u", "off", "-U", "127.0.0.1"}, true, true, false, true, false, false},
		{[]string{"-t", "off", "-l", "off", "-s", "OFF"}, false, false, false, false, true, true},
		{[]string{"-L", "off"}, false, true, false, true, true, false},
		{[]string{"-L", "12"}, true, true, false, true, true, false},
		{[]string{"-S", "127.0.0.1"}, true, true, false, true, false, true},
	} {
		o, err := parseArgs(tc.args, backends)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if o.tipc != tc.tipc || o.tcp != tc.tcp || o.udp != tc.udp || o.sctp != tc.sctp ||
			o.tipcExplicit != tc.tipcExplicit || o.sctpExplicit != tc.sctpExp {
			t.Errorf("%v: tipc %v tcp %v udp %v sctp %v explicit %v %v", tc.args,
				o.tipc, o.tcp, o.udp, o.sctp, o.tipcExplicit, o.sctpExplicit)
		}
	}
}

// TestForegroundTCP serves TCP in the foreground with the default TIPC,
// checks that UDP is off by default and that a missing TIPC is only a
// warning.
func TestForegroundTCP(t *testing.T) {
	tcp := freePort(t, "tcp")
	db := filepath.Join(t.TempDir(), "new", "db")
	p := startDaemon(t, "-d", db, "-t", port(tcp), "-T", "127.0.0.1", "-s", "off")

	c := dialTCP(t, tcp)
	c.MustSet("k", "v")
	c.MustGet("k", "v")
	if r := c.Get("absent"); r.Code != wire.CodeNotIn {
		t.Errorf("get of an absent key: %v, want NOTIN", r.Code)
	}
	if fi, err := os.Stat(db); err != nil || !fi.IsDir() {
		t.Errorf("database directory %s not created: %v", db, err)
	}

	pid := p.cmd.Process.Pid
	if n := sockets(t, pid, "udp"); n != 0 {
		t.Errorf("UDP is off by default, but the daemon has %d UDP sockets", n)
	}
	if n := sockets(t, pid, "tcp"); n == 0 {
		t.Errorf("no TCP socket found for the daemon")
	}

	c2, err := tipc.Listen(tipc.ServiceType, 1<<31, 1<<31)
	switch {
	case errors.Is(err, tipc.ErrUnsupported):
		p.waitLog(t, "TIPC not served")
	case err == nil:
		c2.Close()
		p.waitLog(t, "transport=tipc")
	default:
		t.Logf("TIPC check: %v", err)
	}
	p.stop(t)
	if !strings.Contains(readFile(p.log), `msg=stopped`) {
		t.Errorf("log lacks the stop message:\n%s", readFile(p.log))
	}
}

// TestUDPAndTCPOff serves UDP only (-u, -t off).
func TestUDPAndTCPOff(t *testing.T) {
	udp := freePort(t, "udp")
	p := startDaemon(t, "-d", filepath.Join(t.TempDir(), "db"), "-l", "off", "-s", "off",
		"-t", "off", "-u", port(udp), "-U", "127.0.0.1")
	c := dialUDP(t, udp)
	c.MustSet("udp-key", "udp-value")
	c.MustGet("udp-key", "udp-value")
	pid := p.cmd.Process.Pid
	if n := sockets(t, pid, "tcp"); n != 0 {
		t.Errorf("-t off, but the daemon has %d TCP sockets", n)
	}
	if n := sockets(t, pid, "udp"); n != 1 {
		t.Errorf("-u given: the daemon has %d UDP sockets, want 1", n)
	}
	p.stop(t)
}

func TestNothingToServe(t *testing.T) {
	code, out := runDaemon(t, "-f", "-d", filepath.Join(t.TempDir(), "db"), "-t", "off", "-l", "off", "-s", "off")
	if code != 1 || !strings.Contains(out, "no transport to serve") {
		t.Errorf("every transport off: exit status %d, output:\n%s", code, out)
	}
}

// TestExplicitUnavailable: asking for TIPC or SCTP that the kernel lacks is
// an error.
func TestExplicitUnavailable(t *testing.T) {
	t.Run("tipc", func(t *testing.T) {
		c, err := tipc.Listen(tipc.ServiceType, 1<<31, 1<<31)
		if err == nil {
			c.Close()
			t.Skip("this kernel has TIPC")
		}
		if !errors.Is(err, tipc.ErrUnsupported) {
			t.Skipf("TIPC check failed otherwise: %v", err)
		}
		code, out := runDaemon(t, "-f", "-d", filepath.Join(t.TempDir(), "db"), "-t", port(freePort(t, "tcp")),
			"-s", "off", "-l", "11")
		if code != 1 || !strings.Contains(out, "TIPC") || !strings.Contains(out, "modprobe tipc") {
			t.Errorf("-l 11 without TIPC: exit status %d, output:\n%s", code, out)
		}
	})
	t.Run("sctp", func(t *testing.T) {
		sp := freePort(t, "tcp")
		c, err := sctp.ListenPacket("sctp", net.JoinHostPort("127.0.0.1", port(sp)))
		if err == nil {
			c.Close()
			t.Skip("this kernel has SCTP")
		}
		if !errors.Is(err, sctp.ErrUnsupported) {
			t.Skipf("SCTP check failed otherwise: %v", err)
		}
		code, out := runDaemon(t, "-f", "-d", filepath.Join(t.TempDir(), "db"), "-t", port(freePort(t, "tcp")),
			"-l", "off", "-s", port(sp))
		if code != 1 || !strings.Contains(out, "SCTP") {
			t.Errorf("-s without SCTP: exit status %d, output:\n%s", code, out)
		}
	})
}

// TestDaemonize runs without -f: the parent returns once the background
// copy serves, the pid file names that copy, and SIGTERM removes it.
func TestDaemonize(t *testing.T) {
	dir := t.TempDir()
	tcp := freePort(t, "tcp")
	pidFile := filepath.Join(dir, "nmdb.pid")
	logFile := filepath.Join(dir, "nmdb.log")
	// Relative paths: the daemon changes directory to / and must have
	// made them absolute first.
	args := []string{"-d", "db", "-t", port(tcp), "-T", "127.0.0.1",
		"-l", "off", "-s", "off", "-i", "nmdb.pid", "-o", "nmdb.log"}

	pid := 0
	t.Cleanup(func() {
		if pid == 0 {
			if p, err := daemon.ReadPidFile(pidFile); err == nil {
				pid = p
			}
		}
		if pid > 0 && alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		checkNoRace(t, logFile)
		if t.Failed() {
			t.Logf("log:\n%s", readFile(logFile))
		}
	})
	code, out := runDaemonIn(t, dir, args...)
	if code != 0 {
		t.Fatalf("nmdb %v: exit status %d, output:\n%s", args, code, out)
	}
	pid, err := daemon.ReadPidFile(pidFile)
	if err != nil {
		t.Fatalf("no pid file once the parent returned: %v", err)
	}
	if !alive(pid) {
		t.Fatalf("pid %d from the pid file is not running", pid)
	}
	if sid := sessionID(t, pid); sid != pid {
		t.Errorf("the daemon runs in session %d, want a session of its own (%d)", sid, pid)
	}
	if !strings.Contains(readFile(logFile), fmt.Sprintf("pid=%d", pid)) {
		t.Errorf("log does not name pid %d", pid)
	}

	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || cwd != "/" {
		t.Errorf("the daemon's directory is %q (%v), want /", cwd, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "db")); err != nil {
		t.Errorf("no database where -d db named it, relative to the start directory: %v", err)
	}

	c := dialTCP(t, tcp)
	c.MustSet("daemon", "yes")
	c.MustGet("daemon", "yes")

	// In the background, standard input is /dev/null, standard output and
	// error are the log file, also after a rotation.
	fdLink := func(fd int) string {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
		return link
	}
	stderrFile := func() string { return fdLink(2) }
	if got := stderrFile(); got != logFile {
		t.Errorf("standard error of the daemon is %q, want the log file %q", got, logFile)
	}
	if got := fdLink(1); got != logFile {
		t.Errorf("standard output of the daemon is %q, want the log file %q", got, logFile)
	}
	if got := fdLink(0); got != os.DevNull {
		t.Errorf("standard input of the daemon is %q, want %s", got, os.DevNull)
	}
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the log to be reopened", func() bool { return strings.Contains(readFile(logFile), "log file reopened") })
	if got := stderrFile(); got != logFile {
		t.Errorf("after SIGHUP, standard error of the daemon is %q, want the new log file %q", got, logFile)
	}

	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the daemon to exit after SIGTERM", func() bool { return !alive(pid) })
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file still there after SIGTERM (stat: %v)", err)
	}
	if !strings.Contains(readFile(logFile), "msg=stopped") {
		t.Errorf("log lacks the stop message")
	}
}

// TestDaemonizeFailure: when the background copy cannot serve, the parent
// prints why and fails.
func TestDaemonizeFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	db := filepath.Join(dir, "db")
	code, out := runDaemon(t, "-d", db, "-t", port(busy), "-T", "127.0.0.1",
		"-l", "off", "-s", "off", "-i", pidFile, "-o", filepath.Join(dir, "log"))
	if code != 1 || !strings.Contains(out, "listen on TCP") || !strings.Contains(out, "address already in use") {
		t.Errorf("port in use: exit status %d, output:\n%s", code, out)
	}
	// The reason is in the log file too.
	if l := readFile(filepath.Join(dir, "log")); !strings.Contains(l, "could not start") || !strings.Contains(l, "address already in use") {
		t.Errorf("the log file lacks the reason the daemon did not start:\n%s", l)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a daemon that could not listen created its database (stat: %v)", err)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file written by a daemon that failed (stat: %v)", err)
	}
}

// TestSIGHUPReopensLog rotates the log file.
func TestSIGHUPReopensLog(t *testing.T) {
	p := startDaemon(t, "-d", filepath.Join(t.TempDir(), "db"), "-l", "off", "-s", "off",
		"-t", port(freePort(t, "tcp")), "-T", "127.0.0.1")
	rotated := p.log + ".1"
	if err := os.Rename(p.log, rotated); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, "log file reopened")
	if old := readFile(rotated); !strings.Contains(old, "nmdb ready") || strings.Contains(old, "reopened") {
		t.Errorf("rotated log:\n%s", old)
	}
	p.stop(t)
	if !strings.Contains(readFile(p.log), "msg=stopped") {
		t.Errorf("new log lacks the stop message:\n%s", readFile(p.log))
	}
}

// TestSIGUSR1ReadOnly switches to read-only mode.
func TestSIGUSR1ReadOnly(t *testing.T) {
	tcp := freePort(t, "tcp")
	p := startDaemon(t, "-d", filepath.Join(t.TempDir(), "db"), "-l", "off", "-s", "off",
		"-t", port(tcp), "-T", "127.0.0.1")
	c := dialTCP(t, tcp)
	c.MustSet("before", "1")
	p.signal(t, syscall.SIGUSR1)
	p.waitLog(t, "read-only mode on")
	for _, r := range []wire.Request{
		{Op: wire.OpSet, Key: []byte("after"), Val: []byte("2")},
		{Op: wire.OpDel, Key: []byte("before")},
		{Op: wire.OpIncr, Key: []byte("before"), Delta: 1},
	} {
		if rep := c.Do(r); rep.Code != wire.CodeErr || rep.Err != wire.ErrCodeReadOnly {
			t.Errorf("%v in read-only mode: %v err %#x, want ERR 0x107", r.Op, rep.Code, uint32(rep.Err))
		}
	}
	c.MustGet("before", "1")
	if r := c.Get("after"); r.Code != wire.CodeNotIn {
		t.Errorf("a refused set was stored: get gives %v", r.Code)
	}
	p.stop(t)
}

// TestReadOnlyFlag starts in read-only mode with -r.
func TestReadOnlyFlag(t *testing.T) {
	tcp := freePort(t, "tcp")
	startDaemon(t, "-r", "-d", filepath.Join(t.TempDir(), "db"), "-l", "off", "-s", "off",
		"-t", port(tcp), "-T", "127.0.0.1")
	c := dialTCP(t, tcp)
	if r := c.Set("k", "v"); r.Code != wire.CodeErr || r.Err != wire.ErrCodeReadOnly {
		t.Errorf("set with -r: %v err %#x, want ERR 0x107", r.Code, uint32(r.Err))
	}
}

// TestSIGUSR2Passive toggles passive mode: requests are acted on but not
// answered, then answering resumes.
func TestSIGUSR2Passive(t *testing.T) {
	tcp := freePort(t, "tcp")
	p := startDaemon(t, "-d", filepath.Join(t.TempDir(), "db"), "-l", "off", "-s", "off",
		"-t", port(tcp), "-T", "127.0.0.1")
	c := dialTCP(t, tcp)
	c.MustSet("k", "old")
	p.signal(t, syscall.SIGUSR2)
	p.waitLog(t, "passive mode on")

	c.Send(wire.Request{Op: wire.OpSet, Key: []byte("k"), Val: []byte("new")})
	c.Send(wire.Request{Op: wire.OpGet, Key: []byte("k")})
	expectSilence(t, c)

	p.signal(t, syscall.SIGUSR2)
	p.waitLog(t, "passive mode off")
	// The set made in passive mode took effect, and the first reply is
	// the one to this get.
	c.MustGet("k", "new")
	p.stop(t)
}

// TestPassiveFlag starts passive with -p and turns active with SIGUSR2.
func TestPassiveFlag(t *testing.T) {
	tcp := freePort(t, "tcp")
	p := startDaemon(t, "-p", "-d", filepath.Join(t.TempDir(), "db"), "-l", "off", "-s", "off",
		"-t", port(tcp), "-T", "127.0.0.1")
	c := dialTCP(t, tcp)
	c.Send(wire.Request{Op: wire.OpSet, Key: []byte("mirror"), Val: []byte("seen")})
	expectSilence(t, c)
	p.signal(t, syscall.SIGUSR2)
	p.waitLog(t, "passive mode off")
	c.MustGet("mirror", "seen")
}

// TestRestartKeepsData: normal-mode writes acknowledged before SIGTERM are in
// the database after a restart.
func TestRestartKeepsData(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	const n = 500
	tcp := freePort(t, "tcp")
	p := startDaemon(t, "-d", db, "-l", "off", "-s", "off", "-t", port(tcp), "-T", "127.0.0.1")
	c := dialTCP(t, tcp)
	for i := range n {
		c.MustSet(fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i))
	}
	c.Do(wire.Request{Op: wire.OpDel, Key: []byte("key-7")})
	p.stop(t)

	tcp = freePort(t, "tcp")
	startDaemon(t, "-d", db, "-l", "off", "-s", "off", "-t", port(tcp), "-T", "127.0.0.1")
	c = dialTCP(t, tcp)
	for i := range n {
		key := fmt.Sprintf("key-%d", i)
		r := c.Get(key)
		if i == 7 {
			if r.Code != wire.CodeNotIn {
				t.Errorf("deleted %s after restart: %v, want NOTIN", key, r.Code)
			}
			continue
		}
		if r.Code != wire.CodeOK || string(r.Val) != fmt.Sprintf("value-%d", i) {
			t.Fatalf("%s after restart: %v %q, want OK value-%d from the database", key, r.Code, r.Val, i)
		}
	}
}

// TestNullBackend serves with -b null: writes are acknowledged, nothing is
// stored.
func TestNullBackend(t *testing.T) {
	tcp := freePort(t, "tcp")
	startDaemon(t, "-b", "null", "-d", filepath.Join(t.TempDir(), "db"), "-l", "off", "-s", "off",
		"-t", port(tcp), "-T", "127.0.0.1")
	c := dialTCP(t, tcp)
	if r := c.Do(wire.Request{Op: wire.OpSet, Flags: wire.FlagSync, Key: []byte("k"), Val: []byte("v")}); r.Code != wire.CodeOK {
		t.Errorf("sync set on null: %v", r.Code)
	}
	if r := c.Do(wire.Request{Op: wire.OpGet, Flags: wire.FlagCacheOnly, Key: []byte("absent")}); r.Code != wire.CodeCacheMiss {
		t.Errorf("cache get of absent key: %v", r.Code)
	}
}

// TestDaemonizeStdoutGone: a background daemon logging to standard output
// survives that output going away (a closed pipe).
func TestDaemonizeStdoutGone(t *testing.T) {
	dir := t.TempDir()
	tcp := freePort(t, "tcp")
	pidFile := filepath.Join(dir, "pid")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, "-d", filepath.Join(dir, "db"), "-t", port(tcp), "-T", "127.0.0.1",
		"-l", "off", "-s", "off", "-i", pidFile)
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Run()
	w.Close()
	t.Cleanup(func() {
		if pid, err := daemon.ReadPidFile(pidFile); err == nil && alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if err != nil {
		r.Close()
		t.Fatalf("nmdb: %v", err)
	}
	// Read the start-up lines, then close the pipe's last reader.
	buf := make([]byte, 4096)
	n, _ := r.Read(buf)
	r.Close()
	if !strings.Contains(string(buf[:n]), "listening") {
		t.Errorf("standard output: %q", buf[:n])
	}
	pid, err := daemon.ReadPidFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	// Once ready, it let go of the terminal (here: the pipe).
	for fd := range 3 {
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd)); err != nil || link != os.DevNull {
			t.Errorf("descriptor %d of the daemon is %q (%v), want %s", fd, link, err, os.DevNull)
		}
	}
	// SIGUSR1 logs a line (nowhere, now).
	c := dialTCP(t, tcp)
	c.MustSet("still", "here")
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "read-only mode", func() bool {
		r := c.Set("k", "v")
		return r.Code == wire.CodeErr && r.Err == wire.ErrCodeReadOnly
	})
	c.MustGet("still", "here")
	// The stop logs a line before it removes the pid file: a daemon
	// killed by that write would leave the file behind.
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the daemon to exit", func() bool { return !alive(pid) })
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left after SIGTERM: the daemon died writing to a closed standard output (stat: %v)", err)
	}
}

// TestDatabaseInUse: a second daemon on the same database fails clearly.
func TestDatabaseInUse(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	startDaemon(t, "-d", db, "-l", "off", "-s", "off", "-t", port(freePort(t, "tcp")), "-T", "127.0.0.1")
	code, out := runDaemon(t, "-f", "-d", db, "-l", "off", "-s", "off", "-t", port(freePort(t, "tcp")),
		"-T", "127.0.0.1", "-o", filepath.Join(t.TempDir(), "log"))
	if code != 1 || !strings.Contains(out, "is another nmdb using") {
		t.Errorf("second daemon on one database: exit status %d, output:\n%s", code, out)
	}
}

// TestLongOptions checks --name value, --name=value and their errors, with
// a long option added to the table the way a new option is added.
// TestConnectionOptions parses the connection limit and the timeouts.
func TestConnectionOptions(t *testing.T) {
	backends := []string{"pebble", "null"}
	o, err := parseArgs([]string{"--max-conns", "100", "--idle-timeout=90", "--frame-timeout", "2s"}, backends)
	if err != nil {
		t.Fatal(err)
	}
	if o.maxConns != 100 || o.idleTimeout != 90*time.Second || o.frameTimeout != 2*time.Second {
		t.Errorf("max conns %d, idle %v, frame %v; want 100, 1m30s, 2s", o.maxConns, o.idleTimeout, o.frameTimeout)
	}
	o, err = parseArgs([]string{"--idle-timeout", "off", "--frame-timeout", "OFF"}, backends)
	if err != nil || o.idleTimeout >= 0 || o.frameTimeout >= 0 {
		t.Errorf("off: idle %v, frame %v, error %v; want both negative (never)", o.idleTimeout, o.frameTimeout, err)
	}
	o, err = parseArgs(nil, backends)
	if err != nil || o.maxConns != 0 || o.idleTimeout != 0 || o.frameTimeout != 0 {
		t.Errorf("defaults: %d, %v, %v, error %v; want zeros (the server's defaults)", o.maxConns, o.idleTimeout, o.frameTimeout, err)
	}
}

func TestLongOptions(t *testing.T) {
	backends := []string{"pebble", "null"}
	var got []string
	table := append(optionTable(), option{0, "test-value", true, func(p *parsed, v string) error {
		if v == "bad" {
			return errors.New("bad value")
		}
		got = append(got, v)
		return nil
	}})
	o, err := parseTable(table, []string{"--test-value", "a", "-f", "--test-value=b", "--test-value=", "--test-value", "-t"}, backends)
	if err != nil {
		t.Fatal(err)
	}
	if !o.foreground || !slices.Equal(got, []string{"a", "b", "", "-t"}) {
		t.Errorf("foreground %v, values %q; want true, [a b \"\" -t]", o.foreground, got)
	}
	o, err = parseTable(table, []string{"--help"}, backends)
	if err != nil || !o.help {
		t.Errorf("--help: help %v, error %v", o != nil && o.help, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--test-value"}, "option --test-value needs a value"},
		{[]string{"--test-value=bad"}, "--test-value: bad value"},
		{[]string{"--help=yes"}, "option --help takes no value"},
		{[]string{"--nope"}, "unknown option --nope"},
		{[]string{"--nope=1"}, "unknown option --nope"},
		{[]string{"--", "--help"}, `unexpected argument "--help"`},
		{[]string{"-"}, `unexpected argument "-"`},
	} {
		if _, err := parseTable(table, tc.args, backends); err == nil || err.Error() != tc.want {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestConnectionLimits runs the daemon with --max-conns 1 and a short
// --frame-timeout: a second client gets ERR 0x105 and is closed, which is
// logged; the first, which began a request and does not finish it, is
// closed when its time is up, and then a newcomer is served.
func TestConnectionLimits(t *testing.T) {
	tcp := freePort(t, "tcp")
	p := startDaemon(t, "-d", filepath.Join(t.TempDir(), "db"), "-l", "off", "-s", "off",
		"-t", port(tcp), "-T", "127.0.0.1", "--max-conns", "1", "--idle-timeout", "5m", "--frame-timeout=500ms")
	first := dialTCP(t, tcp)
	first.MustSet("k", "v")
	// Two bytes of a request: not idle, so not given up for a newcomer.
	if _, err := first.Conn.Write([]byte{0, 0}); err != nil {
		t.Fatal(err)
	}
	second := dialTCP(t, tcp)
	r := second.Recv()
	if r.Code != wire.CodeErr || r.Err != wire.ErrCodeMemory {
		t.Fatalf("a client over the limit got %v (err %#x), want ERR 0x105", r.Code, uint32(r.Err))
	}
	p.waitLog(t, "refused a connection over the limit")
	_ = first.Conn.SetReadDeadline(time.Now().Add(time.Minute))
	if n, err := first.Conn.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a client that does not finish its request read %d bytes, want the connection closed", n)
	}
	p.waitLog(t, "did not finish a request in time")
	var c *nmdbtest.Client
	waitFor(t, "a newcomer served", func() bool {
		c = dialTCP(t, tcp)
		_, err := c.TryRecv(100 * time.Millisecond)
		// No refusal waits on the socket: the slot is free.
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	})
	c.MustGet("k", "v")
	p.stop(t)
}
