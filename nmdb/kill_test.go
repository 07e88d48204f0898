package nmdb

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// afterSyncBound is how long the kill tests wait after the last reply
// before SIGKILL: past the bound nmdb(1) states for normal-mode writes
// (100 ms while the queue is not backed up), with room for a loaded
// machine. It is a wait, never something the tests measure.
const afterSyncBound = 500 * time.Millisecond

// kill9 kills the server process with SIGKILL and reaps it.
func kill9(t *testing.T, pid int, wait func() error) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err == nil {
		t.Fatal("server process exited cleanly after SIGKILL")
	}
}

// TestNormalWritesSurviveKillAfterBound: normal-mode sets and dels are
// acknowledged at once and reach the operating system within the stated
// bound, so SIGKILL after that loses none of them, even with the server
// idle since the writes (pebble alone keeps them in the process until
// something syncs its log).
func TestNormalWritesSurviveKillAfterBound(t *testing.T) {
	const rounds, n = 3, 50
	lost := 0
	for round := range rounds {
		dir := filepath.Join(t.TempDir(), "db")
		cmd, ts := startServerProcess(t, dir)
		c := ts.dial()
		expect(t, "sync set", c.Do(setReq("gone", "x", syncF)), wire.CodeOK)
		expect(t, "normal del", c.Do(delReq("gone", normal)), wire.CodeOK)
		for i := range n {
			expect(t, "normal set", c.Do(setReq(fmt.Sprint("key", i), fmt.Sprint("v", round, i), normal)), wire.CodeOK)
		}
		time.Sleep(afterSyncBound)
		kill9(t, cmd.Process.Pid, cmd.Wait)

		ts2 := startServer(t, serverOpts{dir: dir})
		c2 := ts2.dial()
		for i := range n {
			r := c2.Do(getReq(fmt.Sprint("key", i), normal))
			if r.Code != wire.CodeOK || string(r.Val) != fmt.Sprint("v", round, i) {
				lost++
			}
		}
		if r := c2.Do(getReq("gone", normal)); r.Code != wire.CodeNotIn {
			lost++
		}
		ts2.shutdown()
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged normal-mode writes lost to SIGKILL after the bound", lost, rounds*(n+1))
	}
}

// TestIncrCASSurviveKill: incr and cas are answered only once their write
// reached the operating system, so after SIGKILL during a stream of them
// a counter is never below the highest value acknowledged, nor a value
// swapped in by cas below the highest acknowledged win.
func TestIncrCASSurviveKill(t *testing.T) {
	const rounds, incrClients, casClients, window = 3, 4, 2, 8
	const killAfter = 300 // acknowledged increments before the kill
	badRounds := 0
	for round := range rounds {
		dir := filepath.Join(t.TempDir(), "db")
		cmd, ts := startServerProcess(t, dir)
		setup := ts.dial()
		expect(t, "counter", setup.Do(setReq("n", counterVal(0), syncF)), wire.CodeOK)
		expect(t, "cas key", setup.Do(setReq("c", "0", syncF)), wire.CodeOK)

		var maxIncr, maxCAS, acked atomic.Int64
		raise := func(a *atomic.Int64, v int64) {
			for old := a.Load(); v > old && !a.CompareAndSwap(old, v); old = a.Load() {
			}
		}
		var wg sync.WaitGroup
		for range incrClients {
			c := ts.dial()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					for range window {
						// A failed write (the server was killed) is
						// left to the next read.
						_, _ = c.TrySend(incrReq("n", 1, normal))
					}
					for range window {
						r, err := c.TryRecv(ioTimeout)
						if err != nil {
							return
						}
						if r.Code == wire.CodeOK && len(r.Val) == 8 {
							raise(&maxIncr, int64(binary.BigEndian.Uint64(r.Val)))
							acked.Add(1)
						}
					}
				}
			}()
		}
		for range casClients {
			c := ts.dial()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					_, _ = c.TrySend(getReq("c", normal))
					r, err := c.TryRecv(ioTimeout)
					if err != nil {
						return
					}
					old := string(r.Val)
					v, _ := strconv.ParseInt(old, 10, 64)
					_, _ = c.TrySend(casReq("c", old, strconv.FormatInt(v+1, 10), normal))
					if r, err = c.TryRecv(ioTimeout); err != nil {
						return
					}
					if r.Code == wire.CodeOK {
						raise(&maxCAS, v+1)
					}
				}
			}()
		}
		for acked.Load() < killAfter {
			time.Sleep(time.Millisecond)
		}
		kill9(t, cmd.Process.Pid, cmd.Wait)
		wg.Wait()

		ts2 := startServer(t, serverOpts{dir: dir})
		c2 := ts2.dial()
		r := c2.Do(getReq("n", normal))
		got, ok := wire.ParseCounter(r.Val)
		if r.Code != wire.CodeOK || !ok {
			t.Fatalf("round %d: counter after restart: %v %q", round, r.Code, r.Val)
		}
		r = c2.Do(getReq("c", normal))
		gotCAS, err := strconv.ParseInt(string(r.Val), 10, 64)
		if r.Code != wire.CodeOK || err != nil {
			t.Fatalf("round %d: cas key after restart: %v %q", round, r.Code, r.Val)
		}
		t.Logf("round %d: counter %d, highest acknowledged %d; cas key %d, highest acknowledged win %d",
			round, got, maxIncr.Load(), gotCAS, maxCAS.Load())
		if got < maxIncr.Load() || gotCAS < maxCAS.Load() {
			badRounds++
		}
		ts2.shutdown()
	}
	if badRounds > 0 {
		t.Fatalf("%d of %d rounds lost acknowledged incr or cas results to SIGKILL", badRounds, rounds)
	}
}
