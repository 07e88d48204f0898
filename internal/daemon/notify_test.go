package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeManager listens where a service manager would, on a Unix datagram
// socket at addr (a path, or "@name" in the abstract namespace).
func fakeManager(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	name := addr
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receive reads one datagram, or fails the test after a guard time.
func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("the fake service manager got nothing: %v", err)
	}
	return string(buf[:n])
}

func TestNotifyPath(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "notify")
	m := fakeManager(t, addr)
	t.Setenv(NotifyEnv, addr)
	state := fmt.Sprintf("READY=1\nMAINPID=%d\nSTATUS=serving", os.Getpid())
	sent, err := Notify(state)
	if err != nil || !sent {
		t.Fatalf("Notify = %v, %v; want sent", sent, err)
	}
	if got := receive(t, m); got != state {
		t.Errorf("the manager got %q, want %q", got, state)
	}
	if sent, err := Notify("STOPPING=1"); err != nil || !sent {
		t.Fatalf("second Notify = %v, %v", sent, err)
	}
	if got := receive(t, m); got != "STOPPING=1" {
		t.Errorf("the manager got %q, want STOPPING=1", got)
	}
}

func TestNotifyAbstract(t *testing.T) {
	addr := fmt.Sprintf("@nmdb-notify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	m := fakeManager(t, addr)
	t.Setenv(NotifyEnv, addr)
	if sent, err := Notify("READY=1"); err != nil || !sent {
		t.Fatalf("Notify = %v, %v", sent, err)
	}
	if got := receive(t, m); got != "READY=1" {
		t.Errorf("the manager got %q", got)
	}
}

func TestNotifyWithout(t *testing.T) {
	t.Setenv(NotifyEnv, "")
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Errorf("Notify without a manager = %v, %v; want nothing done", sent, err)
	}
}

func TestNotifyErrors(t *testing.T) {
	for _, addr := range []string{
		"relative/path",
		filepath.Join(t.TempDir(), "nobody-listens"),
	} {
		t.Setenv(NotifyEnv, addr)
		if sent, err := Notify("READY=1"); sent || err == nil {
			t.Errorf("%s=%q: Notify = %v, %v; want an error", NotifyEnv, addr, sent, err)
		}
	}
}
