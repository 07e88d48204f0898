// Command bench-profile profiles an nmdb server under load: it runs the
// server in this process, drives it with nmdb-bench in its own processes,
// and writes the server's profiles, which so show the server alone. It
// also prints the server's allocations, CPU time and memory per request.
//
// Usage:
//
//	go run ./scripts/bench-profile [flags] [-- nmdb-bench flags]
//
// The nmdb-bench flags describe the load (-duration, -gets, -conns, ...);
// -addr is set to the server's. Keys are preloaded before profiling starts
// unless -preload=false is among them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// flags are the command line.
type flags struct {
	bench                  string
	cpu, mem, mutex, block string
	memRate                int
	dir                    string
	backend                string
	cacheObjects           int
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench-profile:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var f flags
	fs := flag.NewFlagSet("bench-profile", flag.ContinueOnError)
	fs.StringVar(&f.bench, "bench", "nmdb-bench", "the nmdb-bench program")
	fs.StringVar(&f.cpu, "cpuprofile", "", "write the server's CPU profile to this file")
	fs.StringVar(&f.mem, "memprofile", "", "write the server's allocation profile to this file, and the one from before the run to FILE.base (go tool pprof -base FILE.base FILE shows the run alone)")
	fs.StringVar(&f.mutex, "mutexprofile", "", "write the server's mutex contention profile to this file")
	fs.StringVar(&f.block, "blockprofile", "", "write the server's blocking profile to this file")
	fs.IntVar(&f.memRate, "memprofilerate", 4096, "bytes between allocation samples (runtime.MemProfileRate)")
	fs.StringVar(&f.dir, "dbdir", "", "database directory (default: a new temporary directory, removed after)")
	fs.StringVar(&f.backend, "backend", "pebble", "database backend")
	fs.IntVar(&f.cacheObjects, "cache-objects", 1<<20, "objects the server's cache holds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	load := fs.Args()
	if f.dir == "" {
		d, err := os.MkdirTemp("", "nmdb-profile-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		f.dir = d
	}
	if f.mem != "" {
		runtime.MemProfileRate = f.memRate
	}
	if f.mutex != "" {
		runtime.SetMutexProfileFraction(5)
		defer runtime.SetMutexProfileFraction(0)
	}
	if f.block != "" {
		runtime.SetBlockProfileRate(10000)
		defer runtime.SetBlockProfileRate(0)
	}

	srv, err := nmdbtest.StartAt("tcp+udp", "127.0.0.1:0", nmdb.Config{Backend: f.backend, DBPath: f.dir,
		CacheObjects: f.cacheObjects,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench-profile: stop server:", err)
		}
	}()
	bench := func(extra ...string) error {
		cmd := exec.Command(f.bench, append(append(load, "-addr="+srv.Addr.String()), extra...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", f.bench, err)
		}
		return nil
	}
	// Preloading (when the load asks for it) is not profiled.
	if err := bench("-duration=0", "-requests=0", "-q"); err != nil {
		return fmt.Errorf("preload: %w", err)
	}

	stop, err := startProfiles(&f)
	if err != nil {
		return err
	}
	before := srv.Stats()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := processCPU()
	err = bench("-preload=false")
	cpu1 := processCPU()
	runtime.ReadMemStats(&ms1)
	after := srv.Stats()
	if perr := stop(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	reqs := uint64(0)
	for _, i := range []int{wire.StatMsgTCP, wire.StatMsgUDP} {
		reqs += after[i] - before[i]
	}
	if reqs == 0 {
		return errors.New("the server counted no requests")
	}
	// Includes the warm-up and the clients' connection set-up, so it
	// slightly overstates the per-request figures.
	fmt.Printf("server: %d requests, %.2f allocs/request, %.1f bytes/request, %d GCs, %.1f µs CPU/request (all goroutines)\n",
		reqs, float64(ms1.Mallocs-ms0.Mallocs)/float64(reqs), float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(reqs),
		ms1.NumGC-ms0.NumGC, float64(cpu1-cpu0)/float64(time.Microsecond)/float64(reqs))
	objects := after[wire.StatObjectsCached]
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("memory: %d objects cached, heap in use %.1f MiB (%.0f bytes/object), heap from OS %.1f MiB, peak process RSS %.1f MiB\n",
		objects, float64(ms1.HeapInuse)/(1<<20), float64(ms1.HeapInuse)/float64(max(objects, 1)),
		float64(ms1.HeapSys-ms1.HeapReleased)/(1<<20), float64(ru.Maxrss)/1024)
	return nil
}

// startProfiles starts the CPU profile and returns the function that stops
// it and writes the other profiles.
func startProfiles(f *flags) (func() error, error) {
	var cpuFile *os.File
	if f.mem != "" {
		runtime.GC() // the allocation profile is as of the last collection
		if err := writeProfile("allocs", f.mem+".base"); err != nil {
			return nil, err
		}
	}
	if f.cpu != "" {
		file, err := os.Create(f.cpu)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(file); err != nil {
			file.Close()
			return nil, fmt.Errorf("start CPU profile: %w", err)
		}
		cpuFile = file
	}
	return func() error {
		var errs []error
		if cpuFile != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpuFile.Close())
		}
		if f.mem != "" {
			runtime.GC()
		}
		for _, p := range []struct{ file, name string }{{f.mem, "allocs"}, {f.mutex, "mutex"}, {f.block, "block"}} {
			if p.file != "" {
				errs = append(errs, writeProfile(p.name, p.file))
			}
		}
		return errors.Join(errs...)
	}, nil
}

// writeProfile writes the named runtime profile to file.
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

// processCPU returns the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
