package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
	"golang.org/x/sys/unix"
)

// procKiB returns a "VmRSS"-style field of /proc/PID/status in KiB.
func procKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", field, line, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestCacheMemoryBound floods a daemon started with -m 64 with cache-only
// sets of large values, 8 times the bound in all, in sizes the allocator
// rounds up differently: its peak resident memory stays within 1.2 times
// the bound plus a fixed amount (the idle daemon's own plus 64 MiB), and
// the cache reports its bytes and evictions.
func TestCacheMemoryBound(t *testing.T) {
	if raceBuild {
		t.Skip("SKIPPED, NOT RUN under -race: the race detector multiplies the daemon's memory; the plain test run measures it")
	}
	const mib = 64
	const bound = mib << 20
	db := filepath.Join(t.TempDir(), "db")
	tcp := freePort(t, "tcp")
	p := startDaemon(t, "-d", db, "-t", port(tcp), "-T", "127.0.0.1", "-s", "off", "-l", "off", "-m", strconv.Itoa(mib))
	pid := p.cmd.Process.Pid
	idle := procKiB(t, pid, "VmRSS") << 10
	c := dialTCP(t, tcp)
	sizes := []int{64000, 32769, 65000, 40000}
	val := make([]byte, 65000)
	for i := range val {
		val[i] = byte(i * 7)
	}
	const window = 16
	sent, n := 0, 0
	for sent < 8*bound {
		for range window {
			size := sizes[n%len(sizes)]
			c.Send(wire.Request{Op: wire.OpSet, Flags: wire.FlagCacheOnly, Key: []byte(fmt.Sprint("key", n)), Val: val[:size]})
			sent += size
			n++
		}
		for range window {
			r, err := c.TryRecv(waitLimit)
			if err != nil || r.Code != wire.CodeOK {
				t.Fatalf("cache-only set: %v %v", r.Code, err)
			}
		}
	}
	peak := procKiB(t, pid, "VmHWM") << 10
	st := c.Do(wire.Request{Op: wire.OpStats})
	counters, err := st.Counters(nil)
	if err != nil || len(counters) <= wire.StatEvictions {
		t.Fatalf("stats: %d counters, %v", len(counters), err)
	}
	cached, evicted := counters[wire.StatBytesCached], counters[wire.StatEvictions]
	t.Logf("%d sets, %d MiB of values: peak RSS %d MiB (idle %d MiB), %d MiB cached in %d objects, %d evictions",
		n, sent>>20, peak>>20, idle>>20, cached>>20, counters[wire.StatObjectsCached], evicted)
	if cached > bound {
		t.Errorf("%d bytes cached, over the bound of %d", cached, bound)
	}
	if evicted == 0 || counters[wire.StatObjectsCached]+evicted != uint64(n) {
		t.Errorf("%d objects cached and %d evicted, want %d sets in all", counters[wire.StatObjectsCached], evicted, n)
	}
	if limit := idle + bound*12/10 + 64<<20; peak > limit {
		t.Errorf("peak RSS %d MiB, over %d MiB (1.2 x %d MiB + the idle %d MiB + 64 MiB)", peak>>20, limit>>20, mib, idle>>20)
	}
	p.stop(t)
}

// smallTmpfs mounts a tmpfs of size (mount's syntax) on a temporary
// directory, unmounted when the test ends, or skips the test saying why.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED, NOT RUN: mounting a small tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED, NOT RUN: cannot mount a tmpfs (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// remount changes the options of the tmpfs at mnt.
func remount(t *testing.T, mnt, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+opts, mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v: %s", mnt, opts, err, out)
	}
}

// syncSetsUntilRefused sends sync sets of val until one gets an ERR
// reply, which must be ERR 0x106, and returns how many were acknowledged.
func syncSetsUntilRefused(t *testing.T, c *nmdbtest.Client, val []byte) int {
	t.Helper()
	for acked := 0; acked <= 1000; acked++ {
		r := c.Do(wire.Request{Op: wire.OpSet, Flags: wire.FlagSync, Key: []byte(fmt.Sprint("key", acked)), Val: val})
		if r.Code != wire.CodeOK {
			if r.Code != wire.CodeErr || r.Err != wire.ErrCodeDB {
				t.Fatalf("the set that failed: %v %#x, want ERR 0x106", r.Code, uint32(r.Err))
			}
			return acked
		}
	}
	t.Fatal("30 MB of sync sets were all acknowledged")
	return 0
}

// checkAcked gets key0 .. key(n-1) from c: each must hold val.
func checkAcked(t *testing.T, c *nmdbtest.Client, n int, val []byte) {
	t.Helper()
	for i := range n {
		r := c.Do(wire.Request{Op: wire.OpGet, Key: []byte(fmt.Sprint("key", i))})
		if (r.Code != wire.CodeOK && r.Code != wire.CodeCacheHit) || string(r.Val) != string(val) {
			t.Fatalf("key%d: %v (%d bytes)", i, r.Code, len(r.Val))
		}
	}
}

// bigValue is an incompressible-enough 30,000-byte value.
func bigValue() []byte {
	val := make([]byte, 30000)
	for i := range val {
		val[i] = byte(i*131 + i>>8)
	}
	return val
}

// TestFullDiskRecovers: a daemon whose database disk fills up answers the
// write that found no space with ERR 0x106 (no panic), refuses writes and
// serves reads while the disk is full, logs why, and takes writes again
// once the disk has room; every acknowledged write is there, also after a
// restart.
func TestFullDiskRecovers(t *testing.T) {
	mnt := smallTmpfs(t, "8m")
	db := filepath.Join(mnt, "db")
	tcp := freePort(t, "tcp")
	p := startDaemon(t, "-d", db, "-t", port(tcp), "-T", "127.0.0.1", "-s", "off", "-l", "off")
	c := dialTCP(t, tcp)
	val := bigValue()
	acked := syncSetsUntilRefused(t, c, val)
	p.waitLog(t, "disk is full")
	if r := c.Set("x", "y"); r.Code != wire.CodeErr || r.Err != wire.ErrCodeDB {
		t.Fatalf("normal set on the full disk: %v %#x, want ERR 0x106", r.Code, uint32(r.Err))
	}
	checkAcked(t, c, acked, val)

	remount(t, mnt, "size=64m")
	p.waitLog(t, "the database is writable again")
	c.MustSet("after", "1")
	checkAcked(t, c, acked, val)
	t.Logf("%d sync sets acknowledged before the disk was full; writable again once it had room", acked)
	p.stop(t)

	tcp = freePort(t, "tcp")
	p = startDaemon(t, "-d", db, "-t", port(tcp), "-T", "127.0.0.1", "-s", "off", "-l", "off")
	c = dialTCP(t, tcp)
	checkAcked(t, c, acked, val)
	c.MustGet("after", "1")
	p.stop(t)
}

// TestFailingDiskStopsCleanly: a daemon whose database writes start
// failing with an error other than a full disk (here EFBIG: the process's
// file size limit is lowered under it) answers the write with ERR 0x106,
// logs why, and exits with status 1 and a clear message, not a panic; a
// restart serves every acknowledged write.
func TestFailingDiskStopsCleanly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	tcp := freePort(t, "tcp")
	p := startDaemon(t, "-d", db, "-t", port(tcp), "-T", "127.0.0.1", "-s", "off", "-l", "off")
	c := dialTCP(t, tcp)
	val := bigValue()
	for i := range 20 {
		if r := c.Do(wire.Request{Op: wire.OpSet, Flags: wire.FlagSync, Key: []byte(fmt.Sprint("key", i)), Val: val}); r.Code != wire.CodeOK {
			t.Fatalf("sync set: %v", r.Code)
		}
	}
	// Files may grow to 1 MiB from now on: the log soon cannot.
	lim := unix.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if err := unix.Prlimit(p.cmd.Process.Pid, unix.RLIMIT_FSIZE, &lim, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	refusedAt := syncSetsUntilRefused(t, c, val)
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		t.Fatal("the daemon did not stop after its disk failed")
	}
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("daemon exit: %v, want status 1", p.err)
	}
	log, stderr := readFile(p.log), readFile(p.stderr)
	if !strings.Contains(log, "the database could not be written") || !strings.Contains(stderr, "file too large") ||
		strings.Contains(stderr, "panic") {
		t.Fatalf("log:\n%s\nstderr:\n%s", log, stderr)
	}
	t.Logf("%d sync sets acknowledged; the daemon said: %s", refusedAt, strings.TrimSpace(stderr))

	tcp = freePort(t, "tcp")
	p = startDaemon(t, "-d", db, "-t", port(tcp), "-T", "127.0.0.1", "-s", "off", "-l", "off")
	c = dialTCP(t, tcp)
	checkAcked(t, c, refusedAt, val)
	p.stop(t)
}
