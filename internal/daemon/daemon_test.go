package daemon

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// modeEnv tells the test binary, run again by Start, what to do as a child.
const modeEnv = "NMDB_DAEMON_TEST_MODE"

// TestMain lets the test binary act as the background child of Start.
func TestMain(m *testing.M) {
	if IsChild() {
		os.Exit(child(os.Getenv(modeEnv)))
	}
	os.Exit(m.Run())
}

// child plays the background copy: mode is "ready", "fail" or "die".
func child(mode string) int {
	switch mode {
	case "ready":
		// Record what the parent must see: our pid and session.
		sid, err := sessionOf(os.Getpid())
		if err == nil {
			err = os.WriteFile(os.Getenv("NMDB_DAEMON_TEST_OUT"),
				fmt.Appendf(nil, "%d %d %v", os.Getpid(), sid, stdinIsNull()), 0o644)
		}
		if err != nil {
			Fail(err)
			return 1
		}
		if err := Ready(); err != nil {
			return 1
		}
		return 0
	case "fail":
		Fail(errors.New("listen on TCP: address already in use"))
		return 1
	default:
		return 3 // die without a word
	}
}

func sessionOf(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return strconv.Atoi(f[3])
}

func stdinIsNull() bool {
	a, err1 := os.Stdin.Stat()
	b, err2 := os.Stat(os.DevNull)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func TestStartReady(t *testing.T) {
	out := filepath.Join(t.TempDir(), "child")
	t.Setenv(modeEnv, "ready")
	t.Setenv("NMDB_DAEMON_TEST_OUT", out)
	if err := Start(Options{Args: []string{"-test.run=^$"}}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	var pid, sid int
	var null bool
	if _, err := fmt.Sscanf(readFile(t, out), "%d %d %v", &pid, &sid, &null); err != nil {
		t.Fatalf("child report %q: %v", readFile(t, out), err)
	}
	if pid == os.Getpid() || sid != pid {
		t.Errorf("child pid %d session %d: want a new process leading its own session", pid, sid)
	}
	if !null {
		t.Errorf("child's standard input is not %s", os.DevNull)
	}
}

func TestStartFail(t *testing.T) {
	t.Setenv(modeEnv, "fail")
	err := Start(Options{Args: []string{"-test.run=^$"}})
	if err == nil || err.Error() != "listen on TCP: address already in use" {
		t.Fatalf("Start = %v, want the child's error", err)
	}
}

func TestStartChildDies(t *testing.T) {
	t.Setenv(modeEnv, "die")
	err := Start(Options{Args: []string{"-test.run=^$"}})
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Start = %v, want an error naming the exit status", err)
	}
}

func TestReadyOutsideChild(t *testing.T) {
	if IsChild() {
		t.Fatal("the test process thinks it is a background child")
	}
	if err := Ready(); err != nil {
		t.Errorf("Ready outside a child: %v", err)
	}
	if err := Fail(errors.New("x")); err != nil {
		t.Errorf("Fail outside a child: %v", err)
	}
}

// TestReadyReportsOnce: Ready writes the readiness message on the descriptor
// the marker names, closes it, and removes the marker.
func TestReadyReportsOnce(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fd, err := syscall.Dup(int(w.Fd()))
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvMarker, strconv.Itoa(fd))
	if !IsChild() {
		t.Fatal("IsChild false with the marker set")
	}
	if err := Ready(); err != nil {
		t.Fatal(err)
	}
	if IsChild() {
		t.Error("the marker is still set after Ready")
	}
	b, err := io.ReadAll(r) // EOF: Ready closed its descriptor
	if err != nil || string(b) != readyMessage {
		t.Errorf("pipe got %q, %v; want %q", b, err, readyMessage)
	}
	if err := Ready(); err != nil {
		t.Errorf("a second Ready: %v", err)
	}

	t.Setenv(EnvMarker, "stdin")
	if err := Ready(); err == nil {
		t.Error("Ready with a bad marker succeeded")
	}
}

func TestPidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nmdb.pid")
	p, err := WritePidFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReadPidFile(path); err != nil || got != os.Getpid() {
		t.Fatalf("ReadPidFile = %d, %v; want %d", got, err, os.Getpid())
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("pid file mode: %v %v", fi.Mode(), err)
	}
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pid file not removed: %v", err)
	}
	if err := p.Remove(); err != nil {
		t.Errorf("removing a missing pid file: %v", err)
	}

	// A pid file another process took over is left alone.
	p, err = WritePidFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadPidFile(path); err != nil || got != 1 {
		t.Errorf("another process's pid file: %d, %v", got, err)
	}

	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPidFile(path); err == nil {
		t.Error("ReadPidFile accepted garbage")
	}
	if _, err := WritePidFile(filepath.Join(t.TempDir(), "missing", "x.pid")); err == nil {
		t.Error("WritePidFile in a missing directory succeeded")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left next to the pid file: %v", entries)
	}
}

func TestLogFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nmdb.log")
	l, err := OpenLog(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fmt.Fprintln(l, "first")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(l, "second") // still the renamed file
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(l, "third")
	if got := readFile(t, path+".1"); got != "first\nsecond\n" {
		t.Errorf("rotated file: %q", got)
	}
	if got := readFile(t, path); got != "third\n" {
		t.Errorf("new file: %q", got)
	}

	// Reopen appends to an existing file.
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(l, "fourth")
	if got := readFile(t, path); got != "third\nfourth\n" {
		t.Errorf("after a second reopen: %q", got)
	}

	// A reopen that fails keeps the old file.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err == nil {
		t.Error("Reopen onto a directory succeeded")
	}
	if _, err := fmt.Fprintln(l, "fifth"); err != nil {
		t.Errorf("write after a failed reopen: %v", err)
	}
}

func TestLogFileStdout(t *testing.T) {
	l, err := OpenLog(Stdout, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Error(err)
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stdout.Stat(); err != nil {
		t.Errorf("Close closed standard output: %v", err)
	}
}

func TestOpenLogError(t *testing.T) {
	if _, err := OpenLog(filepath.Join(t.TempDir(), "missing", "log"), false); err == nil {
		t.Error("OpenLog in a missing directory succeeded")
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
