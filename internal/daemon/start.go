package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// EnvMarker is the environment variable that tells a program it is the
// background copy started by Start. Its value is the number of the file
// descriptor on which to report readiness.
const EnvMarker = "NMDB_DAEMON_NOTIFY_FD"

// notifyFD is the descriptor the child gets the pipe on: the first of
// exec.Cmd.ExtraFiles.
const notifyFD = 3

// readyMessage is what the child writes on the pipe once it serves.
const readyMessage = "ready\n"

// maxReport bounds what the parent reads from the pipe.
const maxReport = 64 << 10

// IsChild reports whether this process is the background copy started by
// Start (the marker is in its environment).
func IsChild() bool {
	_, ok := os.LookupEnv(EnvMarker)
	return ok
}

// Options tune Start.
type Options struct {
	// Args are the arguments for the new process, without the program
	// name; nil means os.Args[1:].
	Args []string
	// Stdout and Stderr receive the child's standard output and error;
	// nil means /dev/null. Pass os.Stdout to keep logging to the terminal.
	Stdout, Stderr *os.File
}

// Start runs this executable again in the background, in a new session, and
// waits until it reports that it is ready (nil) or that it failed (an error
// carrying its message). It is called by the parent, which then exits.
func Start(opts Options) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("daemon: find own executable: %w", err)
	}
	args := opts.Args
	if args == nil {
		args = os.Args[1:]
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("daemon: open %s: %w", os.DevNull, err)
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("daemon: readiness pipe: %w", err)
	}
	defer r.Close()

	cmd := exec.Command(exe, args...)
	cmd.Env = append(withoutMarker(os.Environ()), fmt.Sprintf("%s=%d", EnvMarker, notifyFD))
	cmd.Stdin = devnull
	cmd.Stdout = orFile(opts.Stdout, devnull)
	cmd.Stderr = orFile(opts.Stderr, devnull)
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close() // the child holds the write end now; EOF comes when it exits
	if err != nil {
		return fmt.Errorf("daemon: start %s: %w", exe, err)
	}

	report, rerr := io.ReadAll(io.LimitReader(r, maxReport))
	if rerr == nil && string(report) == readyMessage {
		// The child runs on by itself; it is no longer ours to wait for.
		if err := cmd.Process.Release(); err != nil {
			return fmt.Errorf("daemon: release child: %w", err)
		}
		return nil
	}
	// The child failed: it closed the pipe with a message, or died.
	werr := cmd.Wait()
	msg := strings.TrimSpace(string(bytes.TrimPrefix(report, []byte(readyMessage))))
	switch {
	case msg != "":
		return errors.New(msg)
	case rerr != nil:
		return fmt.Errorf("daemon: read readiness pipe: %w", rerr)
	case werr != nil:
		return fmt.Errorf("daemon: background process failed before it was ready: %w", werr)
	default:
		return errors.New("daemon: background process exited before it was ready")
	}
}

// Ready tells the parent that this background copy serves requests, so the
// parent may exit with success. It does nothing in a process that is not a
// child of Start.
func Ready() error {
	return report(readyMessage)
}

// Fail tells the parent that this background copy cannot start, and why; the
// parent prints the reason and exits with failure. It does nothing in a
// process that is not a child of Start.
func Fail(reason error) error {
	return report(reason.Error() + "\n")
}

// report writes msg on the readiness pipe and closes it.
func report(msg string) error {
	v, ok := os.LookupEnv(EnvMarker)
	if !ok {
		return nil
	}
	os.Unsetenv(EnvMarker) // report once; programs this one runs must not see it
	var fd int
	if _, err := fmt.Sscanf(v, "%d", &fd); err != nil || fd < 3 {
		return fmt.Errorf("daemon: bad %s=%q", EnvMarker, v)
	}
	f := os.NewFile(uintptr(fd), "readiness pipe")
	if f == nil {
		return fmt.Errorf("daemon: bad readiness descriptor %d", fd)
	}
	_, err := f.WriteString(msg)
	cerr := f.Close()
	if err != nil {
		return fmt.Errorf("daemon: report to parent: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("daemon: close readiness pipe: %w", cerr)
	}
	return nil
}

// withoutMarker returns env without any EnvMarker entry.
func withoutMarker(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, EnvMarker+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func orFile(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}
