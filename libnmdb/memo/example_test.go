package memo_test

import (
	"context"
	"fmt"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/libnmdb/memo"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
)

// Memoize a recursive function: each Fibonacci number is computed once and
// stored in the cluster's cache, where every other process finds it.
func Example() {
	// A server for the example: in-process, cache only ("null" backend).
	srv, err := nmdbtest.StartAt("tcp", "127.0.0.1:0", nmdb.Config{Backend: "null"})
	if err != nil {
		panic(err)
	}
	defer srv.Stop()

	c := libnmdb.New(libnmdb.Options{})
	defer c.Close()
	if err := c.AddTCPServer("127.0.0.1", srv.Port()); err != nil {
		panic(err)
	}

	computed := 0
	var fib func(context.Context, int) (int, error)
	fib = memo.Func(c, "example/fib/v1", func(ctx context.Context, n int) (int, error) {
		computed++
		if n < 2 {
			return n, nil
		}
		a, err := fib(ctx, n-1)
		if err != nil {
			return 0, err
		}
		b, err := fib(ctx, n-2)
		return a + b, err
	}, memo.Options{})

	ctx := context.Background()
	v, err := fib(ctx, 80)
	fmt.Println(v, err, "computed", computed)
	v, err = fib(ctx, 80)
	fmt.Println(v, err, "computed", computed)
	// Output:
	// 23416728348467685 <nil> computed 81
	// 23416728348467685 <nil> computed 81
}
