package main

import (
	"bytes"
	"context"
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

	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
)

// binPath is the daemon binary built by TestMain; it is set once, before any
// test runs.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nmdb-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "nmdb")
	args := []string{"build", "-o", binPath}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the daemon:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitLimit bounds every wait for the daemon; it is a guard against hangs,
// not a speed requirement.
const waitLimit = 60 * time.Second

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freePort returns a loopback port that was free a moment ago, for network
// "tcp" or "udp".
func freePort(t *testing.T, network string) int {
	t.Helper()
	switch network {
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	default:
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
}

// proc is a daemon running in the foreground as a child of the test.
type proc struct {
	cmd    *exec.Cmd
	log    string // log file
	stderr string // file with the process's standard error
	done   chan struct{}
	err    error // Wait's result, once done is closed
}

// startDaemon runs the daemon in the foreground, logging to a file in a
// temporary directory, with args after the test's defaults, and waits until
// it is ready. The process is killed when the test ends.
func startDaemon(t *testing.T, args ...string) *proc {
	t.Helper()
	p := launch(t, args...)
	p.waitReady(t)
	return p
}

// launch starts the daemon like startDaemon but does not wait for it.
func launch(t *testing.T, args ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	p := &proc{
		log:    filepath.Join(dir, "nmdb.log"),
		stderr: filepath.Join(dir, "stderr"),
		done:   make(chan struct{}),
	}
	errf, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	p.cmd = exec.Command(binPath, append([]string{"-f", "-o", p.log}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = errf, errf
	// Should the test binary die without cleaning up (a panic on the test
	// timeout), the daemon goes with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		checkNoRace(t, p.log, p.stderr)
		if t.Failed() {
			t.Logf("daemon %v\nlog:\n%s\nstderr:\n%s", p.cmd.Args, readFile(p.log), readFile(p.stderr))
		}
	})
	return p
}

// waitReady waits until the daemon logs that it serves, failing if it exits.
func (p *proc) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, "the daemon to be ready", func() bool {
		select {
		case <-p.done:
			t.Fatalf("daemon exited before it was ready: %v\nstderr:\n%s\nlog:\n%s", p.err, readFile(p.stderr), readFile(p.log))
		default:
		}
		return strings.Contains(readFile(p.log), `msg="nmdb ready"`)
	})
}

// waitLog waits until the log holds s.
func (p *proc) waitLog(t *testing.T, s string) {
	t.Helper()
	waitFor(t, "log line "+s, func() bool { return strings.Contains(readFile(p.log), s) })
}

// signal sends sig to the daemon.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(p.cmd.Process.Pid, sig); err != nil {
		t.Fatal(err)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		t.Fatal("daemon did not stop after SIGTERM")
	}
	if p.err != nil {
		t.Fatalf("daemon exited with %v; stderr:\n%s", p.err, readFile(p.stderr))
	}
}

// checkNoRace fails the test if a race report is in any of files.
func checkNoRace(t *testing.T, files ...string) {
	t.Helper()
	for _, f := range files {
		if strings.Contains(readFile(f), "WARNING: DATA RACE") {
			t.Errorf("the daemon reported a data race in %s:\n%s", f, readFile(f))
		}
	}
}

func readFile(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}

// runDaemon runs the program to completion and returns its exit status and
// combined output.
func runDaemon(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return runDaemonIn(t, "", args...)
}

// runDaemonIn is runDaemon in directory dir ("": the test's).
func runDaemonIn(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Dir = dir
	if slices.Contains(args, "-f") {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = waitLimit
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("nmdb %v did not exit (killed); output:\n%s", args, out.String())
		return -1, ""
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	default:
		t.Fatalf("run %v: %v", args, err)
		return -1, ""
	}
}

// dialTCP connects a raw protocol client to the daemon's TCP port.
func dialTCP(t *testing.T, port int) *nmdbtest.Client {
	t.Helper()
	return nmdbtest.Dial(t, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}

// dialUDP connects a raw protocol client to the daemon's UDP port; a lost
// datagram is sent again (every request the tests send twice has the same
// effect).
func dialUDP(t *testing.T, port int) *nmdbtest.Client {
	t.Helper()
	c := nmdbtest.Dial(t, "udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	c.Resends = 19
	return c
}

// sockets counts the sockets of process pid in the kernel's tables for
// proto ("tcp" or "udp", IPv4 and IPv6).
func sockets(t *testing.T, pid int, proto string) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, table := range []string{proto, proto + "6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue // no IPv6 in this kernel
		}
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) > 9 && inodes[f[9]] {
				n++
			}
		}
	}
	return n
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// sessionID returns the session of process pid.
func sessionID(t *testing.T, pid int) int {
	t.Helper()
	s := readFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		t.Fatalf("no stat for pid %d", pid)
	}
	// Fields after the command: state ppid pgrp session ...
	f := strings.Fields(s[i+1:])
	sid, err := strconv.Atoi(f[3])
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

// waitServerRead waits until the daemon has read everything TCP client c
// sent: the receive queue of the daemon's end of the connection is empty.
func waitServerRead(t *testing.T, c *nmdbtest.Client) {
	t.Helper()
	local := c.Conn.LocalAddr().(*net.TCPAddr)
	remote := c.Conn.RemoteAddr().(*net.TCPAddr)
	// The daemon's end has the daemon's port locally and ours remotely.
	want := fmt.Sprintf(":%04X", remote.Port)
	peer := fmt.Sprintf(":%04X", local.Port)
	waitFor(t, "the daemon to read the request", func() bool {
		for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
			for line := range strings.Lines(readFile(table)) {
				f := strings.Fields(line)
				if len(f) < 5 || !strings.HasSuffix(f[1], want) || !strings.HasSuffix(f[2], peer) {
					continue
				}
				_, rx, _ := strings.Cut(f[4], ":")
				return strings.Trim(rx, "0") == ""
			}
		}
		t.Fatalf("the daemon's end of %v is not in the kernel's tables", local)
		return false
	})
}

// expectSilence checks that no reply to c comes in a while (passive mode). A
// reply that comes later still fails the test: it is read before the reply
// the test waits for next.
func expectSilence(t *testing.T, c *nmdbtest.Client) {
	t.Helper()
	waitServerRead(t, c)
	r, err := c.TryRecv(time.Second)
	if err == nil {
		t.Fatalf("passive mode replied: id %d %v", r.ID, r.Code)
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("passive mode: %v", err)
	}
}
