package main

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/cmd/internal/benchresult"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
)

// startServer runs an in-process nmdb server with a pebble store on TCP
// and UDP on one port of 127.0.0.1 and returns its address.
func startServer(t *testing.T) string {
	t.Helper()
	cfg := nmdb.Config{CacheObjects: 10000, Logger: slog.New(slog.DiscardHandler)}
	return nmdbtest.Start(t, "tcp+udp", cfg).Addr.String()
}

// TestRunsAgainstServer runs every kind of client loop against a real
// server and checks that each request was answered as it should be.
func TestRunsAgainstServer(t *testing.T) {
	addr := startServer(t)
	for _, args := range [][]string{
		{"-mode", "cache", "-gets", "1"},
		{"-mode", "cache", "-gets", "0", "-depth", "16", "-io", "poll", "-conns", "2"},
		{"-mode", "cache", "-gets", "0.5", "-transport", "udp", "-conns", "2"},
		{"-mode", "normal", "-gets", "0.5", "-depth", "8"},
		{"-mode", "sync", "-gets", "0", "-conns", "4", "-io", "poll"},
		{"-mode", "cache", "-gets", "1", "-client", "lib", "-goroutines", "8"},
		{"-mode", "normal", "-gets", "0.5", "-client", "lib", "-transport", "udp", "-goroutines", "2"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var c config
			fs := newFlagSet("t", &c)
			base := []string{"-addr", addr, "-keys", "500", "-requests", "400", "-duration", "30s", "-warmup", "0", "-timeout", "5s"}
			if err := fs.Parse(append(base, args...)); err != nil {
				t.Fatal(err)
			}
			if err := c.validate(); err != nil {
				t.Fatal(err)
			}
			res, err := runBench(&c, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops < 400 || res.Errors != 0 || res.Misses != 0 || res.Lost != 0 {
				t.Errorf("%s", res.Describe())
			}
			if c.gets == 1 && res.Hits != res.Ops {
				t.Errorf("gets of preloaded keys: %d hits of %d", res.Hits, res.Ops)
			}
			if res.OpsPerSec <= 0 || res.P50us <= 0 || res.P99us < res.P50us {
				t.Errorf("rate %v, p50 %v, p99 %v", res.OpsPerSec, res.P50us, res.P99us)
			}
		})
	}
	// The object count comes from the server's own counter.
	c := config{target: "nmdb", addr: addr, timeout: 5 * time.Second}
	n, err := countObjects(&c)
	if err != nil || n != 500 {
		t.Errorf("objects cached: %d, %v; want 500", n, err)
	}
}

// TestRefusesDeadServer checks that a run against an address where
// nothing listens fails promptly instead of reporting a result.
func TestRefusesDeadServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := config{target: "nmdb", addr: addr, transport: "tcp", client: "raw", io: "block", mode: "cache",
		procs: 1, conns: 1, depth: 1, goroutines: 1, keys: 10, keySize: 16, valSize: 8, gets: 1,
		duration: time.Second, timeout: time.Second, requests: 10, Labels: benchresult.Labels{Metric: "ops"}, preloadDepth: 1, preloadConns: 1}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := runBench(&c, nil); err == nil {
		t.Error("run against a closed port succeeded")
	}
}
