package libnmdb_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
)

// TestShardingRendezvousClient stores user:N keys through a client with
// ShardingRendezvous over three real servers: each key is on the server
// Shard names, which is the one Sharding.Select picks from the client's
// identities, on no other, and every server gets its share.
func TestShardingRendezvousClient(t *testing.T) {
	ctx := testCtx(t)
	var srvs []*nmdbtest.Server
	for range 3 {
		srvs = append(srvs, startServer(t, "tcp", nmdb.Config{}))
	}
	all := newClient(t, libnmdb.Options{Sharding: libnmdb.ShardingRendezvous}, srvs...)
	byName := map[string]*libnmdb.Client{}
	for _, s := range srvs {
		byName["tcp "+s.Addr.String()] = newClient(t, libnmdb.Options{}, s)
	}
	order, ids := all.Servers(), all.Identities()
	for i, name := range order {
		if want := "tcp " + ids[i]; name != want {
			t.Fatalf("server %d: name %q, identity %q", i, name, ids[i])
		}
	}
	seen := make([]int, len(order))
	const keys = 300
	for i := range keys {
		key := fmt.Appendf(nil, "user:%d", i)
		mustOK(t, "set", all.CacheSet(ctx, key, key))
		want := all.Shard(key)
		if sel := libnmdb.ShardingRendezvous.Select(key, ids); sel != want {
			t.Fatalf("key %q: Shard %d, Select over the identities %d", key, want, sel)
		}
		seen[want]++
		for j, name := range order {
			v, err := byName[name].CacheGet(ctx, key)
			if j == want {
				mustGet(t, "get from its server", v, err, string(key))
			} else {
				mustErr(t, "get from another server", err, libnmdb.ErrNotFound)
			}
		}
	}
	// An even share is 100; a hash puts each server within 6 standard
	// deviations (8 keys each) of it.
	for j, n := range seen {
		if n < 50 || n > 150 {
			t.Errorf("server %d holds %d of %d keys: %v", j, n, keys, seen)
		}
	}
	t.Logf("keys per server: %v", seen)
	if got := libnmdb.New(libnmdb.Options{}).Shard([]byte("k")); got != -1 {
		t.Errorf("Shard with no servers = %d, want -1", got)
	}
}

// TestPing pings two servers, then one of them stopped: the error names
// the stopped one only, and the other still answers.
func TestPing(t *testing.T) {
	ctx := testCtx(t)
	if err := libnmdb.New(libnmdb.Options{}).Ping(ctx); !errors.Is(err, libnmdb.ErrNoServers) {
		t.Fatalf("ping with no servers: %v", err)
	}
	a, b := startServer(t, "tcp", nmdb.Config{}), startServer(t, "tcp", nmdb.Config{})
	c := newClient(t, libnmdb.Options{Timeout: 2 * time.Second}, a, b)
	mustOK(t, "ping", c.Ping(ctx))
	b.Stop()
	err := c.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), b.Addr.String()) || strings.Contains(err.Error(), a.Addr.String()) {
		t.Fatalf("ping with %v stopped: %v", b.Addr, err)
	}
	mustOK(t, "ping the other", newClient(t, libnmdb.Options{}, a).Ping(ctx))
}

// TestServerErrorText: the package prefix once, the code's meaning and
// number.
func TestServerErrorText(t *testing.T) {
	srv := startServer(t, "tcp", nmdb.Config{})
	c := newClient(t, libnmdb.Options{}, srv)
	srv.SetReadOnly(true)
	err := c.Set(testCtx(t), []byte("k"), []byte("v"))
	want := "nmdb: set on tcp " + srv.Addr.String() + ": server is read-only (error 0x107)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}
