package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
)

// shardKey and shardVal are the i-th key and value of scenario 2. The keys
// vary in length and content so that they spread over the servers (keys that
// differ only in a counter do not: the hash is a checksum).
func shardKey(i int) []byte { return fmt.Appendf(nil, "k%d-%x", i, uint32(i)*2654435761) }
func shardVal(i int) []byte { return []byte("value of " + strconv.Itoa(i)) }

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, f func(i int) error) error {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// cmdShard stores keys through a client holding several TIPC servers and
// checks that each key landed on the server the sharding rule predicts.
func cmdShard(args []string) error {
	fs := flag.NewFlagSet("shard", flag.ExitOnError)
	portsFlag := fs.String("ports", "11,12,13", "TIPC ports of the servers, in the order they are added to the client")
	count := fs.Int("n", 10000, "number of keys")
	workers := fs.Int("workers", 32, "concurrent requests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ports []int
	for _, s := range strings.Split(*portsFlag, ",") {
		p, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("bad -ports: %w", err)
		}
		ports = append(ports, p)
	}
	// SPEC section 4: TIPC servers are ordered by port, whatever the order
	// they were added in.
	sorted := slices.Sorted(slices.Values(ports))
	owner := make([]int, *count) // index into sorted
	for i := range owner {
		// libnmdb.Select is checked against every row of select.tsv by
		// the client's own tests.
		owner[i] = libnmdb.Select(shardKey(i), len(sorted))
	}

	ctx := context.Background()
	all := libnmdb.New(libnmdb.Options{})
	defer all.Close()
	for _, p := range ports {
		if err := all.AddTIPCServer(p); err != nil {
			return fmt.Errorf("add tipc %d: %w", p, err)
		}
	}
	if err := waitUp(ctx, all); err != nil {
		return err
	}
	start := time.Now()
	if err := parallel(*count, *workers, func(i int) error {
		if err := all.Set(ctx, shardKey(i), shardVal(i)); err != nil {
			return fmt.Errorf("set %q: %w", shardKey(i), err)
		}
		return nil
	}); err != nil {
		return err
	}
	fmt.Printf("shard: stored %d keys through one client holding TIPC ports %v in %.1fs\n", *count, ports, time.Since(start).Seconds())

	// Ask each server alone about every key.
	for si, p := range sorted {
		start := time.Now()
		one := libnmdb.New(libnmdb.Options{})
		err := checkShard(ctx, one, p, si, owner, *workers)
		one.Close()
		if err != nil {
			return err
		}
		fmt.Printf("shard: port %d holds its %d predicted keys with their values, and none of the other %d (%.1fs)\n",
			p, countOwned(owner, si), len(owner)-countOwned(owner, si), time.Since(start).Seconds())
	}
	return nil
}

// countOwned counts the keys that belong to server si.
func countOwned(owner []int, si int) int {
	n := 0
	for _, o := range owner {
		if o == si {
			n++
		}
	}
	return n
}

// checkShard checks the server on TIPC port p, index si in sharding order,
// through the single-server client one: every key predicted for it is there
// with its value, every other key is absent.
func checkShard(ctx context.Context, one *libnmdb.Client, p, si int, owner []int, workers int) error {
	if err := one.AddTIPCServer(p); err != nil {
		return fmt.Errorf("add tipc %d: %w", p, err)
	}
	return parallel(len(owner), workers, func(i int) error {
		v, err := one.Get(ctx, shardKey(i))
		if owner[i] != si {
			if !errors.Is(err, libnmdb.ErrNotFound) {
				return fmt.Errorf("get %q on port %d, which must not have it: got %q, %v; want not found", shardKey(i), p, v, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %q on port %d: %w", shardKey(i), p, err)
		}
		if string(v) != string(shardVal(i)) {
			return fmt.Errorf("key %q on port %d has value %q, want %q", shardKey(i), p, v, shardVal(i))
		}
		return nil
	})
}
