package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ipTool and tipcTool are iproute2's programs in the guest; busybox's own ip
// applet has no netns support.
const (
	ipTool   = "/usr/local/sbin/ip"
	tipcTool = "/usr/local/sbin/tipc"
)

// serviceType is the TIPC service type nmdb binds (tipc.ServiceType), kept
// here as a literal so the name table check does not trust the package
// under test.
const serviceType = 26001

// nodeCmd returns a command that runs argv inside the namespace of node n.
// `ip netns exec` execs argv in place, so the command's process is argv's.
func nodeCmd(ctx context.Context, n int, argv ...string) *exec.Cmd {
	args := append([]string{"netns", "exec", "node" + strconv.Itoa(n)}, argv...)
	return exec.CommandContext(ctx, ipTool, args...)
}

// daemon is an nmdb server process started on one node.
type daemon struct {
	name string
	node int
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit error, valid once done is closed
}

// startDaemon starts the nmdb binary with args on node n; its output goes to
// a log file named after name.
func (e *env) startDaemon(name string, n int, args ...string) (*daemon, error) {
	logPath := filepath.Join(e.tmp, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer lf.Close()
	// Not tied to a context: daemons are stopped by signal, and killed by
	// env.cleanup when a scenario ends early.
	argv := append([]string{e.nmdb, "-f"}, args...)
	cmd := exec.Command(ipTool, append([]string{"netns", "exec", "node" + strconv.Itoa(n)}, argv...)...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s on node%d: %w", name, n, err)
	}
	d := &daemon{name: name, node: n, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	e.daemons = append(e.daemons, d)
	e.logf("started %s on node%d (pid %d): nmdb -f %s", name, n, cmd.Process.Pid, strings.Join(args, " "))
	return d, nil
}

// exited reports whether the daemon has exited.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the daemon.
func (d *daemon) signal(sig syscall.Signal) error {
	if d.exited() {
		return fmt.Errorf("%s already exited: %v", d.name, d.err)
	}
	if err := d.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v to %s: %w", sig, d.name, err)
	}
	return nil
}

// stop sends SIGTERM and waits up to timeout for a clean exit (status 0).
func (d *daemon) stop(timeout time.Duration) error {
	if d.exited() {
		return fmt.Errorf("%s exited before it was stopped: %v", d.name, d.err)
	}
	if err := d.signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-d.done:
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		<-d.done
		return fmt.Errorf("%s did not exit within %v of SIGTERM", d.name, timeout)
	}
	if d.err != nil {
		return fmt.Errorf("%s exited after SIGTERM: %w", d.name, d.err)
	}
	return nil
}

// kill ends the daemon at once if it still runs.
func (d *daemon) kill() {
	if !d.exited() {
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// logTail returns the last lines of the daemon's log.
func (d *daemon) logTail(lines int) string {
	b, err := os.ReadFile(d.log)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// bindings counts the sockets bound to {serviceType, port} in node 1's view
// of the cluster name table, and names their nodes.
func bindings(ctx context.Context, port int) (int, []string, error) {
	out, err := nodeCmd(ctx, 1, tipcTool, "nametable", "show").Output()
	if err != nil {
		return 0, nil, fmt.Errorf("tipc nametable show: %w", err)
	}
	var nodes []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// Type Lower Upper Scope Port Node
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[0] != strconv.Itoa(serviceType) {
			continue
		}
		lo, err1 := strconv.Atoi(f[1])
		hi, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || port < lo || port > hi {
			continue
		}
		nodes = append(nodes, f[5])
	}
	return len(nodes), nodes, nil
}

// waitBindings waits until exactly want sockets are bound to port.
func waitBindings(ctx context.Context, port, want int) ([]string, error) {
	for {
		n, nodes, err := bindings(ctx, port)
		if err != nil {
			return nil, err
		}
		if n == want {
			return nodes, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %d binding(s) of TIPC port %d, have %d %v: %w", want, port, n, nodes, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runOn runs this program's subcommand sub on node n and returns its
// combined output.
func (e *env) runOn(ctx context.Context, n int, sub string, args ...string) (string, error) {
	argv := append([]string{e.self, sub}, args...)
	cmd := nodeCmd(ctx, n, argv...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err := cmd.Run()
	e.logf("node%d: scenario %s %s (%.1fs)", n, sub, strings.Join(args, " "), time.Since(start).Seconds())
	text := strings.TrimRight(out.String(), "\n")
	if text != "" {
		e.logf("%s", indent(text))
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return text, fmt.Errorf("%s on node%d failed (%v): %s", sub, n, err, lastLine(text))
		}
		return text, fmt.Errorf("%s on node%d: %w", sub, n, err)
	}
	return text, nil
}

// indent prefixes every line of s.
func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// lastLine returns the last line of s.
func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
