package nmdb

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/nmdb-go/nmdb/internal/store"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// TestStoreFaultInjected: a failed write or fsync of pebble's log gets
// ERR 0x106 for the writes it affects, never a panic; the server then
// refuses writes and serves reads, and everything acknowledged before the
// fault is there after a restart.
func TestStoreFaultInjected(t *testing.T) {
	for _, op := range []string{"fsync", "write"} {
		t.Run(op, func(t *testing.T) {
			ffs := &faultFS{FS: vfs.Default, op: op}
			armed, injected := &ffs.armed, &ffs.injected
			faults := make(chan error, 1)
			ts := startServer(t, serverOpts{cfg: Config{
				Pebble:       &pebble.Options{FS: ffs},
				OnStoreFault: func(err error) { faults <- err },
			}})
			ts.faultOK = true
			c := ts.dial()
			expect(t, "sync set", c.Do(setReq("a", "1", syncF)), wire.CodeOK)
			expect(t, "normal set", c.Do(setReq("b", "2", normal)), wire.CodeOK)
			expect(t, "sync set", c.Do(setReq("b2", "3", syncF)), wire.CodeOK)
			expect(t, "incr", c.Do(setReq("n", counterVal(5), syncF)), wire.CodeOK)

			armed.Store(true)
			expectErr(t, "sync set during the fault", c.Do(setReq("c", "4", syncF)), wire.ErrCodeDB)
			if injected.Load() == 0 {
				t.Fatal("no failure was injected")
			}
			err := <-faults
			if !errors.Is(err, syscall.EIO) || !errors.Is(ts.s.StoreFault(), syscall.EIO) {
				t.Fatalf("store fault %v, want the injected EIO", err)
			}
			armed.Store(false)
			// Writes are refused from now on, reads go on.
			expectErr(t, "normal set after the fault", c.Do(setReq("d", "5", normal)), wire.ErrCodeDB)
			expectErr(t, "incr after the fault", c.Do(incrReq("n", 1, normal)), wire.ErrCodeDB)
			expectErr(t, "sync del after the fault", c.Do(delReq("a", syncF)), wire.ErrCodeDB)
			expect(t, "cache-only del", c.Do(delReq("a", cOnly)), wire.CodeOK)
			expect(t, "get from the database", c.Do(getReq("a", normal)), wire.CodeOK, "1")
			expectVal(t, "get", c.Do(getReq("b", normal)), "2")
			ts.shutdown()

			ts2 := startServer(t, serverOpts{dir: ts.dir})
			c2 := ts2.dial()
			for k, v := range map[string]string{"a": "1", "b": "2", "b2": "3", "n": counterVal(5)} {
				expect(t, "after restart", c2.Do(getReq(k, normal)), wire.CodeOK, v)
			}
			expect(t, "refused write after restart", c2.Do(getReq("d", normal)), wire.CodeNotIn)
		})
	}
}

// faultFS fails every write (op "write") or sync (op "fsync") of pebble's
// log files with EIO while armed.
type faultFS struct {
	vfs.FS
	op       string
	armed    atomic.Bool
	injected atomic.Int64
}

func (fs *faultFS) wrap(f vfs.File, name string, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &faultFile{File: f, fs: fs}, nil
}

func (fs *faultFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	return fs.wrap(f, name, err)
}

func (fs *faultFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname)
	return fs.wrap(f, newname, err)
}

// fail returns the injected error if op is to fail now.
func (fs *faultFS) fail(op string) error {
	if !fs.armed.Load() || op != fs.op {
		return nil
	}
	fs.injected.Add(1)
	return fmt.Errorf("injected %s failure: %w", op, syscall.EIO)
}

// faultFile is a log file of a faultFS.
type faultFile struct {
	vfs.File
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.fail("write"); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if err := f.fs.fail("fsync"); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) SyncData() error {
	if err := f.fs.fail("fsync"); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *faultFile) SyncTo(length int64) (bool, error) {
	if err := f.fs.fail("fsync"); err != nil {
		return false, err
	}
	return f.File.SyncTo(length)
}

// TestStoreFullDisk fills a small tmpfs with sync sets: the write that
// finds no space gets ERR 0x106 (no panic), writes are refused after it,
// reads go on, and once there is room again every acknowledged write is
// there.
func TestStoreFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED, NOT RUN: mounting a small tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED, NOT RUN: cannot mount a tmpfs (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	dir := filepath.Join(mnt, "db")
	ts := startServer(t, serverOpts{dir: dir})
	ts.faultOK = true
	c := ts.dial()
	val := func(i int) string {
		b := make([]byte, 30000)
		r := rand.New(rand.NewPCG(uint64(i), 7))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		return string(b)
	}
	acked := 0
	for ; ; acked++ {
		if acked > 1000 {
			t.Fatal("8 MiB took 30 MB of sync sets without running out of space")
		}
		r := c.Do(setReq(fmt.Sprint("key", acked), val(acked), syncF))
		if r.Code != wire.CodeOK {
			expectErr(t, "the set that found the disk full", r, wire.ErrCodeDB)
			break
		}
	}
	t.Logf("%d sync sets of 30000 bytes acknowledged before the disk was full", acked)
	if err := ts.s.StoreFault(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("store fault %v, want ENOSPC", err)
	}
	expectErr(t, "normal set on the full disk", c.Do(setReq("x", "y", normal)), wire.ErrCodeDB)
	expectVal(t, "get on the full disk", c.Do(getReq("key0", normal)), val(0))
	// Still full: the store stays failed, writes stay refused.
	expectErr(t, "sync set on the full disk", c.Do(setReq("x", "y", syncF)), wire.ErrCodeDB)

	// Room again: the server reopens the store and takes writes.
	if out, err := exec.Command("mount", "-o", "remount,size=64m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("growing the tmpfs: %v: %s", err, out)
	}
	deadline := time.Now().Add(ioTimeout)
	for ts.s.StoreFault() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the store still failed with room on the disk: %v", ts.s.StoreFault())
		}
		time.Sleep(10 * time.Millisecond)
	}
	expect(t, "sync set once the disk has room", c.Do(setReq("after", "1", syncF)), wire.CodeOK)
	expect(t, "normal set once the disk has room", c.Do(setReq("after2", "2", normal)), wire.CodeOK)
	for i := range acked {
		expectVal(t, "acknowledged set after the disk had room again", c.Do(getReq(fmt.Sprint("key", i), normal)), val(i))
	}
	ts.faultOK = false
	ts.shutdown()

	ts2 := startServer(t, serverOpts{dir: dir})
	c2 := ts2.dial()
	for i := range acked {
		expect(t, "acknowledged set after a restart", c2.Do(getReq(fmt.Sprint("key", i), normal)), wire.CodeOK, val(i))
	}
	expect(t, "set after the recovery", c2.Do(getReq("after", normal)), wire.CodeOK, "1")
	expect(t, "set after the recovery", c2.Do(getReq("after2", normal)), wire.CodeOK, "2")
	ts2.shutdown()
}

// sumFiles returns the SHA-256 of every file in dir, by name.
func sumFiles(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sums := make(map[string][32]byte)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sums[e.Name()] = sha256.Sum256(b)
	}
	return sums
}

// TestDamagedStoreRefused: a store directory whose CURRENT file or
// manifest is gone is refused with a clear error, never replaced by a new
// store, and its files are left exactly as they were.
func TestDamagedStoreRefused(t *testing.T) {
	for _, damage := range []string{"CURRENT", "MANIFEST-*"} {
		t.Run(damage, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			ts := startServer(t, serverOpts{dir: dir})
			c := ts.dial()
			for i := range 200 {
				c.Send(setReq(fmt.Sprint("key", i), "v", normal))
			}
			for range 200 {
				expect(t, "set", c.Recv(), wire.CodeOK)
			}
			ts.shutdown()
			matches, err := filepath.Glob(filepath.Join(dir, damage))
			if err != nil || len(matches) == 0 {
				t.Fatalf("no %s in the store: %v", damage, err)
			}
			for _, m := range matches {
				if err := os.Remove(m); err != nil {
					t.Fatal(err)
				}
			}
			before := sumFiles(t, dir)
			for range 2 {
				s, err := New(Config{DBPath: dir})
				if err == nil {
					_ = s.Shutdown(t.Context())
					t.Fatalf("a store without %s was opened", damage)
				}
				t.Logf("refused: %v", err)
				if damage == "CURRENT" && !errors.Is(err, store.ErrDamaged) {
					t.Fatalf("error %v, want store.ErrDamaged", err)
				}
			}
			after := sumFiles(t, dir)
			if len(after) != len(before) {
				t.Fatalf("files before %d, after %d", len(before), len(after))
			}
			for name, sum := range before {
				if after[name] != sum {
					t.Fatalf("%s changed", name)
				}
			}
		})
	}
}
