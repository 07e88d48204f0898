package libnmdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// The ordering example of the compatibility notes.
func TestServerOrderExample(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.1")
	var list []*server
	for _, p := range []int{26500, 27100, 27300, 27500, 28000} {
		list = append(list, &server{tr: wire.TCP, ip: ip, port: p})
	}
	slices.SortStableFunc(list, compareServers)
	var got []int
	for _, s := range list {
		got = append(got, s.port)
	}
	want := []int{28000, 27500, 26500, 27300, 27100}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestServerOrderTransportsAndAddresses(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	list := []*server{
		{tr: wire.SCTP, ip: a("10.0.0.1"), port: 1, name: "sctp"},
		{tr: wire.UDP, ip: a("10.0.0.1"), port: 1, name: "udp"},
		// The last octet is the most significant: 1.0.0.2 > 2.0.0.1.
		{tr: wire.TCP, ip: a("1.0.0.2"), port: 1, name: "tcp 1.0.0.2"},
		{tr: wire.TCP, ip: a("2.0.0.1"), port: 1, name: "tcp 2.0.0.1"},
		// The address comes before the port.
		{tr: wire.TCP, ip: a("2.0.0.1"), port: 0x0100, name: "tcp 2.0.0.1 port 256"},
		{tr: wire.TCP, ip: a("3.0.0.1"), port: 0x0001, name: "tcp 3.0.0.1 port 1"},
		{tr: wire.TIPC, port: 11, name: "tipc 11"},
		{tr: wire.TIPC, port: 10, name: "tipc 10"},
	}
	slices.SortStableFunc(list, compareServers)
	var got []string
	for _, s := range list {
		got = append(got, s.name)
	}
	want := []string{"tipc 10", "tipc 11", "tcp 2.0.0.1 port 256", "tcp 2.0.0.1", "tcp 3.0.0.1 port 1", "tcp 1.0.0.2", "udp", "sctp"}
	if !slices.Equal(got, want) {
		t.Fatalf("order\n%q\nwant\n%q", got, want)
	}
}

func TestRegisterWrapsAndSkipsBusy(t *testing.T) {
	ln := &link{slots: make([]*call, minSlots)}
	mask := uint32(minSlots - 1)
	ln.lastID = wire.IDMask - 1
	for _, id := range []uint32{wire.IDMask, 1, 2} {
		ln.slots[id&mask] = &call{id: id}
		ln.npend++
	}
	cl := &call{}
	if err := ln.register(cl); err != nil || cl.id != 3 {
		t.Fatalf("register: id %d, %v; want 3 (wrap past the 28-bit mask, skip 0 and ids in flight)", cl.id, err)
	}
	ln.lastID = 5
	cl = &call{}
	if err := ln.register(cl); err != nil || cl.id != 6 {
		t.Fatalf("register: id %d, %v; want 6", cl.id, err)
	}
	if ln.npend != 5 {
		t.Fatalf("%d calls pending, want 5", ln.npend)
	}
}

// TestSlotsGrow: the table doubles as calls pile up, and every call is
// still found by its id, once.
func TestSlotsGrow(t *testing.T) {
	ln := &link{slots: make([]*call, minSlots)}
	ln.lastID = wire.IDMask - 100 // grow across the id wrap too
	calls := make([]*call, 5*minSlots)
	for i := range calls {
		calls[i] = &call{}
		if err := ln.register(calls[i]); err != nil {
			t.Fatal(err)
		}
	}
	if len(ln.slots) < 2*len(calls) {
		t.Fatalf("%d slots for %d calls: not kept at most half full", len(ln.slots), len(calls))
	}
	seen := map[uint32]bool{}
	for _, cl := range calls {
		if cl.id == 0 || cl.id > wire.IDMask || seen[cl.id] {
			t.Fatalf("bad or repeated id %d", cl.id)
		}
		seen[cl.id] = true
	}
	for i, cl := range calls {
		if got := ln.take(cl.id); got != cl {
			t.Fatalf("take(%d) found %p, want call %d (%p)", cl.id, got, i, cl)
		}
		if got := ln.take(cl.id); got != nil {
			t.Fatalf("take(%d) twice found a call", cl.id)
		}
	}
	if ln.npend != 0 {
		t.Fatalf("%d calls pending after taking all", ln.npend)
	}
}

// TestStaleReplyToReusedSlot: a call given up frees its slot; the call
// that gets the slot next has another id, and a late reply to the first
// does not reach it.
func TestStaleReplyToReusedSlot(t *testing.T) {
	ln := &link{slots: make([]*call, minSlots)}
	old := &call{}
	if err := ln.register(old); err != nil {
		t.Fatal(err)
	}
	if !ln.forget(old) {
		t.Fatal("forget: the call was not pending")
	}
	if ln.forget(old) {
		t.Fatal("forget twice: the call was still pending")
	}
	mask := uint32(len(ln.slots) - 1)
	var reuse *call
	for range 4 * minSlots {
		cl := &call{}
		if err := ln.register(cl); err != nil {
			t.Fatal(err)
		}
		if cl.id&mask == old.id&mask {
			reuse = cl
			break
		}
		if ln.take(cl.id) != cl {
			t.Fatalf("take(%d) did not find its call", cl.id)
		}
	}
	if reuse == nil {
		t.Fatal("the slot was never reused")
	}
	if reuse.id == old.id {
		t.Fatalf("id %d reused while a reply to it may still come", old.id)
	}
	if got := ln.take(old.id); got != nil {
		t.Fatalf("a late reply to id %d was handed to the call with id %d", old.id, got.id)
	}
	if got := ln.take(reuse.id); got != reuse {
		t.Fatal("the call in the reused slot was lost")
	}
}

// TestSweeper: the sweeper fails the calls whose deadline passed with
// errExpired, in order, leaves the others alone, and stops with the link.
func TestSweeper(t *testing.T) {
	ln := &link{slots: make([]*call, minSlots), t: nopTransport{}, s: &server{}}
	now := time.Now()
	noDeadline := newCall()
	late := newCall()
	late.deadline = now.Add(time.Hour)
	soon := newCall()
	soon.deadline = now.Add(20 * time.Millisecond)
	sooner := newCall()
	sooner.deadline = now.Add(10 * time.Millisecond)
	ln.mu.Lock()
	for _, cl := range []*call{noDeadline, late, soon, sooner} {
		if err := ln.register(cl); err != nil {
			t.Fatal(err)
		}
	}
	if !ln.sweepAt.Equal(sooner.deadline) {
		t.Errorf("sweeper set for %v, want the earliest deadline %v", ln.sweepAt.Sub(now), sooner.deadline.Sub(now))
	}
	ln.mu.Unlock()
	for _, cl := range []*call{sooner, soon} {
		<-cl.done
		if cl.err != errExpired {
			t.Fatalf("swept call failed with %v, want errExpired", cl.err)
		}
		if time.Now().Before(cl.deadline) {
			t.Fatal("call swept before its deadline")
		}
	}
	ln.mu.Lock()
	if ln.npend != 2 || ln.slots[late.id&uint32(len(ln.slots)-1)] != late {
		t.Errorf("%d calls left, want the two without a past deadline", ln.npend)
	}
	if !ln.sweepAt.Equal(late.deadline) {
		t.Errorf("sweeper set for %v, want the remaining deadline %v", ln.sweepAt.Sub(now), late.deadline.Sub(now))
	}
	ln.mu.Unlock()
	ln.fail(ErrClosed)
	for _, cl := range []*call{noDeadline, late} {
		<-cl.done
		if cl.err != ErrClosed {
			t.Fatalf("call failed with %v, want ErrClosed", cl.err)
		}
	}
	ln.mu.Lock()
	if !ln.sweepAt.IsZero() {
		t.Error("sweeper still set on a dead link")
	}
	ln.mu.Unlock()
}

// nopTransport is a transport that moves nothing.
type nopTransport struct{}

func (nopTransport) readMsg() ([]byte, error)        { return nil, io.EOF }
func (nopTransport) write([]byte) error              { return nil }
func (nopTransport) setReadDeadline(time.Time) error { return nil }
func (nopTransport) Close() error                    { return nil }

func TestServerErrorMatchesItsCode(t *testing.T) {
	codes := []struct {
		code wire.ErrCode
		want error
	}{
		{wire.ErrCodeVersion, ErrVersion},
		{wire.ErrCodeSend, ErrSend},
		{wire.ErrCodeBroken, ErrBroken},
		{wire.ErrCodeUnknown, ErrUnknown},
		{wire.ErrCodeMemory, ErrMemory},
		{wire.ErrCodeDB, ErrDB},
		{wire.ErrCodeReadOnly, ErrReadOnly},
	}
	for _, c := range codes {
		var err error = &ServerError{Server: "tcp 127.0.0.1:1", Op: wire.OpSet, Code: c.code}
		err = fmt.Errorf("wrapped: %w", err)
		for _, o := range codes {
			if got := errors.Is(err, o.want); got != (o.code == c.code) {
				t.Errorf("errors.Is(%v, %v) = %v", err, o.want, got)
			}
		}
		if errors.Is(err, ErrNotFound) {
			t.Errorf("%v matches ErrNotFound", err)
		}
	}
}

// TestIDWrapOnALiveConnection runs requests across the 28-bit id wrap
// against a real server.
func TestIDWrapOnALiveConnection(t *testing.T) {
	srv := nmdbtest.Start(t, "tcp", nmdb.Config{})
	c := New(Options{})
	defer c.Close()
	if err := c.AddTCPServer("127.0.0.1", srv.Port()); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()); err != nil { // connects
		t.Fatal(err)
	}
	ln := (*c.servers.Load())[0].cur.Load()
	ln.mu.Lock()
	ln.lastID = wire.IDMask - 2
	ln.mu.Unlock()
	ctx := context.Background()
	for i := range 6 {
		k := fmt.Appendf(nil, "k%d", i)
		if err := c.Set(ctx, k, k); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(ctx, k); err != nil || string(v) != string(k) {
			t.Fatalf("get %s = %q, %v", k, v, err)
		}
	}
	ln.mu.Lock()
	last := ln.lastID
	ln.mu.Unlock()
	if last == 0 || last > 20 {
		t.Fatalf("last id %d: did not wrap", last)
	}
}

// pending returns how many calls wait on c's only link, and the Done
// channel of the context the link watches.
func pending(c *Client) (int, <-chan struct{}) {
	ln := (*c.servers.Load())[0].cur.Load()
	if ln == nil {
		return 0, nil // not connected yet
	}
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return ln.npend, ln.watched
}

// waitPending waits until n calls wait on c's only link.
func waitPending(t *testing.T, c *Client, n int) {
	t.Helper()
	for {
		if got, _ := pending(c); got == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// getAll runs n gets of key with ctx at once and returns their errors.
func getAll(t *testing.T, c *Client, ctx context.Context, n int, key string, start func()) []error {
	t.Helper()
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := c.Get(ctx, []byte(key))
			errs <- err
		}()
	}
	waitPending(t, c, n)
	start()
	var out []error
	for range n {
		out = append(out, <-errs)
	}
	return out
}

// TestSharedContextIsWatched: calls sharing a context wait without a
// select of their own, and still end when the context is cancelled, or
// reaches its deadline, with the context's error; the link then watches
// the next shared context.
func TestSharedContextIsWatched(t *testing.T) {
	srv := nmdbtest.Start(t, "tcp", nmdb.Config{})
	c := New(Options{Timeout: time.Minute, Backoff: -1}) // the passive server stays in use
	defer c.Close()
	if err := c.AddTCPServer("127.0.0.1", srv.Port()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		if err := c.Set(ctx, []byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if _, w := pending(c); w != ctx.Done() {
		t.Fatal("the link does not watch a context two calls shared")
	}

	srv.SetPassive(true)
	for _, err := range getAll(t, c, ctx, 8, "k", cancel) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("get with its context cancelled: %v, want context.Canceled", err)
		}
	}
	if n, w := pending(c); n != 0 || w != nil {
		t.Fatalf("%d calls still pending, watched %v: want none", n, w)
	}

	srv.SetPassive(false)
	dl, cancel3 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel3()
	for range 2 {
		if err := c.Set(dl, []byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if _, w := pending(c); w != dl.Done() {
		t.Fatal("the link does not watch the next shared context")
	}
	srv.SetPassive(true)
	for _, err := range getAll(t, c, dl, 4, "k", func() {}) {
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no reply before the deadline") {
			t.Errorf("get past its context's deadline: %v", err)
		}
	}
	srv.SetPassive(false)
	if v, err := c.Get(context.Background(), []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("get after the timeouts = %q, %v", v, err)
	}
}

// TestSweeperOnALiveConnection: calls whose contexts carry no deadline,
// with or without a Done channel, time out through the sweeper at
// Options.Timeout with the same error as ever, and leave nothing behind.
func TestSweeperOnALiveConnection(t *testing.T) {
	srv := nmdbtest.Start(t, "tcp", nmdb.Config{})
	c := New(Options{Timeout: 200 * time.Millisecond, Backoff: -1}) // the passive server stays in use
	defer c.Close()
	if err := c.AddTCPServer("127.0.0.1", srv.Port()); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()); err != nil { // connects
		t.Fatal(err)
	}
	cancelable, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv.SetPassive(true)
	for _, ctx := range []context.Context{context.Background(), cancelable} {
		for _, err := range getAll(t, c, ctx, 4, "k", func() {}) {
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no reply before the deadline") {
				t.Errorf("get from a passive server: %v", err)
			}
		}
		if n, _ := pending(c); n != 0 {
			t.Fatalf("%d calls left pending", n)
		}
	}
	srv.SetPassive(false)
	if err := c.Set(context.Background(), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
}
