package libnmdb_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
)

// startExampleServer starts an in-process server with a pebble database in
// a temporary directory, listening on a free loopback port. stop shuts it
// down and removes the database.
func startExampleServer() (port int, stop func()) {
	dir, err := os.MkdirTemp("", "nmdb-example")
	if err != nil {
		panic(err)
	}
	srv, err := nmdbtest.StartAt("tcp", "127.0.0.1:0", nmdb.Config{DBPath: dir})
	if err != nil {
		panic(err)
	}
	return srv.Port(), func() {
		if err := srv.Stop(); err != nil {
			panic(err)
		}
		os.RemoveAll(dir)
	}
}

// Store, read, count and swap values on one server.
func Example() {
	port, stop := startExampleServer()
	defer stop()

	c := libnmdb.New(libnmdb.Options{})
	defer c.Close()
	if err := c.AddTCPServer("127.0.0.1", port); err != nil {
		panic(err)
	}
	ctx := context.Background()

	// Set queues the write and returns; SetSync waits for the database.
	if err := c.SetSync(ctx, []byte("greeting"), []byte("hello")); err != nil {
		panic(err)
	}
	v, err := c.Get(ctx, []byte("greeting"))
	fmt.Printf("%s %v\n", v, err)

	_, err = c.Get(ctx, []byte("nobody"))
	fmt.Println(errors.Is(err, libnmdb.ErrNotFound))

	// Swap only if the value is still the one we read.
	err = c.CAS(ctx, []byte("greeting"), []byte("hello"), []byte("bonjour"))
	fmt.Println(err)
	err = c.CAS(ctx, []byte("greeting"), []byte("hello"), []byte("hola"))
	fmt.Println(errors.Is(err, libnmdb.ErrNoMatch))

	// Counters: Incr on a value that is not one fails with ErrNotNumber.
	if err := c.Set(ctx, []byte("visits"), []byte("41\x00")); err != nil {
		panic(err)
	}
	n, err := c.Incr(ctx, []byte("visits"), 1)
	fmt.Println(n, err)
	_, err = c.Incr(ctx, []byte("greeting"), 1)
	fmt.Println(errors.Is(err, libnmdb.ErrNotNumber))

	// Cache-only values never reach the database.
	if err := c.CacheSet(ctx, []byte("token"), []byte("abc")); err != nil {
		panic(err)
	}
	v, err = c.CacheGet(ctx, []byte("token"))
	fmt.Printf("%s %v\n", v, err)

	// Output:
	// hello <nil>
	// true
	// <nil>
	// true
	// 42 <nil>
	// true
	// abc <nil>
}

// Spread keys over several servers. Every client, in Go or C, that holds
// the same servers sends a key to the same one: libnmdb.Select names it.
func Example_sharding() {
	c := libnmdb.New(libnmdb.Options{})
	defer c.Close()
	alone := map[string]*libnmdb.Client{} // one client per server, to look
	for range 3 {
		port, stop := startExampleServer()
		defer stop()
		if err := c.AddTCPServer("127.0.0.1", port); err != nil {
			panic(err)
		}
		one := libnmdb.New(libnmdb.Options{})
		defer one.Close()
		if err := one.AddTCPServer("127.0.0.1", port); err != nil {
			panic(err)
		}
		alone[one.Servers()[0]] = one
	}
	ctx := context.Background()

	servers := c.Servers() // in sharding order
	for _, k := range []string{"apple", "banana", "cherry", "damson"} {
		if err := c.SetSync(ctx, []byte(k), []byte("fruit")); err != nil {
			panic(err)
		}
		i := libnmdb.Select([]byte(k), c.NumServers())
		_, err := alone[servers[i]].Get(ctx, []byte(k))
		fmt.Printf("%s is on server %d: %v\n", k, i, err == nil)
	}

	stats, err := c.Stats(ctx)
	fmt.Println(len(stats), err)

	// Output:
	// apple is on server 1: true
	// banana is on server 0: true
	// cherry is on server 1: true
	// damson is on server 0: true
	// 3 <nil>
}
