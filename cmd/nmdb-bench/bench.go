package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nmdb-go/nmdb/cmd/internal/benchresult"
)

// config is the parsed command line of a run.
type config struct {
	target, addr, transport, client, io, mode string
	procs, conns, depth, goroutines           int
	keySize, valSize, keys                    int
	gets                                      float64
	duration, warmup, timeout                 time.Duration
	requests                                  uint64
	preload                                   bool
	preloadDepth, preloadConns                int
	pid                                       int
	out, clientProfile                        string
	strict, worker, quiet, countObjects       bool
	seed                                      uint64
	benchresult.Labels
}

// newFlagSet returns the flags of a run bound to c.
func newFlagSet(name string, c *config) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.target, "target", "nmdb", "server kind: nmdb, memcached or redis")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:26010", "server address IP:port")
	fs.StringVar(&c.transport, "transport", "tcp", "tcp or udp (nmdb and memcached)")
	fs.StringVar(&c.client, "client", "raw", "nmdb client: raw (minimal wire client) or lib (libnmdb)")
	fs.StringVar(&c.io, "io", "block", "raw client sockets: block (blocking system calls) or poll (net package)")
	fs.StringVar(&c.mode, "mode", "cache", "nmdb mode: cache (cache-only), normal or sync")
	fs.IntVar(&c.procs, "procs", 1, "client processes")
	fs.IntVar(&c.conns, "conns", 1, "connections per process (lib: clients per process)")
	fs.IntVar(&c.depth, "depth", 1, "requests in flight per connection (raw client)")
	fs.IntVar(&c.goroutines, "goroutines", 1, "goroutines per client (lib client)")
	fs.IntVar(&c.keySize, "keysize", 16, "key size in bytes")
	fs.IntVar(&c.valSize, "valsize", 64, "value size in bytes")
	fs.IntVar(&c.keys, "keys", 100000, "number of distinct keys")
	fs.Float64Var(&c.gets, "gets", 1, "fraction of requests that are gets (0: sets only)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "measured time (0 with -requests 0: preload only)")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "time run before measuring")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Second, "longest wait for one reply")
	fs.Uint64Var(&c.requests, "requests", 0, "stop after this many measured requests in all (0: no limit)")
	fs.BoolVar(&c.preload, "preload", true, "set every key once before measuring")
	fs.IntVar(&c.preloadDepth, "preload-depth", 64, "requests in flight per connection while preloading (TCP)")
	fs.IntVar(&c.preloadConns, "preload-conns", 2, "connections used to preload")
	fs.IntVar(&c.pid, "pid", 0, "server process id whose resident memory (VmRSS) to report")
	fs.StringVar(&c.out, "out", "", "append the result as a JSON line to this file")
	fs.StringVar(&c.clientProfile, "client-cpuprofile", "", "write this client process's CPU profile to this file (-procs 1)")
	fs.BoolVar(&c.strict, "strict", false, "fail on any error, lost datagram or get miss")
	fs.BoolVar(&c.quiet, "q", false, "print nothing but errors")
	fs.BoolVar(&c.countObjects, "count-objects", false, "ask the server how many objects it holds after the run")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed")
	c.Labels.AddFlags(fs)
	fs.BoolVar(&c.worker, "worker", false, "internal: run as a client process of a parent nmdb-bench")
	return fs
}

// validate checks c and fills in defaults.
func (c *config) validate() error {
	switch c.target {
	case "nmdb", "memcached", "redis":
	default:
		return fmt.Errorf("-target %q: want nmdb, memcached or redis", c.target)
	}
	switch {
	case c.transport != "tcp" && c.transport != "udp":
		return fmt.Errorf("-transport %q: want tcp or udp", c.transport)
	case c.transport == "udp" && c.target == "redis":
		return errors.New("redis has no UDP transport")
	case c.client != "raw" && c.client != "lib":
		return fmt.Errorf("-client %q: want raw or lib", c.client)
	case c.client == "lib" && c.target != "nmdb":
		return errors.New("-client lib drives nmdb only")
	case c.io != "block" && c.io != "poll":
		return fmt.Errorf("-io %q: want block or poll", c.io)
	case c.procs < 1 || c.procs > 256:
		return fmt.Errorf("-procs %d: want 1..256", c.procs)
	case c.conns < 1 || c.conns > 4096:
		return fmt.Errorf("-conns %d: want 1..4096", c.conns)
	case c.depth < 1 || c.depth > maxDepth:
		return fmt.Errorf("-depth %d: want 1..%d", c.depth, maxDepth)
	case c.transport == "udp" && c.depth != 1:
		return errors.New("UDP runs keep one request in flight per socket: use -conns for more")
	case c.goroutines < 1 || c.goroutines > 100000:
		return fmt.Errorf("-goroutines %d: want 1..100000", c.goroutines)
	case c.keys < 1:
		return fmt.Errorf("-keys %d: want at least 1", c.keys)
	case c.valSize < 0 || c.valSize > 60000:
		return fmt.Errorf("-valsize %d: want 0..60000", c.valSize)
	case c.keySize < keyDigits(c.keys) || c.keySize > 250:
		return fmt.Errorf("-keysize %d: %d keys need at least %d bytes (at most 250)", c.keySize, c.keys, keyDigits(c.keys))
	case c.keySize > 4 && c.keySize-4 < keyDigits(c.keys):
		return fmt.Errorf("-keysize %d: keys are \"key:\" and %d digits, so at least %d bytes", c.keySize, keyDigits(c.keys), 4+keyDigits(c.keys))
	case c.gets < 0 || c.gets > 1:
		return fmt.Errorf("-gets %v: want a fraction in [0,1]", c.gets)
	case c.duration < 0 || c.warmup < 0 || c.timeout <= 0:
		return errors.New("-duration and -warmup must not be negative, -timeout must be positive")
	case c.duration > time.Hour || c.warmup > time.Hour:
		return errors.New("-duration and -warmup are limited to an hour")
	case c.preloadDepth < 1 || c.preloadDepth > maxDepth || c.preloadConns < 1 || c.preloadConns > 64:
		return fmt.Errorf("-preload-depth want 1..%d, -preload-conns 1..64", maxDepth)
	case c.Metric != "ops" && c.Metric != "rss":
		return fmt.Errorf("-metric %q: want ops or rss", c.Metric)
	case c.Role != "" && c.Role != "nmdb" && c.Role != "peer":
		return fmt.Errorf("-role %q: want nmdb or peer", c.Role)
	}
	if c.target == "nmdb" {
		if _, err := newNmdbProto(c.mode, false); err != nil {
			return err
		}
	}
	if c.Name == "" {
		c.Name = c.target + " " + c.transport
	}
	return nil
}

// measuring reports whether the run has a measured phase.
func (c *config) measuring() bool { return c.duration > 0 || c.requests > 0 }

func benchMain(args []string) error {
	var c config
	fs := newFlagSet("nmdb-bench", &c)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.worker {
		return workerMain(&c, os.Stdin, os.Stdout)
	}
	if c.clientProfile != "" {
		f, err := os.Create(c.clientProfile)
		if err != nil {
			return fmt.Errorf("client profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("client profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := runBench(&c, args)
	if err != nil {
		return err
	}
	if !c.quiet {
		fmt.Println(res.Describe())
	}
	if c.out != "" {
		if err := benchresult.Append(c.out, res); err != nil {
			return err
		}
	}
	if c.measuring() && res.Ops == 0 {
		return errors.New("no request completed")
	}
	if c.strict && (res.Errors > 0 || res.Lost > 0 || res.Misses > 0) {
		return fmt.Errorf("strict: %d errors, %d lost, %d misses", res.Errors, res.Lost, res.Misses)
	}
	return nil
}

// runBench preloads, runs the measured phase in this process or in
// c.procs worker processes, and fills in the result.
func runBench(c *config, args []string) (*benchresult.Result, error) {
	res := &benchresult.Result{
		Row: c.Row, Test: c.Test, Name: c.Name, Role: c.Role, Goal: c.Goal, Metric: c.Metric,
		Target: c.target, Transport: c.transport, Client: c.client, Procs: c.procs,
		Conns: c.conns, Depth: c.depth, Gets: c.gets, KeySize: c.keySize, ValSize: c.valSize, Keys: c.keys,
	}
	if c.target == "nmdb" {
		res.Mode = c.mode
	}
	if c.client == "lib" {
		res.Goroutines, res.Depth = c.goroutines, 0
	}
	if c.preload {
		if err := preload(c); err != nil {
			return nil, fmt.Errorf("preload: %w", err)
		}
		res.Preloaded = c.keys
	}
	if c.measuring() {
		var (
			h   Hist
			err error
		)
		if c.procs == 1 {
			var ts *tally
			ts, err = runLocal(c, nil, nil)
			if err == nil {
				fillResult(res, ts, c, &h)
			}
		} else {
			err = runWorkers(c, args, res, &h)
		}
		if err != nil {
			return nil, err
		}
		res.P50us = us(h.Quantile(0.50))
		res.P99us = us(h.Quantile(0.99))
		res.P999us = us(h.Quantile(0.999))
	}
	if c.countObjects {
		n, err := countObjects(c)
		if err != nil {
			return nil, err
		}
		res.Objects = n
	}
	if c.pid > 0 {
		if !c.measuring() {
			settle(c.pid, 5*time.Second)
		}
		kib, err := rssKiB(c.pid)
		if err != nil {
			return nil, err
		}
		res.RSSKiB = kib
	}
	return res, nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// fill sets the counters of r from one process's tally and merges its
// histogram into h.
func fillResult(r *benchresult.Result, ts *tally, c *config, h *Hist) {
	r.Ops, r.Hits, r.Misses, r.Errors, r.Lost = ts.ops, ts.hits, ts.misses, ts.errs, ts.lost
	secs := (ts.finish - c.warmup).Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	r.Secs = secs
	r.OpsPerSec = float64(ts.ops) / secs
	h.Merge(&ts.hist)
}

// preload sets every key once, with sets of the run's mode, over a few
// pipelined TCP connections (or one datagram at a time over UDP).
func preload(c *config) error {
	pc := *c
	pc.gets = 0
	pc.conns = c.preloadConns
	pc.depth = c.preloadDepth
	if c.transport == "udp" {
		// Preload over TCP when the server has it on the same port
		// number (the bench script's setup); UDP would be one at a time.
		pc.transport = "tcp"
	}
	if c.target == "nmdb" && c.mode == "sync" {
		pc.mode = "normal"
	}
	if c.client == "lib" {
		pc.client = "raw"
	}
	pc.io = "poll"
	pc.warmup = 0
	pc.duration = time.Hour
	pc.requests = 0
	ts, err := runLocal(&pc, func(d *driver, i int) {
		d.seq = true
		d.next = c.keys * i / pc.conns
		d.stop = c.keys * (i + 1) / pc.conns
	}, nil)
	if err != nil {
		return err
	}
	if ts.errs > 0 {
		return fmt.Errorf("%d of %d sets failed", ts.errs, ts.ops)
	}
	return nil
}

// newProto returns the protocol of c.
func newProto(c *config) (proto, error) {
	dgram := c.transport == "udp"
	switch c.target {
	case "nmdb":
		return newNmdbProto(c.mode, dgram)
	case "memcached":
		return &memcacheProto{dgram: dgram}, nil
	}
	return redisProto{}, nil
}

// runLocal runs c.conns loops in this process (the raw client) or
// c.conns libnmdb clients with c.goroutines goroutines each, and returns
// their summed tally. ready, when not nil, is called once every connection
// is up and must return to start the run (a worker waits for its parent
// there). setup may adjust each raw driver before the run.
func runLocal(c *config, setup func(d *driver, i int), ready func() error) (*tally, error) {
	if c.client == "lib" {
		return runLib(c, ready)
	}
	p, err := newProto(c)
	if err != nil {
		return nil, err
	}
	wl := &workload{keys: c.keys, keySize: c.keySize, val: makeValue(c.valSize), getFrac: c.gets}
	dgram := c.transport == "udp"
	drivers := make([]*driver, 0, c.conns)
	defer func() {
		for _, d := range drivers {
			_ = d.t.close()
		}
	}()
	for i := 0; i < c.conns; i++ {
		t, err := dial(c.transport, c.addr, c.io == "block", c.timeout)
		if err != nil {
			return nil, err
		}
		d := newDriver(p, t, dgram, idMaskFor(c.target, dgram), c.depth, wl, c.seed*1000003+uint64(i)+uint64(os.Getpid())<<20)
		if setup != nil {
			setup(d, i)
		}
		drivers = append(drivers, d)
	}
	if ready != nil {
		if err := ready(); err != nil {
			return nil, err
		}
	}
	w := newWindow(c)
	return runLoops(len(drivers), func(i int, ts *tally) error { return drivers[i].run(&w, ts) })
}

// runLoops runs n client loops at once, each counting into its own tally,
// and returns their sum, or their errors.
func runLoops(n int, loop func(i int, ts *tally) error) (*tally, error) {
	tallies := make([]tally, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = loop(i, &tallies[i])
		}()
	}
	wg.Wait()
	var sum tally
	for i := range tallies {
		sum.merge(&tallies[i])
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &sum, nil
}

// newWindow returns the window of a run that starts now.
func newWindow(c *config) window {
	w := window{t0: time.Now(), from: c.warmup, end: c.warmup + c.duration}
	if c.duration == 0 {
		w.end = c.warmup + time.Hour
	}
	if c.requests > 0 {
		n := c.procs * c.conns
		if c.client == "lib" {
			n *= c.goroutines
		}
		w.budget = (c.requests + uint64(n) - 1) / uint64(n)
	}
	return w
}

// makeValue returns a value of n printable bytes.
func makeValue(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = 'a' + byte(i%26)
	}
	return v
}

// workerMain is a client process: it connects, says "ready" on out, waits
// for a line on in, runs, and writes its result as JSON on out.
func workerMain(c *config, in io.Reader, out io.Writer) error {
	ts, err := runLocal(c, nil, func() error {
		if _, err := fmt.Fprintln(out, "ready"); err != nil {
			return fmt.Errorf("tell parent: %w", err)
		}
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "go" {
			return fmt.Errorf("parent did not start the run (%q): %w", line, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r := &benchresult.Result{}
	var h Hist
	fillResult(r, ts, c, &h)
	r.Hist = h.export()
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

// worker is one client process of a run.
type worker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// runWorkers runs the measured phase in c.procs copies of this program,
// started together, and adds up their results into res and h.
func runWorkers(c *config, args []string, res *benchresult.Result, h *Hist) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	wargs := append(append([]string{}, args...), "-worker", "-procs=1", "-preload=false", "-out=", "-pid=0", "-q", "-count-objects=false", "-client-cpuprofile=")
	if c.requests > 0 {
		per := (c.requests + uint64(c.procs) - 1) / uint64(c.procs)
		wargs = append(wargs, "-requests="+strconv.FormatUint(per, 10))
	}
	ws := make([]*worker, 0, c.procs)
	defer func() {
		for _, w := range ws {
			_ = w.in.Close()
			if w.cmd.ProcessState == nil {
				_ = w.cmd.Process.Kill()
				_ = w.cmd.Wait()
			}
		}
	}()
	for i := 0; i < c.procs; i++ {
		cmd := exec.Command(self, append(wargs, "-seed="+strconv.FormatUint(c.seed*7919+uint64(i), 10))...)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return fmt.Errorf("worker stdin: %w", err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return fmt.Errorf("worker stdout: %w", err)
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		ws = append(ws, &worker{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)})
	}
	// Wait for every worker to connect, then start them together.
	if err := eachWithin(ws, c.timeout+30*time.Second, func(w *worker) error {
		line, err := w.out.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			return fmt.Errorf("worker %d did not get ready (%q): %w", w.cmd.Process.Pid, line, err)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, w := range ws {
		if _, err := io.WriteString(w.in, "go\n"); err != nil {
			return fmt.Errorf("start worker %d: %w", w.cmd.Process.Pid, err)
		}
	}
	limit := c.warmup + c.duration + c.timeout + 60*time.Second
	if c.duration == 0 {
		limit = c.warmup + time.Hour
	}
	results := make([]*benchresult.Result, len(ws))
	if err := eachWithin(ws, limit, func(w *worker) error {
		line, err := w.out.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("worker %d gave no result: %w", w.cmd.Process.Pid, err)
		}
		r := &benchresult.Result{}
		if err := json.Unmarshal(line, r); err != nil {
			return fmt.Errorf("worker %d result: %w", w.cmd.Process.Pid, err)
		}
		for i := range ws {
			if ws[i] == w {
				results[i] = r
			}
		}
		if err := w.cmd.Wait(); err != nil {
			return fmt.Errorf("worker %d: %w", w.cmd.Process.Pid, err)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, r := range results {
		res.Ops += r.Ops
		res.Hits += r.Hits
		res.Misses += r.Misses
		res.Errors += r.Errors
		res.Lost += r.Lost
		res.OpsPerSec += r.OpsPerSec
		if r.Secs > res.Secs {
			res.Secs = r.Secs
		}
		h.mergeWire(r.Hist)
	}
	return nil
}

// eachWithin runs f for every worker concurrently and fails if they do not
// all finish within limit; the caller then kills the workers.
func eachWithin(ws []*worker, limit time.Duration, f func(*worker) error) error {
	done := make(chan error, len(ws))
	for _, w := range ws {
		go func() { done <- f(w) }()
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	var errs []error
	for range ws {
		select {
		case err := <-done:
			errs = append(errs, err)
		case <-timer.C:
			return fmt.Errorf("client processes did not finish within %v", limit)
		}
	}
	return errors.Join(errs...)
}

// rssKiB returns the resident set size of process pid in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("server memory: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("VmRSS of %d: %w", pid, err)
				}
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}
