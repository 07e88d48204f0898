package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
)

// TestRestoreCopyClassic: restore with 8 requests in flight into a pool
// holding a classic server (which loses replies to pipelined requests),
// and copy from it: every pair arrives, none is lost.
func TestRestoreCopyClassic(t *testing.T) {
	pairs := userPairs(400)
	src := startServer(t)
	loadPairs(t, src, pairs)
	file := filepath.Join(t.TempDir(), "dump")
	must(t, exitOK, "", "-s", src, "dump", file)

	ours := startServer(t)
	cs := nmdbtest.StartClassic(t)
	classic := fmt.Sprintf("tcp:%s", cs.Addr)
	must(t, exitOK, "", "-s", ours, "-s", classic, "-sharding", "rendezvous", "restore", "-j", "8", file)
	if cs.Lost() != 0 || cs.Len() == 0 {
		t.Fatalf("classic server: %d requests lost, %d pairs", cs.Lost(), cs.Len())
	}
	c := clientWith(t, libnmdb.ShardingRendezvous, ours, classic)
	for k, v := range pairs {
		got, err := c.Get(context.Background(), []byte(k))
		if err != nil || string(got) != v {
			t.Fatalf("after restore: %q = %q, %v", k, got, err)
		}
	}

	// Copy the classic server's pairs into a fresh server.
	dst := startServer(t)
	must(t, exitOK, "", "-s", dst, "copy", "-j", "8", "-from", classic)
	if got := contents(t, dst); len(got) != cs.Len() {
		t.Fatalf("copied %d pairs of %d", len(got), cs.Len())
	}
}
