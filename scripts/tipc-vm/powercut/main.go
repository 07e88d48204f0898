// Command powercut is the guest side of the power-cut test
// (scripts/tipc-vm/powercut.sh).
//
//	powercut write ADDR PORT WRITERS
//	powercut check ADDR PORT ACKED_FILE
//
// write streams sync sets from WRITERS concurrent clients to the server
// at ADDR:PORT until it is killed, and prints "ACK key value" on standard
// output once each is acknowledged. check reads such lines from
// ACKED_FILE and gets every key from the server: each must hold its value
// (or, for a key set again later, a later value). It prints one line, PASS
// or FAIL with the counts, and exits 1 on FAIL.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: powercut write ADDR PORT WRITERS | powercut check ADDR PORT ACKED_FILE")
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "powercut: port:", err)
		os.Exit(2)
	}
	c := libnmdb.New(libnmdb.Options{Timeout: 30 * time.Second})
	if err := c.AddTCPServer(os.Args[2], port); err != nil {
		fmt.Fprintln(os.Stderr, "powercut:", err)
		os.Exit(1)
	}
	switch os.Args[1] {
	case "write":
		n, err := strconv.Atoi(os.Args[4])
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "powercut: writers:", os.Args[4])
			os.Exit(2)
		}
		write(c, n)
	case "check":
		if !check(c, os.Args[4]) {
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "powercut: unknown mode", os.Args[1])
		os.Exit(2)
	}
}

// write runs n writers of sync sets for ever; writer w sets keys
// "wW-I" to "vI" for I = 0, 1, ...
func write(c *libnmdb.Client, n int) {
	var out sync.Mutex
	stdout := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key, val := fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("v%d", i)
				if err := c.SetSync(context.Background(), []byte(key), []byte(val)); err != nil {
					fmt.Fprintln(os.Stderr, "powercut: sync set:", err)
					return
				}
				out.Lock()
				fmt.Fprintf(stdout, "ACK %s %s\n", key, val)
				if err := stdout.Flush(); err != nil {
					out.Unlock()
					return
				}
				out.Unlock()
			}
		}()
	}
	wg.Wait()
}

// check gets every acknowledged key and reports the result.
func check(c *libnmdb.Client, file string) bool {
	f, err := os.Open(file)
	if err != nil {
		fmt.Println("FAIL powercut:", err)
		return false
	}
	defer f.Close()
	want := make(map[string]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "ACK" {
			want[fields[1]] = fields[2]
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Println("FAIL powercut: reading the acknowledged writes:", err)
		return false
	}
	if len(want) == 0 {
		fmt.Println("FAIL powercut: no acknowledged write to check")
		return false
	}
	lost, wrong := 0, 0
	for k, v := range want {
		got, err := c.Get(context.Background(), []byte(k))
		switch {
		case err == libnmdb.ErrNotFound:
			lost++
			if lost <= 5 {
				fmt.Printf("lost %s (acknowledged %s)\n", k, v)
			}
		case err != nil:
			fmt.Println("FAIL powercut: get:", err)
			return false
		case string(got) != v:
			wrong++
			fmt.Printf("wrong %s: %q, acknowledged %q\n", k, got, v)
		}
	}
	if lost+wrong > 0 {
		fmt.Printf("FAIL powercut: %d of %d sync-acknowledged writes lost, %d wrong\n", lost, len(want), wrong)
		return false
	}
	fmt.Printf("PASS powercut: all %d sync-acknowledged writes there after the power cut\n", len(want))
	return true
}
