package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// profileFlags are the flags of the profile command beyond those of a run.
type profileFlags struct {
	cpu, mem, mutex, block string
	memRate                int
	dir                    string
	backend                string
	cacheObjects           int
}

// profileOnly lists the flags that a run does not know, so they are not
// passed on to the client processes.
func profileOnly() []string {
	return []string{"cpuprofile", "memprofile", "mutexprofile", "blockprofile", "memprofilerate", "dbdir", "backend", "cache-objects"}
}

// profileMain runs an nmdb server in this process, drives it with client
// processes (this program with the run flags), and writes the server's
// profiles. The clients run in their own processes so that the profiles
// show the server alone.
func profileMain(args []string) error {
	var (
		c  config
		pf profileFlags
	)
	fs := newFlagSet("profile", &c)
	fs.StringVar(&pf.cpu, "cpuprofile", "", "write the server's CPU profile to this file")
	fs.StringVar(&pf.mem, "memprofile", "", "write the server's allocation profile to this file, and the one from before the run to FILE.base (go tool pprof -base FILE.base FILE shows the run alone)")
	fs.StringVar(&pf.mutex, "mutexprofile", "", "write the server's mutex contention profile to this file")
	fs.StringVar(&pf.block, "blockprofile", "", "write the server's blocking profile to this file")
	fs.IntVar(&pf.memRate, "memprofilerate", 4096, "bytes between allocation samples (runtime.MemProfileRate)")
	fs.StringVar(&pf.dir, "dbdir", "", "database directory (default: a new temporary directory, removed after)")
	fs.StringVar(&pf.backend, "backend", "pebble", "database backend")
	fs.IntVar(&pf.cacheObjects, "cache-objects", 1<<20, "objects the server's cache holds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.target != "nmdb" {
		return errors.New("profile: the server profiled is nmdb (-target nmdb)")
	}
	if !c.measuring() {
		return errors.New("profile: give -duration or -requests")
	}
	dir := pf.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "nmdb-profile-")
		if err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if pf.mem != "" {
		runtime.MemProfileRate = pf.memRate
	}
	if pf.mutex != "" {
		runtime.SetMutexProfileFraction(5)
		defer runtime.SetMutexProfileFraction(0)
	}
	if pf.block != "" {
		runtime.SetBlockProfileRate(10000)
		defer runtime.SetBlockProfileRate(0)
	}

	srv, err := nmdb.New(nmdb.Config{Backend: pf.backend, DBPath: dir, CacheObjects: pf.cacheObjects,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return fmt.Errorf("profile: start server: %w", err)
	}
	l, pc, err := listenBoth()
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	served := make(chan error, 2)
	go func() { served <- srv.ServeTCP(l) }()
	go func() { served <- srv.ServePacket(pc, nmdb.UDP) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "nmdb-bench: profile: shutdown:", err)
		}
		for range 2 {
			if err := <-served; err != nil && !errors.Is(err, nmdb.ErrServerClosed) {
				fmt.Fprintln(os.Stderr, "nmdb-bench: profile: serve:", err)
			}
		}
	}()
	c.addr = l.Addr().String()
	if c.preload {
		if err := preload(&c); err != nil {
			return fmt.Errorf("profile: preload: %w", err)
		}
	}

	// The clients: this program, without the profile flags, at the server.
	wargs := append(stripFlags(args, profileOnly()), "-addr="+c.addr)
	stop, err := startProfiles(&pf)
	if err != nil {
		return err
	}
	before := srv.Stats()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := processCPU()
	res := &Result{Name: "nmdb (in-process, profiled)", Target: "nmdb", Transport: c.transport, Client: c.client,
		Mode: c.mode, Procs: c.procs, Conns: c.conns, Depth: c.depth, Gets: c.gets}
	var h Hist
	err = runWorkers(&c, wargs, res, &h)
	cpu1 := processCPU()
	runtime.ReadMemStats(&ms1)
	after := srv.Stats()
	if perr := stop(); err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	res.P50us, res.P99us, res.P999us = us(h.Quantile(0.5)), us(h.Quantile(0.99)), us(h.Quantile(0.999))
	fmt.Println(res.describe())
	reqs := uint64(0)
	for _, i := range []int{wire.StatMsgTCP, wire.StatMsgUDP} {
		reqs += after[i] - before[i]
	}
	if reqs == 0 {
		return errors.New("profile: the server counted no requests")
	}
	// Includes the warm-up and the clients' connection set-up, so it
	// slightly overstates the per-request figures.
	fmt.Printf("server: %d requests, %.2f allocs/request, %.1f bytes/request, %d GCs, %.1f µs CPU/request (all goroutines)\n",
		reqs, float64(ms1.Mallocs-ms0.Mallocs)/float64(reqs), float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(reqs),
		ms1.NumGC-ms0.NumGC, float64(cpu1-cpu0)/float64(time.Microsecond)/float64(reqs))
	objects := after[wire.StatObjectsCached]
	rss, _ := rssKiB(os.Getpid())
	fmt.Printf("memory: %d objects cached, heap in use %.1f MiB (%.0f bytes/object), heap from OS %.1f MiB, process RSS %.1f MiB\n",
		objects, float64(ms1.HeapInuse)/(1<<20), float64(ms1.HeapInuse)/float64(max(objects, 1)),
		float64(ms1.HeapSys-ms1.HeapReleased)/(1<<20), float64(rss)/1024)
	return nil
}

// listenBoth listens on 127.0.0.1 for TCP and UDP on one free port.
func listenBoth() (net.Listener, net.PacketConn, error) {
	var last error
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("profile: listen: %w", err)
		}
		pc, err := net.ListenPacket("udp", l.Addr().String())
		if err == nil {
			return l, pc, nil
		}
		last = err
		l.Close()
	}
	return nil, nil, fmt.Errorf("profile: no port free for TCP and UDP: %w", last)
}

// startProfiles starts the CPU profile and returns the function that stops
// it and writes the other profiles.
func startProfiles(pf *profileFlags) (func() error, error) {
	var cpuFile *os.File
	if pf.mem != "" {
		runtime.GC() // the allocation profile is as of the last collection
		if err := writeProfile("allocs", pf.mem+".base"); err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
	}
	if pf.cpu != "" {
		f, err := os.Create(pf.cpu)
		if err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("profile: start CPU profile: %w", err)
		}
		cpuFile = f
	}
	return func() error {
		var errs []error
		if cpuFile != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpuFile.Close())
		}
		if pf.mem != "" {
			runtime.GC()
		}
		for _, p := range []struct{ file, name string }{{pf.mem, "allocs"}, {pf.mutex, "mutex"}, {pf.block, "block"}} {
			if p.file != "" {
				errs = append(errs, writeProfile(p.name, p.file))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		return nil
	}, nil
}

func writeProfile(name, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write %s profile: %w", name, err)
	}
	return f.Close()
}

// stripFlags returns args without the named flags (in the forms -f=v,
// --f=v, -f v and --f v).
func stripFlags(args, names []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		name, _, hasValue := strings.Cut(name, "=")
		drop := false
		for _, n := range names {
			if strings.HasPrefix(a, "-") && name == n {
				drop = true
			}
		}
		if !drop {
			out = append(out, a)
			continue
		}
		if !hasValue && i+1 < len(args) {
			i++ // the flag's value
		}
	}
	return out
}

// processCPU returns the CPU time this process has used, user and system.
func processCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	// After the command name: state is field 0, utime 11, stime 12.
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
