package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// serverSpec is a server named on the command line: "tipc:PORT" or
// "sctp:ADDR:PORT".
type serverSpec struct {
	transport string
	addr      string
	port      int
}

// parseServer parses a serverSpec.
func parseServer(s string) (serverSpec, error) {
	tr, rest, ok := strings.Cut(s, ":")
	if !ok {
		return serverSpec{}, fmt.Errorf("bad server %q: want tipc:PORT or sctp:ADDR:PORT", s)
	}
	switch tr {
	case "tipc":
		p, err := strconv.Atoi(rest)
		if err != nil {
			return serverSpec{}, fmt.Errorf("bad server %q: %w", s, err)
		}
		return serverSpec{transport: tr, port: p}, nil
	case "sctp":
		host, ps, err := net.SplitHostPort(rest)
		if err != nil {
			return serverSpec{}, fmt.Errorf("bad server %q: %w", s, err)
		}
		p, err := strconv.Atoi(ps)
		if err != nil {
			return serverSpec{}, fmt.Errorf("bad server %q: %w", s, err)
		}
		return serverSpec{transport: tr, addr: host, port: p}, nil
	}
	return serverSpec{}, fmt.Errorf("bad server %q: unknown transport %q", s, tr)
}

// add adds the server to c. An SCTP server that is still starting refuses
// the association, so that is tried again for a while.
func (s serverSpec) add(c *libnmdb.Client) error {
	if s.transport == "tipc" {
		return c.AddTIPCServer(s.port)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.AddSCTPServer(s.addr, s.port)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// msgStat is the stats counter of messages received over the transport.
func (s serverSpec) msgStat() int {
	if s.transport == "tipc" {
		return wire.StatMsgTIPC
	}
	return wire.StatMsgSCTP
}

// waitUp repeats a get until the server answers at all (a value or "not
// found"); SCTP servers may take a moment to listen after start.
func waitUp(ctx context.Context, c *libnmdb.Client) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.Get(cctx, []byte("probe"))
		cancel()
		if err == nil || errors.Is(err, libnmdb.ErrNotFound) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server does not answer: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checker runs operations and records the first mismatch.
type checker struct {
	ctx context.Context
	c   *libnmdb.Client
	ops int // operations sent
	err error
}

// expectErr records a mismatch unless got matches want (nil = success).
func (k *checker) expectErr(what string, got, want error) {
	k.ops++
	if k.err != nil {
		return
	}
	if want == nil && got != nil {
		k.err = fmt.Errorf("%s: unexpected error: %w", what, got)
	} else if want != nil && !errors.Is(got, want) {
		k.err = fmt.Errorf("%s: got error %v, want %v", what, got, want)
	}
}

// expectVal records a mismatch unless a get-like call returned want.
func (k *checker) expectVal(what string, got []byte, err error, want []byte) {
	k.expectErr(what, err, nil)
	if k.err == nil && !bytes.Equal(got, want) {
		k.err = fmt.Errorf("%s: got %q, want %q", what, trim(got), trim(want))
	}
}

// expectNum records a mismatch unless an incr returned want.
func (k *checker) expectNum(what string, got int64, err error, want int64) {
	k.expectErr(what, err, nil)
	if k.err == nil && got != want {
		k.err = fmt.Errorf("%s: got %d, want %d", what, got, want)
	}
}

// trim shortens long values in messages.
func trim(b []byte) []byte {
	if len(b) > 40 {
		return append(b[:40:40], "..."...)
	}
	return b
}

// bigValue is a value of the largest size the protocol allows.
func bigValue() []byte {
	v := make([]byte, wire.MaxData-16)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}

// counter is how a number is stored for incr: decimal digits and a NUL.
func counter(n int64) []byte {
	return append([]byte(strconv.FormatInt(n, 10)), 0)
}

// tipcClient returns a client holding the server on TIPC port port.
func tipcClient(port int) (*libnmdb.Client, error) {
	c := libnmdb.New(libnmdb.Options{})
	if err := c.AddTIPCServer(port); err != nil {
		c.Close()
		return nil, fmt.Errorf("add tipc %d: %w", port, err)
	}
	return c, nil
}

// connectOne parses the -server flag of subcommand name, and returns a
// client holding that one server once it answers.
func connectOne(ctx context.Context, name string, args []string) (*libnmdb.Client, serverSpec, error) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	server := fs.String("server", "tipc:10", "tipc:PORT or sctp:ADDR:PORT")
	if err := fs.Parse(args); err != nil {
		return nil, serverSpec{}, err
	}
	spec, err := parseServer(*server)
	if err != nil {
		return nil, serverSpec{}, err
	}
	c := libnmdb.New(libnmdb.Options{})
	if err := spec.add(c); err != nil {
		c.Close()
		return nil, serverSpec{}, fmt.Errorf("add %s: %w", *server, err)
	}
	if err := waitUp(ctx, c); err != nil {
		c.Close()
		return nil, serverSpec{}, err
	}
	return c, spec, nil
}

// cmdBasic exercises every operation in every mode against one server.
func cmdBasic(args []string) error {
	ctx := context.Background()
	c, spec, err := connectOne(ctx, "basic", args)
	if err != nil {
		return err
	}
	defer c.Close()
	k := &checker{ctx: ctx, c: c}
	b := func(s string) []byte { return []byte(s) }
	var v []byte
	var n int64

	// Normal mode.
	k.expectErr("set", c.Set(ctx, b("n-key"), b("v1")), nil)
	v, err = c.Get(ctx, b("n-key"))
	k.expectVal("get after set", v, err, b("v1"))
	k.expectErr("set overwrite", c.Set(ctx, b("n-key"), b("v2")), nil)
	v, err = c.Get(ctx, b("n-key"))
	k.expectVal("get after overwrite", v, err, b("v2"))
	k.expectErr("set del-me", c.Set(ctx, b("n-gone"), b("x")), nil)
	k.expectErr("del", c.Del(ctx, b("n-gone")), nil)
	_, err = c.Get(ctx, b("n-gone"))
	k.expectErr("get after del", err, libnmdb.ErrNotFound)
	_, err = c.Get(ctx, b("never-set"))
	k.expectErr("get absent", err, libnmdb.ErrNotFound)
	big := bigValue()
	k.expectErr("set 64 KiB value", c.Set(ctx, b("n-big"), big), nil)
	v, err = c.Get(ctx, b("n-big"))
	k.expectVal("get 64 KiB value", v, err, big)

	// Sync mode.
	k.expectErr("set sync", c.SetSync(ctx, b("s-key"), b("sv")), nil)
	v, err = c.Get(ctx, b("s-key"))
	k.expectVal("get after set sync", v, err, b("sv"))
	k.expectErr("set sync del-me", c.SetSync(ctx, b("s-gone"), b("x")), nil)
	k.expectErr("del sync present", c.DelSync(ctx, b("s-gone")), nil)
	k.expectErr("del sync absent", c.DelSync(ctx, b("s-gone")), libnmdb.ErrNotFound)
	_, err = c.Get(ctx, b("s-gone"))
	k.expectErr("get after del sync", err, libnmdb.ErrNotFound)

	// Cache-only mode.
	k.expectErr("cache set", c.CacheSet(ctx, b("c-key"), b("cv")), nil)
	v, err = c.CacheGet(ctx, b("c-key"))
	k.expectVal("cache get", v, err, b("cv"))
	v, err = c.Get(ctx, b("c-key"))
	k.expectVal("get of a cache-only key", v, err, b("cv"))
	k.expectErr("cache set del-me", c.CacheSet(ctx, b("c-gone"), b("x")), nil)
	k.expectErr("cache del present", c.CacheDel(ctx, b("c-gone")), nil)
	k.expectErr("cache del absent", c.CacheDel(ctx, b("c-gone")), libnmdb.ErrNotFound)
	_, err = c.CacheGet(ctx, b("c-gone"))
	k.expectErr("cache get after cache del", err, libnmdb.ErrNotFound)
	k.expectErr("cache set counter", c.CacheSet(ctx, b("c-num"), counter(10)), nil)
	n, err = c.CacheIncr(ctx, b("c-num"), 5)
	k.expectNum("cache incr", n, err, 15)
	k.expectErr("cache cas match", c.CacheCAS(ctx, b("c-key"), b("cv"), b("cw")), nil)
	k.expectErr("cache cas mismatch", c.CacheCAS(ctx, b("c-key"), b("cv"), b("cz")), libnmdb.ErrNoMatch)
	v, err = c.CacheGet(ctx, b("c-key"))
	k.expectVal("cache get after cache cas", v, err, b("cw"))

	// CAS and incr through the database.
	k.expectErr("set cas key", c.Set(ctx, b("x-cas"), b("old")), nil)
	k.expectErr("cas mismatch", c.CAS(ctx, b("x-cas"), b("nope"), b("new")), libnmdb.ErrNoMatch)
	k.expectErr("cas match", c.CAS(ctx, b("x-cas"), b("old"), b("new")), nil)
	k.expectErr("cas absent", c.CAS(ctx, b("x-none"), b("a"), b("b")), libnmdb.ErrNotFound)
	v, err = c.Get(ctx, b("x-cas"))
	k.expectVal("get after cas", v, err, b("new"))
	k.expectErr("set counter", c.SetSync(ctx, b("x-num"), counter(41)), nil)
	n, err = c.Incr(ctx, b("x-num"), 1)
	k.expectNum("incr", n, err, 42)
	n, err = c.Incr(ctx, b("x-num"), -50)
	k.expectNum("incr negative", n, err, -8)
	_, err = c.Incr(ctx, b("x-cas"), 1)
	k.expectErr("incr non-number", err, libnmdb.ErrNotNumber)
	_, err = c.Incr(ctx, b("x-none"), 1)
	k.expectErr("incr absent", err, libnmdb.ErrNotFound)
	if k.err != nil {
		return k.err
	}

	// The server counted these requests on the transport used.
	st, err := c.Stats(ctx)
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	if len(st) != 1 || len(st[0]) <= spec.msgStat() {
		return fmt.Errorf("stats: got %d servers / %v counters", len(st), st)
	}
	if got := st[0][spec.msgStat()]; got < uint64(k.ops) {
		return fmt.Errorf("stats: server counted %d %s messages, the client sent at least %d", got, spec.transport, k.ops)
	}
	fmt.Printf("basic: %d checks passed over %s; server counted %d %s messages\n",
		k.ops, spec.transport, st[0][spec.msgStat()], spec.transport)
	return nil
}

// cmdAfter checks what a server restarted on the store of cmdBasic kept.
func cmdAfter(args []string) error {
	ctx := context.Background()
	c, _, err := connectOne(ctx, "after", args)
	if err != nil {
		return err
	}
	defer c.Close()
	k := &checker{ctx: ctx, c: c}
	want := map[string][]byte{
		"n-key": []byte("v2"),
		"n-big": bigValue(),
		"s-key": []byte("sv"),
		"x-cas": []byte("new"),
		"x-num": append([]byte(fmt.Sprintf("%23d", -8)), 0),
	}
	for key, val := range want {
		v, err := c.Get(ctx, []byte(key))
		k.expectVal("get "+key+" after restart", v, err, val)
	}
	// Deleted keys stayed deleted; cache-only keys never reached the disk.
	for _, key := range []string{"n-gone", "s-gone", "c-key", "c-num", "c-gone"} {
		_, err := c.Get(ctx, []byte(key))
		k.expectErr("get "+key+" after restart", err, libnmdb.ErrNotFound)
	}
	if k.err != nil {
		return k.err
	}
	// The walk sees exactly the stored keys.
	keys := map[string]bool{}
	key, err := c.FirstKey(ctx)
	for err == nil {
		if keys[string(key)] {
			return fmt.Errorf("nextkey returned %q twice", key)
		}
		keys[string(key)] = true
		key, err = c.NextKey(ctx, key)
	}
	if !errors.Is(err, libnmdb.ErrNotFound) {
		return fmt.Errorf("firstkey/nextkey walk: %w", err)
	}
	if len(keys) != len(want) {
		return fmt.Errorf("firstkey/nextkey walk found %d keys %v, want %d", len(keys), keys, len(want))
	}
	for key := range want {
		if !keys[key] {
			return fmt.Errorf("firstkey/nextkey walk missed %q", key)
		}
	}
	fmt.Printf("after restart: %d checks passed, %d keys on disk as expected\n", k.ops, len(keys))
	return nil
}
