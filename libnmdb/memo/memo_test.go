package memo_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/libnmdb/memo"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// cluster starts n real servers and returns a client holding them.
func cluster(t *testing.T, n int) (*libnmdb.Client, []*nmdbtest.Server) {
	t.Helper()
	c := libnmdb.New(libnmdb.Options{})
	t.Cleanup(func() { c.Close() })
	var srvs []*nmdbtest.Server
	for range n {
		s := nmdbtest.Start(t, "tcp", nmdb.Config{})
		if err := c.AddTCPServer("127.0.0.1", s.Port()); err != nil {
			t.Fatal(err)
		}
		srvs = append(srvs, s)
	}
	return c, srvs
}

func square(calls *atomic.Int32) func(context.Context, int) (int, error) {
	return func(_ context.Context, n int) (int, error) {
		calls.Add(1)
		return n * n, nil
	}
}

func TestComputeOnceThenShare(t *testing.T) {
	ctx := testCtx(t)
	c, _ := cluster(t, 2)
	var calls atomic.Int32
	sq := memo.Func(c, "test/square/v1", square(&calls), memo.Options{})
	for range 3 {
		v, err := sq(ctx, 12)
		if err != nil || v != 144 {
			t.Fatalf("sq(12) = %d, %v", v, err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("computed %d times, want 1", calls.Load())
	}
	// Another Memo of the same name (as in another process) finds it.
	var calls2 atomic.Int32
	sq2 := memo.New(c, "test/square/v1", square(&calls2), memo.Options{})
	if v, err := sq2.Call(ctx, 12); err != nil || v != 144 || calls2.Load() != 0 {
		t.Fatalf("second memo: %d, %v, computed %d times", v, err, calls2.Load())
	}
	// Under another name it does not.
	sq3 := memo.Func(c, "test/square/v2", square(&calls2), memo.Options{})
	if v, err := sq3(ctx, 12); err != nil || v != 144 || calls2.Load() != 1 {
		t.Fatalf("other name: %d, %v, computed %d times", v, err, calls2.Load())
	}
	// The key is a digest, a colon, the name, a NUL and the JSON of the
	// argument.
	key, err := sq2.Key(12)
	if err != nil || string(key) != digest("test/square/v1\x0012")+":test/square/v1\x0012" {
		t.Fatalf("key %q, %v", key, err)
	}
	v, err := c.CacheGet(ctx, key)
	if err != nil || string(v) != "144" {
		t.Fatalf("stored %q, %v", v, err)
	}
	// Forget makes it compute again.
	if err := sq2.Forget(ctx, 12); err != nil {
		t.Fatal(err)
	}
	if err := sq2.Forget(ctx, 12); err != nil {
		t.Fatalf("forgetting twice: %v", err)
	}
	if v, err := sq2.Call(ctx, 12); err != nil || v != 144 || calls2.Load() != 2 {
		t.Fatalf("after forget: %d, %v, computed %d times", v, err, calls2.Load())
	}
}

func TestConcurrentCallersShareOneComputation(t *testing.T) {
	ctx := testCtx(t)
	c, _ := cluster(t, 1)
	var calls atomic.Int32
	release := make(chan struct{})
	slow := memo.Func(c, "test/slow/v1", func(ctx context.Context, n int) (string, error) {
		calls.Add(1)
		<-release
		return strconv.Itoa(n), nil
	}, memo.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			v, err := slow(ctx, 7)
			if err != nil || v != "7" {
				errs <- fmt.Errorf("slow(7) = %q, %v", v, err)
			}
		})
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Callers that came while it ran waited for it; later ones found the
	// stored result.
	if calls.Load() != 1 {
		t.Fatalf("computed %d times, want 1", calls.Load())
	}
}

func TestErrorsAreNotCached(t *testing.T) {
	ctx := testCtx(t)
	c, _ := cluster(t, 1)
	var calls atomic.Int32
	boom := errors.New("boom")
	flaky := memo.Func(c, "test/flaky/v1", func(ctx context.Context, n int) (int, error) {
		if calls.Add(1) == 1 {
			return 0, boom
		}
		return n + 1, nil
	}, memo.Options{})
	if _, err := flaky(ctx, 1); !errors.Is(err, boom) {
		t.Fatalf("first call: %v, want boom", err)
	}
	if v, err := flaky(ctx, 1); err != nil || v != 2 {
		t.Fatalf("second call: %d, %v", v, err)
	}
	if v, err := flaky(ctx, 1); err != nil || v != 2 || calls.Load() != 2 {
		t.Fatalf("third call: %d, %v, computed %d times", v, err, calls.Load())
	}
}

func TestTooBigComputedNotStoredReportedOnce(t *testing.T) {
	ctx := testCtx(t)
	c, _ := cluster(t, 1)
	var calls, reports atomic.Int32
	var reportedSize atomic.Int64
	big := memo.New(c, "test/big/v1", func(ctx context.Context, n int) (string, error) {
		calls.Add(1)
		return strings.Repeat("x", n), nil
	}, memo.Options{TooBig: func(name string, size int) {
		reports.Add(1)
		reportedSize.Store(int64(size))
	}})
	for range 3 {
		v, err := big.Call(ctx, 70000)
		if err != nil || len(v) != 70000 {
			t.Fatalf("big: %d bytes, %v", len(v), err)
		}
	}
	if calls.Load() != 3 || reports.Load() != 1 {
		t.Fatalf("computed %d times (want 3), reported %d times (want 1)", calls.Load(), reports.Load())
	}
	if reportedSize.Load() <= 65536 {
		t.Fatalf("reported size %d", reportedSize.Load())
	}
	key, _ := big.Key(70000)
	if _, err := c.CacheGet(ctx, key); !errors.Is(err, libnmdb.ErrNotFound) {
		t.Fatalf("too big result stored? %v", err)
	}
	// A small result of the same function is stored as usual.
	if _, err := big.Call(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := big.Call(ctx, 10); err != nil || calls.Load() != 4 {
		t.Fatalf("small result: %v, computed %d times", err, calls.Load())
	}
}

type point struct {
	X, Y int
	Tags map[string]bool
}

func TestGobCodecAndStructArguments(t *testing.T) {
	ctx := testCtx(t)
	c, _ := cluster(t, 2)
	var calls atomic.Int32
	f := func(ctx context.Context, p point) (point, error) {
		calls.Add(1)
		return point{X: p.Y, Y: p.X, Tags: map[string]bool{"swapped": true}}, nil
	}
	m1 := memo.New(c, "test/swap/v1", f, memo.Options{Codec: memo.Gob{}})
	m2 := memo.New(c, "test/swap/v1", f, memo.Options{Codec: memo.Gob{}})
	arg := point{X: 1, Y: 2, Tags: map[string]bool{"a": true, "b": false}}
	r1, err := m1.Call(ctx, arg)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := m2.Call(ctx, point{X: 1, Y: 2, Tags: map[string]bool{"b": false, "a": true}})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || r1.X != 2 || r2.X != 2 || !r2.Tags["swapped"] {
		t.Fatalf("computed %d times; %+v %+v", calls.Load(), r1, r2)
	}
}

func TestWorksWithoutServers(t *testing.T) {
	c := libnmdb.New(libnmdb.Options{}) // no servers: every lookup fails, results are computed
	defer c.Close()
	var calls atomic.Int32
	sq := memo.Func(c, "test/square/v1", square(&calls), memo.Options{})
	for range 2 {
		if v, err := sq(testCtx(t), 3); err != nil || v != 9 {
			t.Fatalf("sq(3) = %d, %v", v, err)
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("computed %d times, want 2", calls.Load())
	}
}

const childEnv = "NMDB_MEMO_TEST_CHILD"

// TestAcrossProcesses: a second process computes and stores results; this
// one then gets them from the servers without computing.
func TestAcrossProcesses(t *testing.T) {
	if addrs := os.Getenv(childEnv); addrs != "" {
		runChild(t, addrs)
		return
	}
	c, srvs := cluster(t, 2)
	var addrs []string
	for _, s := range srvs {
		addrs = append(addrs, s.Addr.String())
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcrossProcesses$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(addrs, ","))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		// Still running if the test failed early: stop it by its pid.
		if cmd.ProcessState == nil {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
			cmd.Wait()
		}
	})
	computed := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		t.Logf("child: %s", sc.Text())
		if n, ok := strings.CutPrefix(sc.Text(), "child computed "); ok {
			computed, _ = strconv.Atoi(n)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if computed != 20 {
		t.Fatalf("child computed %d results, want 20", computed)
	}

	var calls atomic.Int32
	sq := memo.Func(c, "test/cross/v1", square(&calls), memo.Options{})
	ctx := testCtx(t)
	for i := range 20 {
		v, err := sq(ctx, i)
		if err != nil || v != i*i {
			t.Fatalf("sq(%d) = %d, %v", i, v, err)
		}
	}
	if calls.Load() != 0 {
		t.Fatalf("this process computed %d results the child had stored", calls.Load())
	}
	if v, err := sq(ctx, 20); err != nil || v != 400 || calls.Load() != 1 {
		t.Fatalf("sq(20), which the child never computed: %d, %v, computed %d", v, err, calls.Load())
	}
}

func runChild(t *testing.T, addrs string) {
	c := libnmdb.New(libnmdb.Options{})
	defer c.Close()
	for _, a := range strings.Split(addrs, ",") {
		host, port, _ := strings.Cut(a, ":")
		p, err := strconv.Atoi(port)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddTCPServer(host, p); err != nil {
			t.Fatal(err)
		}
	}
	var calls atomic.Int32
	sq := memo.Func(c, "test/cross/v1", square(&calls), memo.Options{})
	for i := range 20 {
		if v, err := sq(testCtx(t), i); err != nil || v != i*i {
			t.Fatalf("child: sq(%d) = %d, %v", i, v, err)
		}
	}
	fmt.Printf("child computed %d\n", calls.Load())
}

// TestJoinerOutlivesStarter: a caller that joined a computation whose
// starter's context was cancelled gets a result of its own.
func TestJoinerOutlivesStarter(t *testing.T) {
	c, _ := cluster(t, 1)
	var calls atomic.Int32
	started := make(chan struct{})
	m := memo.New(c, "test/outlive/v1", func(ctx context.Context, n int) (int, error) {
		if calls.Add(1) == 1 {
			close(started)
			<-ctx.Done() // the starter's context ends while computing
			return 0, ctx.Err()
		}
		return n, nil
	}, memo.Options{})
	starterCtx, cancel := context.WithCancel(context.Background())
	starterErr := make(chan error, 1)
	go func() { _, err := m.Call(starterCtx, 5); starterErr <- err }()
	<-started
	joined := make(chan error, 1)
	go func() {
		v, err := m.Call(testCtx(t), 5)
		if err == nil && v != 5 {
			err = fmt.Errorf("got %d", v)
		}
		joined <- err
	}()
	cancel()
	if err := <-starterErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("starter: %v, want context.Canceled", err)
	}
	if err := <-joined; err != nil {
		t.Fatalf("joiner: %v", err)
	}
}

func TestLoggerAndKeyEncoder(t *testing.T) {
	ctx := testCtx(t)
	c, _ := cluster(t, 1)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	m := memo.New(c, "test/keys/v1", func(ctx context.Context, n int) (string, error) {
		return strings.Repeat("y", n), nil
	}, memo.Options{Logger: logger, KeyEncoder: func(a any) ([]byte, error) {
		return fmt.Appendf(nil, "n=%d", a), nil
	}})
	key, err := m.Key(3)
	if err != nil || string(key) != digest("test/keys/v1\x00n=3")+":test/keys/v1\x00n=3" {
		t.Fatalf("key %q, %v", key, err)
	}
	if v, err := m.Call(ctx, 3); err != nil || v != "yyy" {
		t.Fatalf("call: %q, %v", v, err)
	}
	if v, err := c.CacheGet(ctx, key); err != nil || string(v) != `"yyy"` {
		t.Fatalf("stored under the custom key: %q, %v", v, err)
	}
	for range 2 {
		if _, err := m.Call(ctx, 70000); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if n := strings.Count(out, "too big"); n != 1 {
		t.Fatalf("%d too-big reports, want 1:\n%s", n, out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
