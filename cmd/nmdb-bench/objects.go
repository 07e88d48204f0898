package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// countObjects asks the server how many objects it holds: nmdb's objects
// cached counter, memcached's curr_items, Redis's DBSIZE.
func countObjects(c *config) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if c.target == "nmdb" {
		ap, err := netip.ParseAddrPort(c.addr)
		if err != nil {
			return 0, fmt.Errorf("address %q: %w", c.addr, err)
		}
		cl := libnmdb.New(libnmdb.Options{Timeout: c.timeout})
		defer cl.Close()
		if err := cl.AddTCPServer(ap.Addr().String(), int(ap.Port())); err != nil {
			return 0, fmt.Errorf("count objects: %w", err)
		}
		st, err := cl.Stats(ctx)
		if err != nil {
			return 0, fmt.Errorf("count objects: %w", err)
		}
		if len(st) != 1 || len(st[0]) <= wire.StatObjectsCached {
			return 0, fmt.Errorf("count objects: server sent no objects cached counter")
		}
		return int64(st[0][wire.StatObjectsCached]), nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return 0, fmt.Errorf("count objects: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	r := bufio.NewReader(conn)
	if c.target == "redis" {
		if _, err := conn.Write([]byte("*1\r\n$6\r\nDBSIZE\r\n")); err != nil {
			return 0, fmt.Errorf("count objects: %w", err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("count objects: %w", err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, ":")), 10, 64)
		if err != nil || !strings.HasPrefix(line, ":") {
			return 0, fmt.Errorf("count objects: DBSIZE answered %q", line)
		}
		return n, nil
	}
	if _, err := conn.Write([]byte("stats\r\n")); err != nil {
		return 0, fmt.Errorf("count objects: %w", err)
	}
	for range 1000 {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return 0, fmt.Errorf("count objects: %w", err)
		}
		line = bytes.TrimSpace(line)
		if bytes.Equal(line, []byte("END")) {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("STAT curr_items ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("count objects: curr_items %q: %w", v, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("count objects: memcached stats without curr_items")
}

// settle waits until the server's resident memory stops growing (up to
// limit), so that the memory figure is not taken mid-way through a
// background step such as a hash table resize.
func settle(pid int, limit time.Duration) {
	prev := int64(-1)
	for start := time.Now(); time.Since(start) < limit; {
		kib, err := rssKiB(pid)
		if err != nil || kib == prev {
			return
		}
		prev = kib
		time.Sleep(500 * time.Millisecond)
	}
}
