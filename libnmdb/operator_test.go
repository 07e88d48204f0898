package libnmdb_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nmdb-go/nmdb/internal/testkit"
	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// TestGetNoFill: GetNoFill reads like Get and leaves what it read from the
// database out of the server's cache.
func TestGetNoFill(t *testing.T) {
	srv := startServer(t, "tcp", nmdb.Config{})
	c := newClient(t, libnmdb.Options{}, srv)
	ctx := testCtx(t)
	if err := c.SetSync(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := c.CacheDel(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	v, err := c.GetNoFill(ctx, []byte("k"))
	if err != nil || string(v) != "v" {
		t.Fatalf("GetNoFill = %q, %v; want v", v, err)
	}
	if _, err := c.GetNoFill(ctx, []byte("absent")); !errors.Is(err, libnmdb.ErrNotFound) {
		t.Fatalf("GetNoFill of an absent key: %v, want ErrNotFound", err)
	}
	if n := srv.Stats()[wire.StatObjectsCached]; n != 0 {
		t.Errorf("%d objects cached after GetNoFill, want 0", n)
	}
	if _, err := c.CacheGet(ctx, []byte("k")); !errors.Is(err, libnmdb.ErrNotFound) {
		t.Errorf("the value read by GetNoFill is in the cache: CacheGet = %v", err)
	}
}

// TestNotNMDB: a TCP server that answers with something else than nmdb
// messages gets a plain error, not a message about a frame length.
// With ThreadWait, a call with context.Background() reads the answer on a
// connection in blocking mode, with the same error.
func TestNotNMDB(t *testing.T) {
	for _, banner := range []string{"SSH-2.0-OpenSSH_9.2p1\r\n", "HTTP/1.1 400 Bad Request\r\n\r\n"} {
		for _, tw := range []bool{false, true} {
			testNotNMDB(t, banner, tw)
		}
	}
}

func testNotNMDB(t *testing.T, banner string, threadWait bool) {
	addr := testkit.Banner(t, banner)
	c := newClient(t, libnmdb.Options{ThreadWait: threadWait})
	if err := c.AddTCPServer("127.0.0.1", addr.Port); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if threadWait {
		ctx = context.Background()
	}
	_, err := c.Get(ctx, []byte("k"))
	if !errors.Is(err, libnmdb.ErrNotNMDB) || !errors.Is(err, libnmdb.ErrConnLost) {
		t.Fatalf("%q (ThreadWait %v): Get = %v, want ErrNotNMDB and ErrConnLost", banner, threadWait, err)
	}
	if threadWait && libnmdb.BlockingCalls(c) != 1 {
		t.Errorf("%q: the call with ThreadWait was not made in blocking mode", banner)
	}
	if msg := err.Error(); !strings.Contains(msg, "not an nmdb server?") || strings.Contains(msg, "frame length") {
		t.Errorf("%q (ThreadWait %v): error %q", banner, threadWait, msg)
	}
}
