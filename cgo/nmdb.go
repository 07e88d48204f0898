// Command cgo is the Go core of libnmdb, the C library: it runs the
// classic nmdb C API (see nmdb.h in this directory and libnmdb(3)) on top
// of the Go client, package libnmdb.
//
// C programs never call this core directly. They call the functions of
// nmdb.h, which a small C layer (shim/nmdb.c) implements by forwarding to
// the nmdbgo_ functions exported here. The layer starts the Go runtime on
// the first nmdb_init() of a process, not when the library is loaded, and
// knows which process started it, so that programs that fork keep working
// (see the FORK section of libnmdb(3)):
//
//   - libnmdb.so.1 is the C layer alone; it loads this core, built with
//     -buildmode=c-shared into nmdb/libnmdb-core.so.1 next to it, with
//     dlopen on first use, and a fresh copy with dlmopen in a child that
//     forked after its parent started the core;
//   - libnmdb.a holds the C layer and this core built with
//     -buildmode=c-archive, with the entry that would start the runtime at
//     load time taken out: the layer starts the runtime itself.
//
// A handle is a runtime/cgo.Handle of a *libnmdb.Client (C never holds a Go
// pointer); the C layer keeps it in the nmdb_t it allocates. Every function
// that can fail takes a pointer e where it stores the errno value that the
// C layer sets on failure (the Go runtime's threads and a dlmopen'ed copy
// have no access to the caller's errno). Every call runs with the Go
// client's default per-call timeout. The Go client is safe for concurrent
// use, so one handle may be shared by threads; threads whose calls overlap
// go on connections of their own (see linksPerServer). A call sends its
// request and waits for its reply in a blocking read on the calling
// thread, on a connection of its own in blocking mode
// (libnmdb.Options.ThreadWait), as a C client does.
package main

/*
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
*/
import "C"

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/nmdb-go/nmdb/internal/sctp"
	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/tipc"
)

// maxArg bounds the size of a key or value accepted from C before it is
// copied. It is far above the protocol limit, so the client still reports
// oversized requests itself; it only keeps a bogus size from C (say a
// negative value cast to size_t) from reaching the allocator.
const maxArg = 1 << 24

// Return values shared by several functions.
const (
	retNetErr    = -1 // local or network failure: bad arguments, send or receive failed, timeout
	retServerErr = -2 // the server replied with an error (read-only, database error, ...)
)

// Kinds of server for nmdbgo_add, as the C layer passes them.
const (
	kindTIPC = 0
	kindTCP  = 1
	kindUDP  = 2
	kindSCTP = 3
)

// Modes of the request functions, as the C layer passes them: the plain
// function, its _sync variant and its cache_ variant.
const (
	modePlain = 0
	modeSync  = 1
	modeCache = 2
)

// main is required by -buildmode=c-shared and c-archive; it never runs.
func main() {}

// A C thread in a call holds one of the runtime's GOMAXPROCS Ps, also
// while it waits for a reply in a blocking read
// (libnmdb.Options.ThreadWait); a thread calling in finds no P while all
// are held so, and sleeps until the
// runtime takes one back from a waiting thread, which can take
// milliseconds. So the calls in progress are counted, and GOMAXPROCS is
// raised (never lowered) to leave the Go side of the library Ps of its
// own when C threads hold the others. The state is the process's, as
// GOMAXPROCS is.
var (
	inCalls atomic.Int32 // C calls in progress
	procs   atomic.Int32 // GOMAXPROCS as last set here; 0: not read yet
	procsMu sync.Mutex   // serializes raising it
)

// maxProcs bounds how far GOMAXPROCS is raised.
const maxProcs = 256

// enter counts a C call in progress, raising GOMAXPROCS when more calls
// are in progress than it leaves Ps for, and returns leave, which counts
// the call out.
func enter() func() {
	n := inCalls.Add(1)
	if n >= procs.Load() {
		raiseProcs(n)
	}
	return leave
}

func leave() { inCalls.Add(-1) }

// raiseProcs makes GOMAXPROCS n calls plus the number of processors, up
// to maxProcs, when n calls leave no P free; it records GOMAXPROCS.
func raiseProcs(n int32) {
	procsMu.Lock()
	defer procsMu.Unlock()
	p := int32(runtime.GOMAXPROCS(0))
	if want := min(n+int32(runtime.NumCPU()), maxProcs); n >= p && want > p {
		runtime.GOMAXPROCS(int(want))
		p = want
	}
	procs.Store(p)
}

// client returns the Go client behind the handle h.
func client(h C.uintptr_t) *libnmdb.Client {
	if h == 0 {
		return nil
	}
	c, _ := cgo.Handle(h).Value().(*libnmdb.Client)
	return c
}

// fail stores errno in *e (when e is not NULL) and returns ret.
func fail[T C.int | C.ssize_t | C.uintptr_t](e *C.int, errno syscall.Errno, ret T) T {
	if e != nil {
		*e = C.int(errno)
	}
	return ret
}

// errnoOf maps an error of the Go client to the errno value libnmdb(3)
// documents for it.
func errnoOf(err error) syscall.Errno {
	var se *libnmdb.ServerError
	var en syscall.Errno
	var dns *net.DNSError
	var to interface{ Timeout() bool }
	switch {
	case err == nil:
		return 0
	case errors.Is(err, libnmdb.ErrServerDown):
		return syscall.EHOSTDOWN
	case errors.As(err, &se):
		if errors.Is(err, libnmdb.ErrReadOnly) {
			return syscall.EROFS
		}
		return syscall.EIO
	case errors.Is(err, tipc.ErrUnsupported), errors.Is(err, sctp.ErrUnsupported):
		return syscall.EAFNOSUPPORT
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return syscall.ETIMEDOUT
	case errors.As(err, &dns):
		if dns.IsTimeout {
			return syscall.ETIMEDOUT
		}
		return syscall.ENXIO
	case errors.As(err, &en) && en != 0:
		return en
	case errors.As(err, &to) && to.Timeout():
		return syscall.ETIMEDOUT
	case errors.Is(err, libnmdb.ErrTooBig):
		return syscall.EMSGSIZE
	case errors.Is(err, libnmdb.ErrNoServers):
		return syscall.ENOTCONN
	case errors.Is(err, libnmdb.ErrOneServer):
		return syscall.EINVAL
	case errors.Is(err, libnmdb.ErrClosed):
		return syscall.EBADF
	case errors.Is(err, libnmdb.ErrConnLost):
		return syscall.ECONNRESET
	case errors.Is(err, libnmdb.ErrUnexpectedReply):
		return syscall.EPROTO
	}
	return syscall.EIO
}

// cBytes returns the n bytes at p, in place: the Go client keeps no
// reference to a request's keys and values once its call returns (it
// encodes them into a buffer of its own before sending), so nothing is
// copied or allocated. It reports false for a NULL pointer with a
// non-zero size or an absurd size.
func cBytes(p *C.uchar, n C.size_t) ([]byte, bool) {
	if n > maxArg || (p == nil && n > 0) {
		return nil, false
	}
	if n == 0 {
		return []byte{}, true
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)), true
}

// copyOut copies v into the n-byte C buffer dst. It reports false when v
// does not fit.
func copyOut(dst *C.uchar, n C.size_t, v []byte) bool {
	if C.size_t(len(v)) > n || (dst == nil && len(v) > 0) {
		return false
	}
	if len(v) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(dst)), len(v)), v)
	}
	return true
}

// errRet maps an error that is not one of an operation's documented
// outcomes to a negative return value.
func errRet(err error) C.int {
	var se *libnmdb.ServerError
	if errors.As(err, &se) {
		return retServerErr
	}
	return retNetErr
}

// validPort reports whether port is -1 (the default) or a usable IP port.
func validPort(port C.int) bool {
	return port == -1 || (port >= 0 && port <= 65535)
}

// linksPerServer is how many connections a handle keeps at most with each
// server: threads whose calls overlap each wait alone on a connection of
// their own, in a blocking read on their thread
// (libnmdb.Options.LinksPerServer), as they would with a handle each, up to this many threads; more share.
// Connections are opened only as that many calls overlap.
const linksPerServer = 16

// cOptions returns the options of the client behind a handle.
func cOptions(r libnmdb.Sharding) libnmdb.Options {
	return libnmdb.Options{Sharding: r, ThreadWait: true, LinksPerServer: linksPerServer}
}

//export nmdbgo_new
func nmdbgo_new() C.uintptr_t {
	return C.uintptr_t(cgo.NewHandle(libnmdb.New(cOptions(libnmdb.ShardingClassic))))
}

//export nmdbgo_yield
func nmdbgo_yield() {
	// The C layer calls this every few milliseconds from each thread
	// that makes requests, so that the thread's goroutine is scheduled
	// anew (see YIELD_NS in shim/nmdb.c).
	runtime.Gosched()
}

//export nmdbgo_sharding
func nmdbgo_sharding(h C.uintptr_t, rule *C.char, e *C.int) C.uintptr_t {
	c := client(h)
	if c == nil || rule == nil {
		return fail(e, syscall.EINVAL, C.uintptr_t(0))
	}
	r, err := libnmdb.ParseSharding(C.GoString(rule))
	if err != nil {
		return fail(e, syscall.EINVAL, C.uintptr_t(0))
	}
	if c.NumServers() > 0 {
		// The rule of a client is fixed once it places keys.
		return fail(e, syscall.EBUSY, C.uintptr_t(0))
	}
	nh := cgo.NewHandle(libnmdb.New(cOptions(r)))
	nmdbgo_free(h)
	return C.uintptr_t(nh)
}

//export nmdbgo_free
func nmdbgo_free(h C.uintptr_t) {
	if h == 0 {
		return
	}
	ch := cgo.Handle(h)
	if c, ok := ch.Value().(*libnmdb.Client); ok {
		_ = c.Close()
	}
	ch.Delete()
}

//export nmdbgo_add
func nmdbgo_add(h C.uintptr_t, kind C.int, addr *C.char, port C.int, e *C.int) C.int {
	c := client(h)
	if c == nil {
		return fail(e, syscall.EINVAL, C.int(0))
	}
	var err error
	switch kind {
	case kindTIPC:
		// TIPC instances are not limited to 16 bits like IP ports.
		if port < -1 {
			return fail(e, syscall.EINVAL, C.int(0))
		}
		err = c.AddTIPCServer(int(port))
	case kindTCP, kindUDP, kindSCTP:
		if addr == nil || !validPort(port) {
			return fail(e, syscall.EINVAL, C.int(0))
		}
		host := C.GoString(addr)
		switch kind {
		case kindTCP:
			err = c.AddTCPServer(host, int(port))
		case kindUDP:
			err = c.AddUDPServer(host, int(port))
		default:
			err = c.AddSCTPServer(host, int(port))
		}
	default:
		return fail(e, syscall.EINVAL, C.int(0))
	}
	if err != nil {
		errno := errnoOf(err)
		if errno == syscall.EIO {
			// Not a failure of the system or the server: an argument
			// the client refused, such as a server the handle holds.
			errno = syscall.EINVAL
		}
		return fail(e, errno, C.int(0))
	}
	return 1
}

//export nmdbgo_get
func nmdbgo_get(h C.uintptr_t, mode C.int, key *C.uchar, ksize C.size_t, val *C.uchar, vsize C.size_t, e *C.int) C.ssize_t {
	defer enter()()
	c := client(h)
	k, ok := cBytes(key, ksize)
	if c == nil || !ok {
		return fail(e, syscall.EINVAL, C.ssize_t(-2))
	}
	f := c.AppendGet
	if mode == modeCache {
		f = c.AppendCacheGet
	}
	// The value goes straight into the caller's buffer when it fits;
	// append moves a longer one elsewhere, leaving the buffer as it was.
	var dst []byte
	if val != nil && vsize > 0 {
		dst = unsafe.Slice((*byte)(unsafe.Pointer(val)), min(vsize, maxArg))[:0]
	}
	v, err := f(context.Background(), dst, k)
	switch {
	case errors.Is(err, libnmdb.ErrNotFound):
		return -1
	case err != nil:
		return fail(e, errnoOf(err), C.ssize_t(-2))
	case C.size_t(len(v)) > vsize || (len(v) > 0 && dst == nil):
		return fail(e, syscall.ERANGE, C.ssize_t(-2))
	}
	return C.ssize_t(len(v))
}

//export nmdbgo_set
func nmdbgo_set(h C.uintptr_t, mode C.int, key *C.uchar, ksize C.size_t, val *C.uchar, vsize C.size_t, e *C.int) C.int {
	defer enter()()
	c := client(h)
	k, okk := cBytes(key, ksize)
	v, okv := cBytes(val, vsize)
	if c == nil || !okk || !okv {
		return fail(e, syscall.EINVAL, C.int(retNetErr))
	}
	f := c.Set
	switch mode {
	case modeSync:
		f = c.SetSync
	case modeCache:
		f = c.CacheSet
	}
	if err := f(context.Background(), k, v); err != nil {
		return fail(e, errnoOf(err), errRet(err))
	}
	return 1
}

//export nmdbgo_del
func nmdbgo_del(h C.uintptr_t, mode C.int, key *C.uchar, ksize C.size_t, e *C.int) C.int {
	defer enter()()
	c := client(h)
	k, ok := cBytes(key, ksize)
	if c == nil || !ok {
		return fail(e, syscall.EINVAL, C.int(retNetErr))
	}
	f := c.Del
	switch mode {
	case modeSync:
		f = c.DelSync
	case modeCache:
		f = c.CacheDel
	}
	err := f(context.Background(), k)
	switch {
	case err == nil:
		return 1
	case errors.Is(err, libnmdb.ErrNotFound):
		return 0
	}
	return fail(e, errnoOf(err), errRet(err))
}

//export nmdbgo_cas
func nmdbgo_cas(h C.uintptr_t, mode C.int, key *C.uchar, ksize C.size_t, oldval *C.uchar, ovsize C.size_t,
	newval *C.uchar, nvsize C.size_t, e *C.int) C.int {
	defer enter()()
	c := client(h)
	k, okk := cBytes(key, ksize)
	o, oko := cBytes(oldval, ovsize)
	n, okn := cBytes(newval, nvsize)
	if c == nil || !okk || !oko || !okn {
		return fail(e, syscall.EINVAL, C.int(retNetErr))
	}
	f := c.CAS
	if mode == modeCache {
		f = c.CacheCAS
	}
	err := f(context.Background(), k, o, n)
	switch {
	case err == nil:
		return 2
	case errors.Is(err, libnmdb.ErrNoMatch):
		return 1
	case errors.Is(err, libnmdb.ErrNotFound):
		return 0
	}
	return fail(e, errnoOf(err), errRet(err))
}

//export nmdbgo_incr
func nmdbgo_incr(h C.uintptr_t, mode C.int, key *C.uchar, ksize C.size_t, delta C.int64_t, newval *C.int64_t, e *C.int) C.int {
	defer enter()()
	c := client(h)
	k, ok := cBytes(key, ksize)
	if c == nil || !ok {
		return fail(e, syscall.EINVAL, C.int(retNetErr))
	}
	f := c.Incr
	if mode == modeCache {
		f = c.CacheIncr
	}
	n, err := f(context.Background(), k, int64(delta))
	switch {
	case err == nil:
		if newval != nil {
			*newval = C.int64_t(n)
		}
		return 2
	case errors.Is(err, libnmdb.ErrNotNumber):
		return 1
	case errors.Is(err, libnmdb.ErrNotFound):
		return 0
	}
	return fail(e, errnoOf(err), errRet(err))
}

// walkResult maps the outcome of FirstKey or NextKey to a return value,
// copying the key out on success.
func walkResult(k []byte, err error, dst *C.uchar, n C.size_t, e *C.int) C.ssize_t {
	switch {
	case errors.Is(err, libnmdb.ErrNotFound):
		return -1
	case err != nil:
		return fail(e, errnoOf(err), C.ssize_t(-2))
	case !copyOut(dst, n, k):
		return fail(e, syscall.ERANGE, C.ssize_t(-2))
	}
	return C.ssize_t(len(k))
}

//export nmdbgo_firstkey
func nmdbgo_firstkey(h C.uintptr_t, key *C.uchar, ksize C.size_t, e *C.int) C.ssize_t {
	defer enter()()
	c := client(h)
	if c == nil || c.NumServers() != 1 {
		return fail(e, syscall.EINVAL, C.ssize_t(-2))
	}
	k, err := c.FirstKey(context.Background())
	return walkResult(k, err, key, ksize, e)
}

//export nmdbgo_nextkey
func nmdbgo_nextkey(h C.uintptr_t, key *C.uchar, ksize C.size_t, newkey *C.uchar, nksize C.size_t, e *C.int) C.ssize_t {
	defer enter()()
	c := client(h)
	k, ok := cBytes(key, ksize)
	if c == nil || !ok || c.NumServers() != 1 {
		return fail(e, syscall.EINVAL, C.ssize_t(-2))
	}
	nk, err := c.NextKey(context.Background(), k)
	return walkResult(nk, err, newkey, nksize, e)
}

//export nmdbgo_stats
func nmdbgo_stats(h C.uintptr_t, buf *C.uchar, bsize C.size_t, nservers *C.uint, nstats *C.uint, e *C.int) C.int {
	defer enter()()
	c := client(h)
	if c == nil {
		return fail(e, syscall.EINVAL, C.int(-2))
	}
	all, err := c.Stats(context.Background())
	var out []byte
	if buf != nil && bsize > 0 {
		out = unsafe.Slice((*byte)(unsafe.Pointer(buf)), min(bsize, maxStatsBuf))
	}
	ret, ns, nst := statsResult(all, err, out)
	if ret == 1 || ret == -3 {
		if nservers != nil {
			*nservers = C.uint(ns)
		}
		if nstats != nil {
			*nstats = C.uint(nst)
		}
	}
	switch ret {
	case -1, -2:
		return fail(e, errnoOf(err), C.int(ret))
	case -3:
		return fail(e, syscall.ERANGE, C.int(ret))
	case -4:
		return fail(e, syscall.EPROTO, C.int(ret))
	}
	return C.int(ret)
}

// maxStatsBuf bounds how much of the caller's stats buffer is looked at;
// far more than any cluster's counters need.
const maxStatsBuf = 1 << 30

// statsResult turns the outcome of Client.Stats into the return value of
// nmdb_stats, the number of servers and of counters per server, and lays
// the counters out in out in network byte order when they fit.
func statsResult(all [][]uint64, err error, out []byte) (ret, nservers, nstats int) {
	if err != nil {
		var se *libnmdb.ServerError
		if errors.As(err, &se) {
			return -1, 0, 0
		}
		return -2, 0, 0
	}
	n := 0
	for i, s := range all {
		if i == 0 {
			n = len(s)
		} else if len(s) != n {
			return -4, 0, 0
		}
	}
	if len(all)*n*8 > len(out) {
		return -3, len(all), n
	}
	for i, s := range all {
		for j, v := range s {
			binary.BigEndian.PutUint64(out[(i*n+j)*8:], v)
		}
	}
	return 1, len(all), n
}
