package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nmdb-go/nmdb/internal/testkit"
	"github.com/nmdb-go/nmdb/internal/version"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// fakeService is testkit.Banner in the command line's syntax.
func fakeService(t *testing.T, banner string) string {
	return "tcp:" + testkit.Banner(t, banner).String()
}

// deadServer returns the address of a loopback port nobody listens on.
func deadServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "tcp:" + l.Addr().String()
	l.Close()
	return addr
}

func TestPing(t *testing.T) {
	srv := startServer(t)
	r := must(t, exitOK, "", "-s", srv, "ping")
	want := srv + ": ok in "
	line := strings.TrimSuffix(r.out, "\n")
	if !strings.HasPrefix(line, want) || strings.Contains(line, "\n") ||
		!strings.Contains(line, "nmdb "+version.Release+", up ") || !strings.Contains(line, ", active, 1 open connections") {
		t.Errorf("ping printed %q, want one line %q... naming version, uptime, role and connections", r.out, want)
	}

	// Every server is asked; one that does not answer fails the command.
	dead, ssh := deadServer(t), fakeService(t, "SSH-2.0-OpenSSH_9.2p1\r\n")
	r = must(t, exitError, "", "-s", srv, "-s", dead, "ping")
	if !strings.Contains(r.out, srv+": ok in ") || !strings.Contains(r.out, dead+": ") || !strings.Contains(r.err, "1 of 2 servers did not answer") {
		t.Errorf("ping with a dead server: stdout %q, stderr %q", r.out, r.err)
	}
	r = must(t, exitError, "", "-s", ssh, "ping")
	if !strings.Contains(r.out, "not an nmdb server?") || strings.Contains(r.out+r.err, "frame length") {
		t.Errorf("ping of an SSH server: stdout %q, stderr %q", r.out, r.err)
	}
}

// TestDescribeClassic: a server sending only the classic counters is named
// as classic.
func TestDescribeClassic(t *testing.T) {
	got := describe(make([]uint64, wire.ClassicStats), 1500000)
	if got != "ok in 1.500 ms: classic nmdb (23 counters)" {
		t.Errorf("describe = %q", got)
	}
}

func TestStatsCommand(t *testing.T) {
	a, b := startServer(t), startServer(t)
	must(t, exitOK, "", "-s", a, "set", "-sync", "k", "v")
	r := must(t, exitOK, "", "-s", a, "-s", b, "stats")
	if !strings.HasPrefix(r.out, "stats for server 0:\n\t") || !strings.Contains(r.out, "\n\nstats for server 1:\n\t") ||
		strings.Count(r.out, "\tactive\trole\n") != 2 || !strings.HasSuffix(r.out, "\n\n") {
		t.Errorf("stats of two servers:\n%s", r.out)
	}
	// The servers are in the client's order; the one holding the key
	// counted one db set.
	if strings.Count(r.out, "\t1\tdb set\n") != 1 || strings.Count(r.out, "\t0\tdb set\n") != 1 {
		t.Errorf("db set counters:\n%s", r.out)
	}
	must(t, exitError, "", "-s", deadServer(t), "stats")
}

// TestUsageErrorShort: a usage error prints the error and one line of hint,
// not the whole usage.
func TestUsageErrorShort(t *testing.T) {
	srv := startServer(t)
	for _, tc := range []struct {
		args []string
		hint string
	}{
		{[]string{"-s", srv, "get"}, "usage: nmdb-cli [-s SERVER]... get [-cache] KEY (nmdb-cli -h for every command)"},
		{[]string{"-s", srv, "copy", "-j", "0"}, "usage: nmdb-cli [-s SERVER]... copy [-cache|-sync] [-j N] -from SERVER (nmdb-cli -h for every command)"},
		{[]string{"-s", srv, "set", "-cache", "-sync", "k", "v"}, "usage: nmdb-cli [-s SERVER]... set [-cache|-sync] [-counter] KEY [VALUE] (nmdb-cli -h for every command)"},
		{[]string{"-s", srv, "ping", "x"}, "usage: nmdb-cli [-s SERVER]... ping (nmdb-cli -h for every command)"},
		{[]string{"-s", srv, "bogus"}, "run 'nmdb-cli -h' for the usage"},
		{[]string{"-bogus"}, "run 'nmdb-cli -h' for the usage"},
		{nil, "run 'nmdb-cli -h' for the usage"},
	} {
		r := must(t, exitUsage, "", tc.args...)
		lines := strings.Split(strings.TrimSuffix(r.err, "\n"), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "nmdb-cli: ") || lines[1] != tc.hint {
			t.Errorf("%q: stderr %q, want an error line and %q", tc.args, r.err, tc.hint)
		}
	}
}

// TestNotNMDBServer: a server that answers with something else is named as
// such, not by the frame length its bytes make.
func TestNotNMDBServer(t *testing.T) {
	for _, banner := range []string{"HTTP/1.1 400 Bad Request\r\n\r\n", "SSH-2.0-OpenSSH_9.2p1\r\n"} {
		r := must(t, exitError, "", "-s", fakeService(t, banner), "get", "k")
		if !strings.Contains(r.err, "not an nmdb server?") || strings.Contains(r.err, "frame length") || strings.Count(r.err, "\n") != 1 {
			t.Errorf("%q: stderr %q", banner, r.err)
		}
	}
}

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test terminal output with: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// drain closes the terminal's slave end and returns what was written to it.
func drain(t *testing.T, m, s *os.File) string {
	t.Helper()
	s.Close()
	var b bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := m.Read(buf)
		b.Write(buf[:n])
		if err != nil { // EIO once the slave is closed and read
			if !errors.Is(err, syscall.EIO) && !errors.Is(err, io.EOF) {
				t.Fatalf("reading the terminal: %v", err)
			}
			return b.String()
		}
	}
}

// TestTerminal: on a terminal, get ends the value with a newline and dump
// shows a running count; elsewhere the output is the raw value and no count.
func TestTerminal(t *testing.T) {
	ns := nmdbtest.Start(t, "tcp", nmdb.Config{})
	srv := "tcp:" + ns.Addr.String()
	must(t, exitOK, "", "-s", srv, "set", "-sync", "k", "value")
	must(t, exitOK, "", "-s", srv, "set", "-sync", "nl", "line\n")

	for _, tc := range []struct{ key, tty, raw string }{
		{"k", "value\r\n", "value"}, // the terminal turns \n into \r\n
		{"nl", "line\r\n", "line\n"},
	} {
		m, s := openPTY(t)
		var errb bytes.Buffer
		if code := run(context.Background(), []string{"-s", srv, "get", tc.key}, strings.NewReader(""), s, &errb); code != exitOK {
			t.Fatalf("get %s on a terminal: exit %d, %s", tc.key, code, errb.String())
		}
		if got := drain(t, m, s); got != tc.tty {
			t.Errorf("get %s on a terminal printed %q, want %q", tc.key, got, tc.tty)
		}
		if r := must(t, exitOK, "", "-s", srv, "get", tc.key); r.out != tc.raw {
			t.Errorf("get %s into a pipe printed %q, want %q", tc.key, r.out, tc.raw)
		}
	}

	// dump with standard error on a terminal.
	m, s := openPTY(t)
	file := filepath.Join(t.TempDir(), "dump")
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-s", srv, "dump", file}, strings.NewReader(""), &out, s); code != exitOK {
		t.Fatalf("dump: exit %d", code)
	}
	tty := drain(t, m, s)
	if !strings.Contains(tty, "\x1b[Knmdb-cli: dump: 1 pairs") || !strings.Contains(tty, "dumped 2 pairs") {
		t.Errorf("dump's standard error on a terminal: %q, want a running count and the total", tty)
	}
	if r := must(t, exitOK, "", "-s", srv, "dump", file); strings.Contains(r.err, "\x1b") || strings.Count(r.err, "\n") != 1 {
		t.Errorf("dump's standard error into a pipe: %q, want only the total", r.err)
	}
}

// TestDumpCopyLeaveCache: dump and copy read a live server without filling
// its cache.
func TestDumpCopyLeaveCache(t *testing.T) {
	ns := nmdbtest.Start(t, "tcp", nmdb.Config{})
	srv := "tcp:" + ns.Addr.String()
	pairs := testPairs()
	loadPairs(t, srv, pairs)
	for k := range pairs { // empty the cache; the database keeps them
		must(t, exitOK, "", "-s", srv, "-x", "del", "-cache", fmt.Sprintf("%x", k))
	}
	if n := ns.Stats()[wire.StatObjectsCached]; n != 0 {
		t.Fatalf("%d objects cached after the cache-only dels", n)
	}
	file := filepath.Join(t.TempDir(), "dump")
	must(t, exitOK, "", "-s", srv, "dump", file)
	dst := startServer(t)
	must(t, exitOK, "", "-s", dst, "copy", "-from", srv)
	if n := ns.Stats()[wire.StatObjectsCached]; n != 0 {
		t.Errorf("dump and copy left %d objects in the source's cache, want 0", n)
	}
	if got := contents(t, dst); len(got) != len(pairs) {
		t.Errorf("copy moved %d pairs, want %d", len(got), len(pairs))
	}
}
