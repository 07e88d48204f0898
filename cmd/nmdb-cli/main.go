// Command nmdb-cli is the operator's client for nmdb servers: get, set,
// del, cas and incr in every mode (normal, sync, cache-only), walking the
// keys of a server, dumping a server to a file, restoring a dump into a set
// of servers (each key goes where the client's sharding puts it), and
// copying every key of one server, classic nmdb included, to a set of
// servers. See nmdb-cli(1).
//
//	nmdb-cli [-s SERVER]... [-timeout D] [-x] COMMAND [ARGS]
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// Exit codes, documented in nmdb-cli(1).
const (
	exitOK       = 0
	exitError    = 1 // network, server, file or dump format error
	exitUsage    = 2 // bad command line
	exitNotFound = 3 // the key is absent (get, sync or cache del, cas, incr)
	exitNoMatch  = 4 // cas: the value did not match; incr: not a number
)

// defaultServer is used when no -s is given.
const defaultServer = "tcp:localhost:26010"

// defaultJobs is how many requests restore and copy keep in flight.
const defaultJobs = 8

const usageText = `usage: nmdb-cli [-s SERVER]... [-timeout DURATION] [-x] COMMAND [ARGS]

SERVER is tcp:HOST[:PORT], udp:HOST[:PORT], sctp:HOST[:PORT] or tipc[:PORT]
(repeatable; default ` + defaultServer + `).

commands:
  get   [-cache] KEY                  print the value
  set   [-cache|-sync] [-counter] KEY [VALUE]
                                      store VALUE (standard input if omitted)
  del   [-cache|-sync] KEY            delete
  cas   [-cache] KEY OLD NEW          replace OLD with NEW
  incr  [-cache] KEY DELTA            add DELTA to a counter, print the result
  keys                                print every key of one server
  dump  FILE                          write every pair of one server to FILE
  restore [-cache|-sync] [-j N] FILE  store every pair of FILE into the servers
  copy  [-cache|-sync] [-j N] -from SERVER
                                      copy every pair of SERVER into the servers
FILE "-" is standard input or output.
`

// errUsage marks a bad command line.
var errUsage = errors.New("usage error")

// app is one run of the program.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	servers        serverList
	timeout        time.Duration
	hex            bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program, returning its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("nmdb-cli", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&a.servers, "s", "server (repeatable)")
	fs.DurationVar(&a.timeout, "timeout", libnmdb.DefaultTimeout, "timeout of each request")
	fs.BoolVar(&a.hex, "x", false, "keys and values are hexadecimal")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usageText)
		return exitOK
	case err != nil:
		return a.fail(fmt.Errorf("%w: %w", errUsage, err))
	case fs.NArg() == 0:
		return a.fail(fmt.Errorf("%w: missing command", errUsage))
	case a.timeout <= 0:
		return a.fail(fmt.Errorf("%w: -timeout must be positive", errUsage))
	}
	if len(a.servers) == 0 {
		s, _ := parseServer(defaultServer)
		a.servers = serverList{s}
	}
	cmd, args := fs.Arg(0), fs.Args()[1:]
	f := command(cmd)
	if f == nil {
		return a.fail(fmt.Errorf("%w: unknown command %q", errUsage, cmd))
	}
	if err := f(a, ctx, args); err != nil {
		return a.fail(fmt.Errorf("%s: %w", cmd, err))
	}
	return exitOK
}

// command returns the implementation of the named command, or nil.
func command(name string) func(*app, context.Context, []string) error {
	switch name {
	case "get":
		return (*app).get
	case "set":
		return (*app).set
	case "del":
		return (*app).del
	case "cas":
		return (*app).cas
	case "incr":
		return (*app).incr
	case "keys":
		return (*app).keys
	case "dump":
		return (*app).dump
	case "restore":
		return (*app).restore
	case "copy":
		return (*app).copy
	}
	return nil
}

// fail reports err and returns the exit code for it.
func (a *app) fail(err error) int {
	fmt.Fprintf(a.stderr, "nmdb-cli: %v\n", err)
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprint(a.stderr, usageText)
		return exitUsage
	case errors.Is(err, libnmdb.ErrNotFound):
		return exitNotFound
	case errors.Is(err, libnmdb.ErrNoMatch), errors.Is(err, libnmdb.ErrNotNumber):
		return exitNoMatch
	}
	return exitError
}

// mode is how writes are made.
type mode int

const (
	modeNormal mode = iota // cache and database, acknowledged once queued
	modeSync               // acknowledged once the database has it
	modeCache              // cache only
)

// flags parses a command's own options: -cache, -sync when withSync, and
// whatever setup adds. It returns the flag set and the write mode.
func (a *app) flags(name string, args []string, withSync bool, setup func(*flag.FlagSet)) (*flag.FlagSet, mode, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cache := fs.Bool("cache", false, "cache only")
	var sync *bool
	if withSync {
		sync = fs.Bool("sync", false, "wait for the database")
	}
	if setup != nil {
		setup(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", errUsage, err)
	}
	m := modeNormal
	if *cache {
		m = modeCache
	}
	if sync != nil && *sync {
		if m == modeCache {
			return nil, 0, fmt.Errorf("%w: -cache and -sync exclude each other", errUsage)
		}
		m = modeSync
	}
	return fs, m, nil
}

// nargs checks the number of positional arguments.
func nargs(fs *flag.FlagSet, lo, hi int, names string) error {
	if n := fs.NArg(); n < lo || n > hi {
		return fmt.Errorf("%w: want %s", errUsage, names)
	}
	return nil
}

// arg decodes a key or value given on the command line.
func (a *app) arg(s string) ([]byte, error) {
	if !a.hex {
		return []byte(s), nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not hexadecimal: %w", errUsage, s, err)
	}
	return b, nil
}

// args decodes several arguments.
func (a *app) args(ss ...string) ([][]byte, error) {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		b, err := a.arg(s)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// output writes a value or key: raw bytes, or hexadecimal and a newline
// with -x. Keys always end with a newline (raw keys holding a newline are
// ambiguous: use -x).
func (a *app) output(b []byte, newline bool) error {
	var err error
	if a.hex {
		_, err = fmt.Fprintf(a.stdout, "%x\n", b)
	} else {
		if _, err = a.stdout.Write(b); err == nil && newline {
			_, err = io.WriteString(a.stdout, "\n")
		}
	}
	if err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

// connect returns a client for the -s servers.
func (a *app) connect() (*libnmdb.Client, error) {
	return connect(a.servers, a.timeout)
}

// connectOne returns a client for the single -s server that key walks need.
func (a *app) connectOne() (*libnmdb.Client, error) {
	if len(a.servers) != 1 {
		return nil, fmt.Errorf("%w: walking keys needs exactly one server (-s), got %d", errUsage, len(a.servers))
	}
	return a.connect()
}

func (a *app) get(ctx context.Context, args []string) error {
	fs, m, err := a.flags("get", args, false, nil)
	if err != nil {
		return err
	}
	if err := nargs(fs, 1, 1, "KEY"); err != nil {
		return err
	}
	key, err := a.arg(fs.Arg(0))
	if err != nil {
		return err
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	var v []byte
	if m == modeCache {
		v, err = c.CacheGet(ctx, key)
	} else {
		v, err = c.Get(ctx, key)
	}
	if err != nil {
		return err
	}
	return a.output(v, false)
}

func (a *app) set(ctx context.Context, args []string) error {
	var counter bool
	fs, m, err := a.flags("set", args, true, func(fs *flag.FlagSet) {
		fs.BoolVar(&counter, "counter", false, "store VALUE as a counter for incr")
	})
	if err != nil {
		return err
	}
	if err := nargs(fs, 1, 2, "KEY [VALUE]"); err != nil {
		return err
	}
	key, err := a.arg(fs.Arg(0))
	if err != nil {
		return err
	}
	var val []byte
	switch {
	case counter:
		n, err := strconv.ParseInt(fs.Arg(1), 10, 64)
		if err != nil || fs.NArg() != 2 {
			return fmt.Errorf("%w: -counter wants a decimal VALUE", errUsage)
		}
		val = wire.AppendCounter(nil, n)
	case fs.NArg() == 2:
		if val, err = a.arg(fs.Arg(1)); err != nil {
			return err
		}
	default:
		if val, err = io.ReadAll(io.LimitReader(a.stdin, wire.MaxData+1)); err != nil {
			return fmt.Errorf("reading the value from standard input: %w", err)
		}
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	return setMode(ctx, c, m, key, val)
}

// setMode stores one pair in mode m.
func setMode(ctx context.Context, c *libnmdb.Client, m mode, key, val []byte) error {
	switch m {
	case modeSync:
		return c.SetSync(ctx, key, val)
	case modeCache:
		return c.CacheSet(ctx, key, val)
	}
	return c.Set(ctx, key, val)
}

func (a *app) del(ctx context.Context, args []string) error {
	fs, m, err := a.flags("del", args, true, nil)
	if err != nil {
		return err
	}
	if err := nargs(fs, 1, 1, "KEY"); err != nil {
		return err
	}
	key, err := a.arg(fs.Arg(0))
	if err != nil {
		return err
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	switch m {
	case modeSync:
		return c.DelSync(ctx, key)
	case modeCache:
		return c.CacheDel(ctx, key)
	}
	return c.Del(ctx, key)
}

func (a *app) cas(ctx context.Context, args []string) error {
	fs, m, err := a.flags("cas", args, false, nil)
	if err != nil {
		return err
	}
	if err := nargs(fs, 3, 3, "KEY OLD NEW"); err != nil {
		return err
	}
	kv, err := a.args(fs.Args()...)
	if err != nil {
		return err
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	if m == modeCache {
		return c.CacheCAS(ctx, kv[0], kv[1], kv[2])
	}
	return c.CAS(ctx, kv[0], kv[1], kv[2])
}

func (a *app) incr(ctx context.Context, args []string) error {
	fs, m, err := a.flags("incr", args, false, nil)
	if err != nil {
		return err
	}
	if err := nargs(fs, 2, 2, "KEY DELTA"); err != nil {
		return err
	}
	key, err := a.arg(fs.Arg(0))
	if err != nil {
		return err
	}
	delta, err := strconv.ParseInt(fs.Arg(1), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: DELTA %q is not a decimal integer", errUsage, fs.Arg(1))
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	var n int64
	if m == modeCache {
		n, err = c.CacheIncr(ctx, key, delta)
	} else {
		n, err = c.Incr(ctx, key, delta)
	}
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(a.stdout, n); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

func (a *app) keys(ctx context.Context, args []string) error {
	fs, _, err := a.flags("keys", args, false, nil)
	if err != nil {
		return err
	}
	if err := nargs(fs, 0, 0, "no arguments"); err != nil {
		return err
	}
	c, err := a.connectOne()
	if err != nil {
		return err
	}
	defer c.Close()
	for k, err := range c.Keys(ctx) {
		if err != nil {
			return fmt.Errorf("walking keys: %w", err)
		}
		if err := a.output(k, true); err != nil {
			return err
		}
	}
	return nil
}

// walk yields every pair of the single server of c. Keys deleted between
// the walk and the read are skipped.
func walk(ctx context.Context, c *libnmdb.Client) iter.Seq2[record, error] {
	return func(yield func(record, error) bool) {
		for k, err := range c.Keys(ctx) {
			if err != nil {
				yield(record{}, fmt.Errorf("walking keys: %w", err))
				return
			}
			v, err := c.Get(ctx, k)
			if errors.Is(err, libnmdb.ErrNotFound) {
				continue
			}
			if err != nil {
				yield(record{}, fmt.Errorf("reading key %q: %w", k, err))
				return
			}
			if !yield(record{key: k, val: v}, nil) {
				return
			}
		}
	}
}

func (a *app) dump(ctx context.Context, args []string) (err error) {
	fs, _, err := a.flags("dump", args, false, nil)
	if err != nil {
		return err
	}
	if err := nargs(fs, 1, 1, "FILE"); err != nil {
		return err
	}
	c, err := a.connectOne()
	if err != nil {
		return err
	}
	defer c.Close()

	name := fs.Arg(0)
	var out io.Writer = a.stdout
	if name != "-" {
		// Write next to the destination and rename once complete, so
		// that FILE is never a partial dump.
		f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
		if err != nil {
			return fmt.Errorf("creating dump file: %w", err)
		}
		defer func() {
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("closing dump file: %w", cerr)
			}
			if err == nil {
				if rerr := os.Rename(f.Name(), name); rerr != nil {
					err = fmt.Errorf("renaming dump file: %w", rerr)
				}
			}
			if err != nil {
				os.Remove(f.Name())
			}
		}()
		out = f
	}
	dw, err := newDumpWriter(out)
	if err != nil {
		return err
	}
	for r, err := range walk(ctx, c) {
		if err != nil {
			return err
		}
		if err := dw.write(r.key, r.val); err != nil {
			return err
		}
	}
	if err := dw.close(); err != nil {
		return err
	}
	if f, ok := out.(*os.File); ok && out != a.stdout {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("syncing dump file: %w", err)
		}
	}
	fmt.Fprintf(a.stderr, "nmdb-cli: dumped %d pairs from %s\n", dw.n, a.servers[0])
	return nil
}

func (a *app) restore(ctx context.Context, args []string) error {
	var jobs int
	fs, m, err := a.flags("restore", args, true, func(fs *flag.FlagSet) {
		fs.IntVar(&jobs, "j", defaultJobs, "requests in flight")
	})
	if err != nil {
		return err
	}
	if err := nargs(fs, 1, 1, "FILE"); err != nil {
		return err
	}
	if jobs < 1 {
		return fmt.Errorf("%w: -j must be at least 1", errUsage)
	}
	in := a.stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("opening dump file: %w", err)
		}
		defer f.Close()
		in = f
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	n, err := load(ctx, c, readDump(in), m, jobs)
	if err != nil {
		return fmt.Errorf("after %d pairs: %w", n, err)
	}
	fmt.Fprintf(a.stderr, "nmdb-cli: restored %d pairs into %d servers\n", n, c.NumServers())
	return nil
}

func (a *app) copy(ctx context.Context, args []string) error {
	var jobs int
	var from serverList
	fs, m, err := a.flags("copy", args, true, func(fs *flag.FlagSet) {
		fs.IntVar(&jobs, "j", defaultJobs, "requests in flight")
		fs.Var(&from, "from", "server to copy from")
	})
	if err != nil {
		return err
	}
	if err := nargs(fs, 0, 0, "no arguments besides -from"); err != nil {
		return err
	}
	if len(from) != 1 {
		return fmt.Errorf("%w: copy needs exactly one -from SERVER", errUsage)
	}
	if jobs < 1 {
		return fmt.Errorf("%w: -j must be at least 1", errUsage)
	}
	src, err := connect(from, a.timeout)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := a.connect()
	if err != nil {
		return err
	}
	defer dst.Close()
	n, err := load(ctx, dst, walk(ctx, src), m, jobs)
	if err != nil {
		return fmt.Errorf("after %d pairs: %w", n, err)
	}
	fmt.Fprintf(a.stderr, "nmdb-cli: copied %d pairs from %s into %d servers\n", n, from[0], dst.NumServers())
	return nil
}

// load stores every record of src into the servers of c, with jobs
// requests in flight, and returns how many it stored. In normal mode the
// last record bound for each server is held back and written with a sync
// set once every other record was acknowledged: the server applies one
// client's writes in order, so when load returns every pair is in the
// servers' databases.
func load(ctx context.Context, c *libnmdb.Client, src iter.Seq2[record, error], m mode, jobs int) (uint64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done uint64
	)
	work := make(chan record, jobs*4)
	for range jobs {
		wg.Go(func() {
			for r := range work {
				if err := setMode(ctx, c, m, r.key, r.val); err != nil {
					cancel(fmt.Errorf("storing key %q: %w", r.key, err))
					continue
				}
				mu.Lock()
				done++
				mu.Unlock()
			}
		})
	}

	held := make([]*record, c.NumServers())
	var srcErr error
loop:
	for r, err := range src {
		if err != nil {
			srcErr = err
			break
		}
		if m == modeNormal {
			i := libnmdb.Select(r.key, len(held))
			prev, rec := held[i], r
			held[i] = &rec
			if prev == nil {
				continue
			}
			r = *prev
		}
		select {
		case work <- r:
		case <-ctx.Done():
			break loop
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return done, err
	}
	// Also after a damaged source: what was read before the damage is
	// stored.
	for _, r := range held {
		if r == nil {
			continue
		}
		if err := c.SetSync(ctx, r.key, r.val); err != nil {
			return done, fmt.Errorf("storing key %q: %w", r.key, err)
		}
		done++
	}
	return done, srcErr
}
