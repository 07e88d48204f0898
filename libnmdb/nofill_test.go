package libnmdb_test

import (
	"errors"
	"testing"

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
