package memo_test

import (
	"bytes"
	"log/slog"
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

// TestHungServer: with one of two servers hung (it reads requests and
// never replies), memoized calls whose results live there wait for it
// once, the lookup that marks it down; the others compute at once, and
// none tries to store. Results on the other server are still shared.
func TestHungServer(t *testing.T) {
	ctx := testCtx(t)
	// A back-off longer than the test: no probe comes in its way.
	c := libnmdb.New(libnmdb.Options{Timeout: 200 * time.Millisecond, Backoff: time.Hour, Sharding: libnmdb.ShardingRendezvous})
	t.Cleanup(func() { c.Close() })
	var srvs []*nmdbtest.Server
	for range 2 {
		s := nmdbtest.Start(t, "tcp", nmdb.Config{})
		if err := c.AddTCPServer("127.0.0.1", s.Port()); err != nil {
			t.Fatal(err)
		}
		srvs = append(srvs, s)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var calls atomic.Int32
	m := memo.New(c, "test/hung/v1", square(&calls), memo.Options{Logger: logger})

	// Arguments whose results live on each server, in Servers order.
	hung := 1
	if c.Servers()[1] != "tcp "+srvs[1].Addr.String() {
		hung = 0
	}
	var onHung, onLive []int
	for a := 0; len(onHung) < 20 || len(onLive) < 20; a++ {
		k, err := m.Key(a)
		if err != nil {
			t.Fatal(err)
		}
		if c.Shard(k) == hung {
			onHung = append(onHung, a)
		} else {
			onLive = append(onLive, a)
		}
	}
	onHung, onLive = onHung[:20], onLive[:20]
	if err := c.Ping(ctx); err != nil { // connected, then hung
		t.Fatal(err)
	}
	srvs[1].SetPassive(true)

	for _, a := range onHung {
		if v, err := m.Call(ctx, a); err != nil || v != a*a {
			t.Fatalf("call(%d) = %d, %v", a, v, err)
		}
	}
	for range 2 {
		for _, a := range onLive {
			if v, err := m.Call(ctx, a); err != nil || v != a*a {
				t.Fatalf("call(%d) = %d, %v", a, v, err)
			}
		}
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	var timeouts, fast int
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(line, "server marked down,"): // names the timeout as its cause
			fast++
		case strings.Contains(line, "deadline exceeded"):
			timeouts++
		}
	}
	stores := strings.Count(out, "storing result failed")
	if timeouts != 1 || fast != len(onHung)-1 || stores != 0 {
		t.Fatalf("lookups on the hung server: %d timed out, %d failed at once, %d stores failed; want 1, %d, 0\n%s",
			timeouts, fast, stores, len(onHung)-1, out)
	}
	if got, want := int(calls.Load()), len(onHung)+len(onLive); got != want {
		t.Fatalf("computed %d times, want %d (results on the live server computed once)", got, want)
	}
}
