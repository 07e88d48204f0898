package libnmdb_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
)

// BenchmarkGetParallel: 64 goroutines share one client and one TCP
// connection, reading a cached value.
func BenchmarkGetParallel(b *testing.B) {
	srv := startServer(b, "tcp", nmdb.Config{})
	c := newClient(b, libnmdb.Options{}, srv)
	ctx := context.Background()
	key, val := []byte("bench-key"), make([]byte, 100)
	if err := c.SetSync(ctx, key, val); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(ctx, key); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAppendGetParallel is BenchmarkGetParallel reading into a
// buffer each goroutine reuses.
func BenchmarkAppendGetParallel(b *testing.B) {
	srv := startServer(b, "tcp", nmdb.Config{})
	c := newClient(b, libnmdb.Options{}, srv)
	ctx := context.Background()
	key, val := []byte("bench-key"), make([]byte, 100)
	if err := c.SetSync(ctx, key, val); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 128)
		for pb.Next() {
			var err error
			if buf, err = c.AppendGet(ctx, buf[:0], key); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSetParallel: 64 goroutines storing cache-only values through one
// client.
func BenchmarkSetParallel(b *testing.B) {
	srv := startServer(b, "tcp", nmdb.Config{})
	c := newClient(b, libnmdb.Options{}, srv)
	ctx := context.Background()
	key, val := []byte("bench-key"), make([]byte, 100)
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.CacheSet(ctx, key, val); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGet: one request at a time, the classic client's pattern.
func BenchmarkGet(b *testing.B) {
	srv := startServer(b, "tcp", nmdb.Config{})
	c := newClient(b, libnmdb.Options{}, srv)
	ctx := context.Background()
	key, val := []byte("bench-key"), make([]byte, 100)
	if err := c.SetSync(ctx, key, val); err != nil {
		b.Error(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}
