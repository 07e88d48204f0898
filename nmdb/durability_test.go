package nmdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/nmdb-go/nmdb/internal/testkit"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// serverDirEnv, when set, turns the test binary into a server process on
// that database directory (see TestMain).
const serverDirEnv = "NMDB_TEST_SERVER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(serverDirEnv); dir != "" {
		if err := runServerProcess(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runServerProcess serves TCP on a free loopback port, prints the address,
// and shuts down cleanly on SIGTERM.
func runServerProcess(dir string) error {
	s, err := New(Config{DBPath: dir})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	served := make(chan error, 1)
	go func() { served <- s.ServeTCP(l) }()
	fmt.Println(l.Addr())
	<-sigs
	if err := s.Shutdown(context.Background()); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		return err
	}
	return nil
}

// startServerProcess runs the test binary as a server on dir and returns
// it and its address; the process is killed when the test ends.
func startServerProcess(t *testing.T, dir string) (*exec.Cmd, *testServer) {
	t.Helper()
	cmd, line := testkit.StartSelf(t, serverDirEnv+"="+dir)
	return cmd, &testServer{t: t, tcp: line}
}

// checkKeys reopens dir in this process and checks that every key holds
// its value, read from the database.
func checkKeys(t *testing.T, dir string, n int, val func(int) string) {
	t.Helper()
	ts := startServer(t, serverOpts{dir: dir})
	c := ts.dial()
	for i := range n {
		expect(t, "after restart", c.Do(getReq(fmt.Sprint("key", i), normal)), wire.CodeOK, val(i))
	}
	ts.shutdown()
}

// TestSyncSurvivesKill: values acknowledged by sync sets are on disk
// when the server is killed with SIGKILL right after the reply.
func TestSyncSurvivesKill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	cmd, ts := startServerProcess(t, dir)
	c := ts.dial()
	const n = 100
	val := func(i int) string { return fmt.Sprint("value", i) }
	for i := range n {
		c.Send(setReq(fmt.Sprint("key", i), val(i), syncF))
	}
	for range n {
		expect(t, "sync set", c.Recv(), wire.CodeOK)
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("server process exited cleanly after SIGKILL")
	}
	checkKeys(t, dir, n, val)
}

// TestNormalSurvivesSIGTERM: after SIGTERM the server finishes the queue,
// so normal-mode writes are all there.
func TestNormalSurvivesSIGTERM(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	cmd, ts := startServerProcess(t, dir)
	c := ts.dial()
	const n = 500
	val := func(i int) string { return fmt.Sprint("normal", i) }
	for i := range n {
		c.Send(setReq(fmt.Sprint("key", i), val(i), normal))
	}
	for range n {
		expect(t, "set", c.Recv(), wire.CodeOK)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("server process after SIGTERM: %v", err)
	}
	checkKeys(t, dir, n, val)
}

// TestRestartInProcess: Shutdown keeps normal and sync writes, and a new
// server on the same directory serves them.
func TestRestartInProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	ts := startServer(t, serverOpts{dir: dir})
	c := ts.dial()
	const n = 500
	val := func(i int) string { return fmt.Sprint("v", i) }
	for i := range n {
		f := normal
		if i%2 == 0 {
			f = syncF
		}
		c.Send(setReq(fmt.Sprint("key", i), val(i), f))
	}
	// One more is set and deleted again; the delete must persist too.
	c.Send(setReq(fmt.Sprint("key", n), "gone", syncF))
	c.Send(delReq(fmt.Sprint("key", n), normal))
	for range n + 2 {
		expect(t, "write", c.Recv(), wire.CodeOK)
	}
	ts.shutdown()
	checkKeys(t, dir, n, val)
	ts2 := startServer(t, serverOpts{dir: dir})
	expect(t, "deleted key", ts2.dial().Do(getReq(fmt.Sprint("key", n), normal)), wire.CodeNotIn)
}

// TestNullBackend stores nothing: what leaves the cache is gone.
func TestNullBackend(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{Backend: "null", CacheObjects: 1}})
	c := ts.dial()
	expect(t, "set", c.Do(setReq("a", "1", syncF)), wire.CodeOK)
	expect(t, "get cached", c.Do(getReq("a", normal)), wire.CodeCacheHit, "1")
	expect(t, "set b", c.Do(setReq("b", "2", normal)), wire.CodeOK)
	expect(t, "get evicted", c.Do(getReq("a", normal)), wire.CodeNotIn)
	expect(t, "firstkey", c.Do(wire.Request{Op: wire.OpFirstKey}), wire.CodeNotIn)
	if _, err := New(Config{Backend: "qdbm"}); err == nil {
		t.Fatal("New accepted backend qdbm")
	}
}

// checkKeysVals reopens dir in this process and checks the given keys.
func checkKeysVals(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	ts := startServer(t, serverOpts{dir: dir})
	c := ts.dial()
	for k, v := range want {
		expect(t, "after restart", c.Do(getReq(k, normal)), wire.CodeOK, v)
	}
	ts.shutdown()
}
