package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/internal/daemon"
	"github.com/nmdb-go/nmdb/internal/version"
)

func TestVersionFlag(t *testing.T) {
	for _, arg := range []string{"-V", "--version"} {
		code, out := runDaemon(t, arg)
		if want := "nmdb " + version.String() + "\n"; code != 0 || out != want {
			t.Errorf("nmdb %s: exit status %d, output %q; want 0, %q", arg, code, out, want)
		}
	}
}

func TestParseServiceOptions(t *testing.T) {
	backends := []string{"pebble", "null"}
	o, err := parseArgs([]string{"-V"}, backends)
	if err != nil || !o.version {
		t.Errorf("-V: %+v, %v", o, err)
	}
	o, err = parseArgs([]string{"--user", "nobody", "-M", "127.0.0.1:9100"}, backends)
	if err != nil || o.user != "nobody" || o.metrics != "127.0.0.1:9100" {
		t.Errorf("--user nobody -M 127.0.0.1:9100: %+v, %v", o, err)
	}
	o, err = parseArgs([]string{"--user=daemon", "--metrics=:9100"}, backends)
	if err != nil || o.user != "daemon" || o.metrics != ":9100" {
		t.Errorf("--user=daemon --metrics=:9100: %+v, %v", o, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--user="}, "--user: empty user name"},
		{[]string{"-M", "9100"}, "-M: metrics address"},
		{[]string{"--metrics", "localhost"}, "--metrics: metrics address"},
		{[]string{"--user"}, "option --user needs a value"},
	} {
		if _, err := parseArgs(tc.args, backends); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one starting %q", tc.args, err, tc.want)
		}
	}
}

// notifySocket listens as a service manager would and points the daemons
// the test starts at it.
func notifySocket(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv(daemon.NotifyEnv, path)
	return c
}

// nextNotice reads the next state message.
func nextNotice(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no message for the service manager: %v", err)
	}
	return string(buf[:n])
}

// TestNotifyServiceManager: under a service manager (Type=notify), the
// daemon reports READY=1 once it serves, and STOPPING=1 on SIGTERM.
func TestNotifyServiceManager(t *testing.T) {
	m := notifySocket(t)
	tcp := freePort(t, "tcp")
	p := launch(t, "-d", filepath.Join(t.TempDir(), "db"), "-l", "off", "-s", "off", "-t", port(tcp), "-T", "127.0.0.1")
	msg := nextNotice(t, m)
	lines := strings.Split(msg, "\n")
	want := fmt.Sprintf("MAINPID=%d", p.cmd.Process.Pid)
	if lines[0] != "READY=1" || !strings.Contains(msg, want) {
		t.Fatalf("first message %q, want READY=1 and %s", msg, want)
	}
	// It was sent once the daemon serves.
	c := dialTCP(t, tcp)
	c.MustSet("k", "v")
	p.stop(t)
	if msg := nextNotice(t, m); msg != "STOPPING=1" {
		t.Errorf("message at the stop %q, want STOPPING=1", msg)
	}
}

// TestStartErrorLogged: in the foreground too, the reason the daemon could
// not start is printed and written to the log file.
func TestStartErrorLogged(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	logFile := filepath.Join(t.TempDir(), "log")
	code, out := runDaemon(t, "-f", "-o", logFile, "-d", filepath.Join(t.TempDir(), "db"),
		"-t", port(busy), "-T", "127.0.0.1", "-l", "off", "-s", "off")
	if code != 1 || !strings.Contains(out, "address already in use") {
		t.Errorf("exit status %d, output %q; want 1 and the reason", code, out)
	}
	if l := readFile(logFile); !strings.Contains(l, "could not start") || !strings.Contains(l, "address already in use") {
		t.Errorf("log file:\n%s\nwant the reason", l)
	}
}

// TestMetricsEndpoint: -M serves the counters over HTTP.
func TestMetricsEndpoint(t *testing.T) {
	tcp, mport := freePort(t, "tcp"), freePort(t, "tcp")
	p := startDaemon(t, "-d", filepath.Join(t.TempDir(), "db"), "-l", "off", "-s", "off",
		"-t", port(tcp), "-T", "127.0.0.1", "-M", "127.0.0.1:"+port(mport))
	c := dialTCP(t, tcp)
	c.MustSet("a", "1")
	c.MustSet("b", "2")
	c.MustGet("a", "1")

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port(mport)+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s, %v", resp.Status, err)
	}
	text := string(body)
	for _, line := range []string{
		"\nnmdb_db_set_total 2\n", "\nnmdb_db_get_total 1\n", "\nnmdb_cache_hits_total 1\n",
		"\nnmdb_msg_tcp_total 3\n", "\nnmdb_open_connections 1\n", "\nnmdb_role{role=\"active\"} 1\n",
		"# TYPE nmdb_db_set_total counter\n",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("the scrape lacks %q", strings.TrimSpace(line))
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", text)
	}
	p.waitLog(t, "serving metrics")
	p.stop(t)
}

// TestUser: started as root with --user, the daemon binds its sockets, then
// runs as that user: its database is created by that user.
func TestUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing user needs root; this test runs as user " + strconv.Itoa(os.Geteuid()))
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	// A directory the user can write in.
	dir, err := os.MkdirTemp("", "nmdb-user-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	tcp := freePort(t, "tcp")
	p := startDaemon(t, "-d", filepath.Join(dir, "db"), "-l", "off", "-s", "off",
		"-t", port(tcp), "-T", "127.0.0.1", "--user", "nobody")
	status := readFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	for _, f := range []struct{ field, id string }{{"Uid:", u.Uid}, {"Gid:", u.Gid}} {
		want := f.field + "\t" + strings.Repeat(f.id+"\t", 3) + f.id
		if !strings.Contains(status, want+"\n") {
			t.Errorf("daemon status lacks %q (real, effective, saved, file ids):\n%s", want, status)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || strconv.Itoa(int(st.Uid)) != u.Uid {
		t.Errorf("the database belongs to %v, want user %s (nobody)", fi.Sys(), u.Uid)
	}
	c := dialTCP(t, tcp)
	c.MustSet("as", "nobody")
	c.MustGet("as", "nobody")
	p.waitLog(t, "running as")
	p.stop(t)

	// An unknown user is an error, before anything is served.
	code, out := runDaemon(t, "-f", "-d", filepath.Join(dir, "db2"), "-l", "off", "-s", "off",
		"-t", port(tcp), "-T", "127.0.0.1", "--user", "no-such-user-nmdb")
	if code != 1 || !strings.Contains(out, "no-such-user-nmdb") {
		t.Errorf("unknown user: exit status %d, output %q", code, out)
	}
}
