package testkit

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Banner listens on loopback and greets every connection with banner,
// then reads and ignores what it is sent, as a service that is not nmdb
// does. It stops when the test ends.
func Banner(tb testing.TB, banner string) *net.TCPAddr {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte(banner))
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr)
}

// StartSelf runs the test binary again, running no test, with env added
// to its environment (the test's TestMain acts on it, for instance by
// serving), and returns the process and the first line it prints, without
// the newline. The process is killed when the test ends.
func StartSelf(tb testing.TB, env ...string) (*exec.Cmd, string) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatalf("process %v: first line %q: %v", cmd.Args, line, err)
	}
	return cmd, strings.TrimSuffix(line, "\n")
}
