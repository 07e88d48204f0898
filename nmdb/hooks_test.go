package nmdb

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nmdb-go/nmdb/internal/store"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// hookStore wraps a store to count commits, inject failures and hold the
// database worker at a chosen point.
type hookStore struct {
	store.Store
	commits     atomic.Int64 // commits of batches with writes
	syncCommits atomic.Int64
	failGet     atomic.Bool
	failCommit  atomic.Bool

	mu      sync.Mutex
	holdKey string        // a Get of this key waits for release
	held    chan struct{} // closed when the worker is held
	release chan struct{}
	// holdCommit makes the first commit wait for release.
	holdCommit bool
}

var errInjected = errors.New("injected failure")

func (h *hookStore) NewBatch() store.Batch { return &hookBatch{Batch: h.Store.NewBatch(), h: h} }

// hold makes the worker wait at the next Get of key (or, with key "",
// at the next commit) until the returned function is called.
func (h *hookStore) hold(key string, commit bool) (held <-chan struct{}, release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holdKey, h.holdCommit = key, commit
	h.held, h.release = make(chan struct{}), make(chan struct{})
	rel := h.release
	return h.held, func() { close(rel) }
}

// maybeHold waits if this is the point to hold at.
func (h *hookStore) maybeHold(key string, commit bool) {
	h.mu.Lock()
	hit := h.release != nil && (commit && h.holdCommit || !commit && !h.holdCommit && key == h.holdKey)
	var held, rel chan struct{}
	if hit {
		held, rel = h.held, h.release
		h.release = nil
	}
	h.mu.Unlock()
	if hit {
		close(held)
		<-rel
	}
}

type hookBatch struct {
	store.Batch
	h *hookStore
}

func (b *hookBatch) Get(dst, key []byte) ([]byte, bool, error) {
	b.h.maybeHold(string(key), false)
	if b.h.failGet.Load() {
		return dst, false, errInjected
	}
	return b.Batch.Get(dst, key)
}

func (b *hookBatch) Next(dst, after []byte, first bool) ([]byte, bool, error) {
	if b.h.failGet.Load() {
		return dst, false, errInjected
	}
	return b.Batch.Next(dst, after, first)
}

func (b *hookBatch) Commit(sync bool) error {
	b.h.maybeHold("", true)
	if b.h.failCommit.Load() {
		return errInjected
	}
	b.h.commits.Add(1)
	if sync {
		b.h.syncCommits.Add(1)
	}
	return b.Batch.Commit(sync)
}

// hookServer starts a server on a hooked pebble store.
func hookServer(t *testing.T, cfg Config) (*testServer, *hookStore) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenPebble(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &hookStore{Store: st}
	return startServer(t, serverOpts{cfg: cfg, store: h, dir: dir}), h
}

// TestGroupCommit checks that concurrent sync writes share commits: while
// the worker is held in one commit, more sync sets queue up, and they all
// go to disk in one more commit.
func TestGroupCommit(t *testing.T) {
	ts, h := hookServer(t, Config{})
	const n = 16
	held, release := h.hold("", true)
	first := ts.dial()
	firstID := first.Send(setReq("k0", "v", syncF))
	<-held

	clients := make([]*client, n-1)
	ids := make([]uint32, n-1)
	for i := range clients {
		clients[i] = ts.dial()
	}
	for i, c := range clients {
		ids[i] = c.Send(setReq("k"+string(rune('a'+i)), "v", syncF))
	}
	ts.waitStat(wire.StatQueueLength, n-1)
	release()

	r := first.Recv()
	if r.ID != firstID || r.Code != wire.CodeOK {
		t.Fatalf("first sync set: %+v", r)
	}
	for i, c := range clients {
		r := c.Recv()
		if r.ID != ids[i] || r.Code != wire.CodeOK {
			t.Fatalf("sync set %d: %+v", i, r)
		}
	}
	if got := h.syncCommits.Load(); got >= n || got != 2 {
		t.Fatalf("%d sync sets took %d synced commits, want 2", n, got)
	}
	c := ts.dial()
	for i := range n - 1 {
		k := "k" + string(rune('a'+i))
		expect(t, "cache del", c.Do(delReq(k, cOnly)), wire.CodeOK)
		expect(t, "get from database", c.Do(getReq(k, normal)), wire.CodeOK, "v")
	}
}

// TestFillRace checks that a database read that raced a newer write does
// not put the older value in the cache.
func TestFillRace(t *testing.T) {
	for _, evict := range []bool{false, true} {
		cfg := Config{}
		if evict {
			cfg.CacheObjects = 1
		}
		ts, h := hookServer(t, cfg)
		c := ts.dial()
		expect(t, "set", c.Do(setReq("k", "v1", syncF)), wire.CodeOK)
		expect(t, "cache del", c.Do(delReq("k", cOnly)), wire.CodeOK)

		held, release := h.hold("block", false)
		blockID := c.Send(getReq("block", normal))
		<-held
		getID := c.Send(getReq("k", normal)) // queued: will read v1
		expect(t, "set v2", c.Do(setReq("k", "v2", normal)), wire.CodeOK)
		if evict {
			// Push v2 out of the one-object cache.
			expect(t, "set other", c.Do(setReq("other", "x", cOnly)), wire.CodeOK)
		}
		release()
		for range 2 {
			r := c.Recv()
			switch r.ID {
			case blockID:
				expect(t, "get block", r, wire.CodeNotIn)
			case getID:
				// Queued before the set: the old value is a valid answer.
				expect(t, "raced get", r, wire.CodeOK, "v1")
			default:
				t.Fatalf("unexpected reply %+v", r)
			}
		}
		r := c.Do(getReq("k", normal))
		expectVal(t, "get after race", r, "v2")
		if !evict {
			expect(t, "cached after race", r, wire.CodeCacheHit, "v2")
		}
	}
}

// TestDatabaseErrors reaches ERR 0x106 through a failing store.
func TestDatabaseErrors(t *testing.T) {
	ts, h := hookServer(t, Config{})
	c := ts.dial()
	expect(t, "set", c.Do(setReq("k", "v", syncF)), wire.CodeOK)
	expect(t, "cache del", c.Do(delReq("k", cOnly)), wire.CodeOK)
	h.failGet.Store(true)
	expectErr(t, "get", c.Do(getReq("k", normal)), wire.ErrCodeDB)
	expectErr(t, "cas", c.Do(casReq("k", "v", "w", normal)), wire.ErrCodeDB)
	expectErr(t, "incr", c.Do(incrReq("k", 1, normal)), wire.ErrCodeDB)
	expectErr(t, "del sync", c.Do(delReq("k", syncF)), wire.ErrCodeDB)
	expectErr(t, "firstkey", c.Do(wire.Request{Op: wire.OpFirstKey}), wire.ErrCodeDB)
	expectErr(t, "nextkey", c.Do(wire.Request{Op: wire.OpNextKey, Key: []byte("k")}), wire.ErrCodeDB)
	h.failGet.Store(false)
	h.failCommit.Store(true)
	expectErr(t, "set sync", c.Do(setReq("k", "w", syncF)), wire.ErrCodeDB)
	// What was not written is not served from the cache either.
	expect(t, "cache get after the failed set", c.Do(getReq("k", cOnly)), wire.CodeCacheMiss)
	h.failCommit.Store(false)
	// The store failed: writes are refused from now on, reads go on.
	if ts.s.StoreFault() == nil {
		t.Fatal("no store fault after a failed commit")
	}
	commits := h.commits.Load()
	expectErr(t, "cas after the fault", c.Do(casReq("k", "v", "w", normal)), wire.ErrCodeDB)
	expectErr(t, "set after the fault", c.Do(setReq("k", "w", normal)), wire.ErrCodeDB)
	expectErr(t, "incr after the fault", c.Do(incrReq("k", 1, normal)), wire.ErrCodeDB)
	expectErr(t, "del after the fault", c.Do(delReq("k", normal)), wire.ErrCodeDB)
	expect(t, "cache-only set after the fault", c.Do(setReq("c", "1", cOnly)), wire.CodeOK)
	expect(t, "get after failures", c.Do(getReq("k", normal)), wire.CodeOK, "v")
	if n := h.commits.Load() - commits; n != 0 {
		t.Fatalf("%d commits after the fault", n)
	}
}

// TestShutdownFinishesQueue: a sync write still in the queue when
// Shutdown starts is committed and answered before the store closes.
func TestShutdownFinishesQueue(t *testing.T) {
	ts, h := hookServer(t, Config{})
	c := ts.dial()
	held, release := h.hold("", true)
	c.Send(setReq("first", "1", syncF))
	<-held
	id := c.Send(setReq("queued", "2", syncF))
	ts.waitStat(wire.StatQueueLength, 1)

	done := make(chan error, 1)
	go func() { done <- ts.s.Shutdown(context.Background()) }()
	for !ts.s.closing.Load() {
		runtime.Gosched()
	}
	release()
	expect(t, "first sync set", c.Recv(), wire.CodeOK)
	r := c.Recv()
	if r.ID != id {
		t.Fatalf("reply id %d, want %d", r.ID, id)
	}
	expect(t, "sync set queued at shutdown", r, wire.CodeOK)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := c.TryRecv(ioTimeout); err == nil {
		t.Fatal("connection still open after Shutdown")
	}
	checkKeysVals(t, ts.dir, map[string]string{"first": "1", "queued": "2"})
}
