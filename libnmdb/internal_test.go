package libnmdb

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// The ordering example of the compatibility notes.
func TestServerOrderExample(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.1")
	var list []*server
	for _, p := range []int{26500, 27100, 27300, 27500, 28000} {
		list = append(list, &server{tr: trTCP, ip: ip, port: p})
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
		{tr: trSCTP, ip: a("10.0.0.1"), port: 1, name: "sctp"},
		{tr: trUDP, ip: a("10.0.0.1"), port: 1, name: "udp"},
		// The last octet is the most significant: 1.0.0.2 > 2.0.0.1.
		{tr: trTCP, ip: a("1.0.0.2"), port: 1, name: "tcp 1.0.0.2"},
		{tr: trTCP, ip: a("2.0.0.1"), port: 1, name: "tcp 2.0.0.1"},
		// The address comes before the port.
		{tr: trTCP, ip: a("2.0.0.1"), port: 0x0100, name: "tcp 2.0.0.1 port 256"},
		{tr: trTCP, ip: a("3.0.0.1"), port: 0x0001, name: "tcp 3.0.0.1 port 1"},
		{tr: trTIPC, port: 11, name: "tipc 11"},
		{tr: trTIPC, port: 10, name: "tipc 10"},
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

func TestNewIDWrapsAndSkipsBusy(t *testing.T) {
	ln := &link{pending: map[uint32]*call{}}
	ln.lastID = wire.IDMask - 1
	busy := &call{}
	ln.pending[wire.IDMask] = busy
	ln.pending[1] = busy
	ln.pending[2] = busy
	if id := ln.newID(); id != 3 {
		t.Fatalf("newID = %d, want 3 (wrap past the 28-bit mask, skip 0 and ids in flight)", id)
	}
	ln.lastID = 5
	if id := ln.newID(); id != 6 {
		t.Fatalf("newID = %d, want 6", id)
	}
}

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
	c := New()
	defer c.Close()
	if err := c.AddTCPServer("127.0.0.1", srv.Port()); err != nil {
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
