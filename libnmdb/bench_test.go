package libnmdb_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
)

// benchClient starts a server and returns a client for it and the key and
// 100-byte value the benchmark uses, stored on the server when stored is
// set.
func benchClient(b *testing.B, stored bool) (c *libnmdb.Client, key, val []byte) {
	b.Helper()
	c = newClient(b, libnmdb.Options{}, startServer(b, "tcp", nmdb.Config{}))
	key, val = []byte("bench-key"), make([]byte, 100)
	if stored {
		if err := c.SetSync(context.Background(), key, val); err != nil {
			b.Fatal(err)
		}
	}
	return c, key, val
}

// runParallel runs op from 64 goroutines sharing the client and its one
// TCP connection. Each goroutine gets its own op from newOp.
func runParallel(b *testing.B, newOp func() func() error) {
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		op := newOp()
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetParallel: 64 goroutines share one client and one TCP
// connection, reading a cached value.
func BenchmarkGetParallel(b *testing.B) {
	c, key, _ := benchClient(b, true)
	ctx := context.Background()
	runParallel(b, func() func() error {
		return func() error {
			_, err := c.Get(ctx, key)
			return err
		}
	})
}

// BenchmarkGetParallelSharedContext is BenchmarkGetParallel with every
// call under one context with a deadline, as a program's root context.
func BenchmarkGetParallelSharedContext(b *testing.B) {
	c, key, _ := benchClient(b, true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	runParallel(b, func() func() error {
		return func() error {
			_, err := c.Get(ctx, key)
			return err
		}
	})
}

// BenchmarkAppendGetParallel is BenchmarkGetParallel reading into a
// buffer each goroutine reuses.
func BenchmarkAppendGetParallel(b *testing.B) {
	c, key, _ := benchClient(b, true)
	ctx := context.Background()
	runParallel(b, func() func() error {
		buf := make([]byte, 0, 128)
		return func() error {
			var err error
			buf, err = c.AppendGet(ctx, buf[:0], key)
			return err
		}
	})
}

// BenchmarkSetParallel: 64 goroutines storing cache-only values through one
// client.
func BenchmarkSetParallel(b *testing.B) {
	c, key, val := benchClient(b, false)
	ctx := context.Background()
	runParallel(b, func() func() error {
		return func() error { return c.CacheSet(ctx, key, val) }
	})
}

// BenchmarkGet: one request at a time, the classic client's pattern.
func BenchmarkGet(b *testing.B) {
	c, key, _ := benchClient(b, true)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}
