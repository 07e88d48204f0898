// Command nmdb-cli is the operator's client for nmdb servers: get, set,
// del, cas and incr in every mode (normal, sync, cache-only), walking the
// keys of a server, dumping a server to a file, restoring a dump into a set
// of servers (each key goes where the client's sharding puts it), and
// copying every key of one server, classic nmdb included, to a set of
// servers. See nmdb-cli(1).
//
//	nmdb-cli [-s SERVER]... [-sharding RULE] [-timeout D] [-x] COMMAND [ARGS]
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

	"github.com/nmdb-go/nmdb/internal/version"
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

const usageText = `usage: nmdb-cli [-s SERVER]... [-sharding RULE] [-timeout DURATION] [-x] COMMAND [ARGS]
       nmdb-cli -V

SERVER is tcp:HOST[:PORT], udp:HOST[:PORT], sctp:HOST[:PORT] or tipc[:PORT]
(repeatable; default ` + defaultServer + `).
RULE is classic or rendezvous (default $NMDB_SHARDING, else classic).

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
  reshard [-dry-run]                  move every pair to the server RULE picks
  ping                                ask each server whether it answers, and what it is
  stats                               print the counters of each server (as nmdb-stats)
FILE "-" is standard input or output. On a terminal, get ends the value
with a newline, and dump, restore and copy show a running count.
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
	sharding       libnmdb.Sharding
	stdoutTTY      bool   // standard output is a terminal
	stderrTTY      bool   // standard error is a terminal
	cmd            string // the command, for usage hints
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program, returning its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr,
		stdoutTTY: isTerminal(stdout), stderrTTY: isTerminal(stderr)}
	fs := flag.NewFlagSet("nmdb-cli", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&a.servers, "s", "server (repeatable)")
	fs.DurationVar(&a.timeout, "timeout", libnmdb.DefaultTimeout, "timeout of each request")
	fs.BoolVar(&a.hex, "x", false, "keys and values are hexadecimal")
	rule := fs.String("sharding", os.Getenv("NMDB_SHARDING"), "sharding rule: classic or rendezvous")
	showVersion := fs.Bool("V", false, "print the version")
	fs.BoolVar(showVersion, "version", false, "print the version")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usageText)
		return exitOK
	case err == nil && *showVersion:
		fmt.Fprintf(stdout, "nmdb-cli %s\n", version.String())
		return exitOK
	case err != nil:
		return a.fail(fmt.Errorf("%w: %w", errUsage, err))
	case fs.NArg() == 0:
		return a.fail(fmt.Errorf("%w: missing command", errUsage))
	case a.timeout <= 0:
		return a.fail(fmt.Errorf("%w: -timeout must be positive", errUsage))
	}
	if a.sharding, err = libnmdb.ParseSharding(*rule); err != nil {
		return a.fail(fmt.Errorf("%w: -sharding: %w", errUsage, err))
	}
	if len(a.servers) == 0 {
		s, _ := parseServer(defaultServer)
		a.servers = serverList{s}
	}
	cmd, args := fs.Arg(0), fs.Args()[1:]
	a.cmd = cmd
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
	case "reshard":
		return (*app).reshard
	case "ping":
		return (*app).ping
	case "stats":
		return (*app).stats
	}
	return nil
}

// fail reports err and returns the exit code for it.
func (a *app) fail(err error) int {
	fmt.Fprintf(a.stderr, "nmdb-cli: %v\n", err)
	switch {
	case errors.Is(err, errUsage):
		hint := a.cmd
		if command(hint) == nil {
			hint = ""
		}
		fmt.Fprintln(a.stderr, usageHint(hint))
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

// cmdline describes the command line of a command.
type cmdline struct {
	sync   bool                // -sync is accepted besides -cache
	jobs   *int                // if not nil, -j (requests in flight, at least 1) goes here
	lo, hi int                 // how many positional arguments it takes
	want   string              // names them, for usage errors
	one    bool                // it walks keys, so needs exactly one -s server
	extra  func(*flag.FlagSet) // defines further options, or nil
}

// parse parses a command's arguments as cl describes them. It returns the
// flag set, holding the positional arguments, and the write mode.
func (a *app) parse(args []string, cl cmdline) (*flag.FlagSet, mode, error) {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cache := fs.Bool("cache", false, "cache only")
	sync := new(bool)
	if cl.sync {
		fs.BoolVar(sync, "sync", false, "wait for the database")
	}
	if cl.jobs != nil {
		fs.IntVar(cl.jobs, "j", defaultJobs, "requests in flight")
	}
	if cl.extra != nil {
		cl.extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", errUsage, err)
	}
	m := modeNormal
	switch {
	case *cache && *sync:
		return nil, 0, fmt.Errorf("%w: -cache and -sync exclude each other", errUsage)
	case *cache:
		m = modeCache
	case *sync:
		m = modeSync
	}
	if n := fs.NArg(); n < cl.lo || n > cl.hi {
		return nil, 0, fmt.Errorf("%w: want %s", errUsage, cl.want)
	}
	if cl.one && len(a.servers) != 1 {
		return nil, 0, fmt.Errorf("%w: walking keys needs exactly one server (-s), got %d", errUsage, len(a.servers))
	}
	if cl.jobs != nil && *cl.jobs < 1 {
		return nil, 0, fmt.Errorf("%w: -j must be at least 1", errUsage)
	}
	return fs, m, nil
}

// parseKey is parse for a command whose first positional argument is a
// key, which it decodes.
func (a *app) parseKey(args []string, cl cmdline) (*flag.FlagSet, mode, []byte, error) {
	fs, m, err := a.parse(args, cl)
	if err != nil {
		return nil, 0, nil, err
	}
	key, err := a.arg(fs.Arg(0))
	if err != nil {
		return nil, 0, nil, err
	}
	return fs, m, key, nil
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

// withClient connects to the -s servers, calls f with the client and
// closes it.
func (a *app) withClient(f func(*libnmdb.Client) error) error {
	c, err := connect(a.servers, a.opts())
	if err != nil {
		return err
	}
	defer c.Close()
	return f(c)
}

func (a *app) get(ctx context.Context, args []string) error {
	_, m, key, err := a.parseKey(args, cmdline{lo: 1, hi: 1, want: "KEY"})
	if err != nil {
		return err
	}
	return a.withClient(func(c *libnmdb.Client) error {
		get := c.Get
		if m == modeCache {
			get = c.CacheGet
		}
		v, err := get(ctx, key)
		if err != nil {
			return err
		}
		// Raw bytes, unless a person reads them: then the prompt must not
		// follow the value on its line.
		return a.output(v, a.stdoutTTY && (len(v) == 0 || v[len(v)-1] != '\n'))
	})
}

func (a *app) set(ctx context.Context, args []string) error {
	var counter bool
	fs, m, key, err := a.parseKey(args, cmdline{sync: true, lo: 1, hi: 2, want: "KEY [VALUE]",
		extra: func(flags *flag.FlagSet) {
			flags.BoolVar(&counter, "counter", false, "store VALUE as a counter for incr")
		}})
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
	return a.withClient(func(c *libnmdb.Client) error {
		return setMode(ctx, c, m, key, val)
	})
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
	_, m, key, err := a.parseKey(args, cmdline{sync: true, lo: 1, hi: 1, want: "KEY"})
	if err != nil {
		return err
	}
	return a.withClient(func(c *libnmdb.Client) error {
		switch m {
		case modeSync:
			return c.DelSync(ctx, key)
		case modeCache:
			return c.CacheDel(ctx, key)
		}
		return c.Del(ctx, key)
	})
}

func (a *app) cas(ctx context.Context, args []string) error {
	fs, m, key, err := a.parseKey(args, cmdline{lo: 3, hi: 3, want: "KEY OLD NEW"})
	if err != nil {
		return err
	}
	oldVal, err := a.arg(fs.Arg(1))
	if err != nil {
		return err
	}
	newVal, err := a.arg(fs.Arg(2))
	if err != nil {
		return err
	}
	return a.withClient(func(c *libnmdb.Client) error {
		cas := c.CAS
		if m == modeCache {
			cas = c.CacheCAS
		}
		return cas(ctx, key, oldVal, newVal)
	})
}

func (a *app) incr(ctx context.Context, args []string) error {
	fs, m, key, err := a.parseKey(args, cmdline{lo: 2, hi: 2, want: "KEY DELTA"})
	if err != nil {
		return err
	}
	delta, err := strconv.ParseInt(fs.Arg(1), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: DELTA %q is not a decimal integer", errUsage, fs.Arg(1))
	}
	return a.withClient(func(c *libnmdb.Client) error {
		incr := c.Incr
		if m == modeCache {
			incr = c.CacheIncr
		}
		n, err := incr(ctx, key, delta)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(a.stdout, n); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		return nil
	})
}

func (a *app) keys(ctx context.Context, args []string) error {
	if _, _, err := a.parse(args, cmdline{want: "no arguments", one: true}); err != nil {
		return err
	}
	return a.withClient(func(c *libnmdb.Client) error {
		for k, err := range c.Keys(ctx) {
			if err != nil {
				return fmt.Errorf("walking keys: %w", err)
			}
			if err := a.output(k, true); err != nil {
				return err
			}
		}
		return nil
	})
}

// walk yields every pair of the single server of c. Keys deleted between
// the walk and the read are skipped. The values are read with GetNoFill, so
// that walking a live server does not push its working set out of its
// cache.
func walk(ctx context.Context, c *libnmdb.Client) iter.Seq2[record, error] {
	return func(yield func(record, error) bool) {
		for k, err := range c.Keys(ctx) {
			if err != nil {
				yield(record{}, fmt.Errorf("walking keys: %w", err))
				return
			}
			v, err := c.GetNoFill(ctx, k)
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

func (a *app) dump(ctx context.Context, args []string) error {
	fs, _, err := a.parse(args, cmdline{lo: 1, hi: 1, want: "FILE", one: true})
	if err != nil {
		return err
	}
	var n uint64
	err = a.withClient(func(c *libnmdb.Client) error {
		return a.writeFile(fs.Arg(0), func(w io.Writer) error {
			dw, err := newDumpWriter(w)
			if err != nil {
				return err
			}
			p := a.newProgress("dump")
			defer p.done()
			for r, err := range walk(ctx, c) {
				if err != nil {
					return err
				}
				if err := dw.write(r.key, r.val); err != nil {
					return err
				}
				p.add(1)
			}
			n = dw.n
			return dw.close()
		})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "nmdb-cli: dumped %d pairs from %s\n", n, a.servers[0])
	return nil
}

// writeFile calls write with standard output for name "-", and otherwise
// with a new file next to name that becomes name, synced, only once write
// succeeded: name is never left partly written.
func (a *app) writeFile(name string, write func(io.Writer) error) error {
	if name == "-" {
		return write(a.stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("creating dump file: %w", err)
	}
	err = write(f)
	if err == nil {
		if err = f.Sync(); err != nil {
			err = fmt.Errorf("syncing dump file: %w", err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing dump file: %w", cerr)
	}
	if err == nil {
		if err = os.Rename(f.Name(), name); err != nil {
			err = fmt.Errorf("renaming dump file: %w", err)
		}
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (a *app) restore(ctx context.Context, args []string) error {
	var jobs int
	fs, m, err := a.parse(args, cmdline{sync: true, jobs: &jobs, lo: 1, hi: 1, want: "FILE"})
	if err != nil {
		return err
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
	return a.withClient(func(c *libnmdb.Client) error {
		p := a.newProgress("restore")
		n, err := load(ctx, c, p.count(readDump(in)), m, jobs)
		p.done()
		if err != nil {
			return fmt.Errorf("after %d pairs: %w", n, err)
		}
		fmt.Fprintf(a.stderr, "nmdb-cli: restored %d pairs into %d servers\n", n, c.NumServers())
		return nil
	})
}

func (a *app) copy(ctx context.Context, args []string) error {
	var jobs int
	var from serverList
	_, m, err := a.parse(args, cmdline{sync: true, jobs: &jobs, want: "no arguments besides -from",
		extra: func(fs *flag.FlagSet) { fs.Var(&from, "from", "server to copy from") }})
	if err != nil {
		return err
	}
	if len(from) != 1 {
		return fmt.Errorf("%w: copy needs exactly one -from SERVER", errUsage)
	}
	src, err := connect(from, a.opts())
	if err != nil {
		return err
	}
	defer src.Close()
	return a.withClient(func(dst *libnmdb.Client) error {
		p := a.newProgress("copy")
		n, err := load(ctx, dst, p.count(walk(ctx, src)), m, jobs)
		p.done()
		if err != nil {
			return fmt.Errorf("after %d pairs: %w", n, err)
		}
		fmt.Fprintf(a.stderr, "nmdb-cli: copied %d pairs from %s into %d servers\n", n, from[0], dst.NumServers())
		return nil
	})
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
			i := c.Shard(r.key)
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
