// Command cgo is libnmdb for C programs: it exports the classic nmdb C API
// (see nmdb.h in this directory and libnmdb(3)) on top of the Go client,
// package libnmdb. Build it with -buildmode=c-shared for libnmdb.so and
// -buildmode=c-archive for libnmdb.a; C programs include the hand-written
// nmdb.h, never the header cgo generates.
//
// A C handle (nmdb_t *) is a small struct allocated with malloc that holds a
// runtime/cgo.Handle of the Go client, so C never holds a Go pointer.
// nmdb_free deletes the handle, closes the client and frees the struct.
//
// Every call runs with the Go client's default per-call timeout. The Go
// client is safe for concurrent use, so one handle may be shared by threads.
package main

/*
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

// The layout behind the opaque nmdb_t of nmdb.h.
typedef struct nmdb_t {
	uintptr_t handle;
} nmdb_t;
*/
import "C"

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime/cgo"
	"unsafe"

	"github.com/nmdb-go/nmdb/libnmdb"
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

// main is required by -buildmode=c-shared and c-archive; it never runs.
func main() {}

// client returns the Go client behind db, or nil for a NULL handle.
func client(db *C.nmdb_t) *libnmdb.Client {
	if db == nil || db.handle == 0 {
		return nil
	}
	c, _ := cgo.Handle(db.handle).Value().(*libnmdb.Client)
	return c
}

// goBytes copies n bytes at p into a new Go slice. It reports false for a
// NULL pointer with a non-zero size or an absurd size. Copying keeps the
// library independent of how long the Go client holds on to a request's
// bytes; the cost is small next to a round trip to a server.
func goBytes(p *C.uchar, n C.size_t) ([]byte, bool) {
	if n > maxArg || (p == nil && n > 0) {
		return nil, false
	}
	if n == 0 {
		return []byte{}, true
	}
	return C.GoBytes(unsafe.Pointer(p), C.int(n)), true
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

// goString copies a C string, reporting false for NULL.
func goString(s *C.char) (string, bool) {
	if s == nil {
		return "", false
	}
	return C.GoString(s), true
}

// validPort reports whether port is -1 (the default) or a usable IP port.
func validPort(port C.int) bool {
	return port == -1 || (port >= 0 && port <= 65535)
}

//export nmdb_init
func nmdb_init() *C.nmdb_t {
	db := (*C.nmdb_t)(C.malloc(C.size_t(unsafe.Sizeof(C.nmdb_t{}))))
	if db == nil {
		return nil
	}
	db.handle = C.uintptr_t(cgo.NewHandle(libnmdb.New(libnmdb.Options{})))
	return db
}

//export nmdb_free
func nmdb_free(db *C.nmdb_t) C.int {
	if db == nil {
		return 1
	}
	if db.handle != 0 {
		h := cgo.Handle(db.handle)
		if c, ok := h.Value().(*libnmdb.Client); ok {
			_ = c.Close()
		}
		h.Delete()
		db.handle = 0
	}
	C.free(unsafe.Pointer(db))
	return 1
}

// addResult turns the outcome of an Add*Server call into 1 or 0.
func addResult(err error) C.int {
	if err != nil {
		return 0
	}
	return 1
}

//export nmdb_add_tipc_server
func nmdb_add_tipc_server(db *C.nmdb_t, port C.int) C.int {
	c := client(db)
	// TIPC instances are not limited to 16 bits like IP ports.
	if c == nil || port < -1 {
		return 0
	}
	return addResult(c.AddTIPCServer(int(port)))
}

// addIP is the body of the TCP, UDP and SCTP add functions.
func addIP(db *C.nmdb_t, addr *C.char, port C.int, add func(*libnmdb.Client, string, int) error) C.int {
	c := client(db)
	host, ok := goString(addr)
	if c == nil || !ok || !validPort(port) {
		return 0
	}
	return addResult(add(c, host, int(port)))
}

//export nmdb_add_tcp_server
func nmdb_add_tcp_server(db *C.nmdb_t, addr *C.char, port C.int) C.int {
	return addIP(db, addr, port, (*libnmdb.Client).AddTCPServer)
}

//export nmdb_add_udp_server
func nmdb_add_udp_server(db *C.nmdb_t, addr *C.char, port C.int) C.int {
	return addIP(db, addr, port, (*libnmdb.Client).AddUDPServer)
}

//export nmdb_add_sctp_server
func nmdb_add_sctp_server(db *C.nmdb_t, addr *C.char, port C.int) C.int {
	return addIP(db, addr, port, (*libnmdb.Client).AddSCTPServer)
}

// getFunc is the signature shared by Get and CacheGet.
type getFunc func(*libnmdb.Client, context.Context, []byte) ([]byte, error)

// get is the body of nmdb_get and nmdb_cache_get.
func get(db *C.nmdb_t, key *C.uchar, ksize C.size_t, val *C.uchar, vsize C.size_t, f getFunc) C.ssize_t {
	c := client(db)
	k, ok := goBytes(key, ksize)
	if c == nil || !ok {
		return -2
	}
	v, err := f(c, context.Background(), k)
	switch {
	case errors.Is(err, libnmdb.ErrNotFound):
		return -1
	case err != nil:
		return -2
	case !copyOut(val, vsize, v):
		return -2
	}
	return C.ssize_t(len(v))
}

//export nmdb_get
func nmdb_get(db *C.nmdb_t, key *C.uchar, ksize C.size_t, val *C.uchar, vsize C.size_t) C.ssize_t {
	return get(db, key, ksize, val, vsize, (*libnmdb.Client).Get)
}

//export nmdb_cache_get
func nmdb_cache_get(db *C.nmdb_t, key *C.uchar, ksize C.size_t, val *C.uchar, vsize C.size_t) C.ssize_t {
	return get(db, key, ksize, val, vsize, (*libnmdb.Client).CacheGet)
}

// setFunc is the signature shared by Set, SetSync and CacheSet.
type setFunc func(*libnmdb.Client, context.Context, []byte, []byte) error

// set is the body of the three set functions.
func set(db *C.nmdb_t, key *C.uchar, ksize C.size_t, val *C.uchar, vsize C.size_t, f setFunc) C.int {
	c := client(db)
	k, okk := goBytes(key, ksize)
	v, okv := goBytes(val, vsize)
	if c == nil || !okk || !okv {
		return retNetErr
	}
	if err := f(c, context.Background(), k, v); err != nil {
		return errRet(err)
	}
	return 1
}

//export nmdb_set
func nmdb_set(db *C.nmdb_t, key *C.uchar, ksize C.size_t, val *C.uchar, vsize C.size_t) C.int {
	return set(db, key, ksize, val, vsize, (*libnmdb.Client).Set)
}

//export nmdb_set_sync
func nmdb_set_sync(db *C.nmdb_t, key *C.uchar, ksize C.size_t, val *C.uchar, vsize C.size_t) C.int {
	return set(db, key, ksize, val, vsize, (*libnmdb.Client).SetSync)
}

//export nmdb_cache_set
func nmdb_cache_set(db *C.nmdb_t, key *C.uchar, ksize C.size_t, val *C.uchar, vsize C.size_t) C.int {
	return set(db, key, ksize, val, vsize, (*libnmdb.Client).CacheSet)
}

// delFunc is the signature shared by Del, DelSync and CacheDel.
type delFunc func(*libnmdb.Client, context.Context, []byte) error

// del is the body of the three del functions.
func del(db *C.nmdb_t, key *C.uchar, ksize C.size_t, f delFunc) C.int {
	c := client(db)
	k, ok := goBytes(key, ksize)
	if c == nil || !ok {
		return retNetErr
	}
	err := f(c, context.Background(), k)
	switch {
	case err == nil:
		return 1
	case errors.Is(err, libnmdb.ErrNotFound):
		return 0
	}
	return errRet(err)
}

//export nmdb_del
func nmdb_del(db *C.nmdb_t, key *C.uchar, ksize C.size_t) C.int {
	return del(db, key, ksize, (*libnmdb.Client).Del)
}

//export nmdb_del_sync
func nmdb_del_sync(db *C.nmdb_t, key *C.uchar, ksize C.size_t) C.int {
	return del(db, key, ksize, (*libnmdb.Client).DelSync)
}

//export nmdb_cache_del
func nmdb_cache_del(db *C.nmdb_t, key *C.uchar, ksize C.size_t) C.int {
	return del(db, key, ksize, (*libnmdb.Client).CacheDel)
}

// casFunc is the signature shared by CAS and CacheCAS.
type casFunc func(*libnmdb.Client, context.Context, []byte, []byte, []byte) error

// cas is the body of nmdb_cas and nmdb_cache_cas.
func cas(db *C.nmdb_t, key *C.uchar, ksize C.size_t, oldval *C.uchar, ovsize C.size_t,
	newval *C.uchar, nvsize C.size_t, f casFunc) C.int {
	c := client(db)
	k, okk := goBytes(key, ksize)
	o, oko := goBytes(oldval, ovsize)
	n, okn := goBytes(newval, nvsize)
	if c == nil || !okk || !oko || !okn {
		return retNetErr
	}
	err := f(c, context.Background(), k, o, n)
	switch {
	case err == nil:
		return 2
	case errors.Is(err, libnmdb.ErrNoMatch):
		return 1
	case errors.Is(err, libnmdb.ErrNotFound):
		return 0
	}
	return errRet(err)
}

//export nmdb_cas
func nmdb_cas(db *C.nmdb_t, key *C.uchar, ksize C.size_t, oldval *C.uchar, ovsize C.size_t,
	newval *C.uchar, nvsize C.size_t) C.int {
	return cas(db, key, ksize, oldval, ovsize, newval, nvsize, (*libnmdb.Client).CAS)
}

//export nmdb_cache_cas
func nmdb_cache_cas(db *C.nmdb_t, key *C.uchar, ksize C.size_t, oldval *C.uchar, ovsize C.size_t,
	newval *C.uchar, nvsize C.size_t) C.int {
	return cas(db, key, ksize, oldval, ovsize, newval, nvsize, (*libnmdb.Client).CacheCAS)
}

// incrFunc is the signature shared by Incr and CacheIncr.
type incrFunc func(*libnmdb.Client, context.Context, []byte, int64) (int64, error)

// incr is the body of nmdb_incr and nmdb_cache_incr.
func incr(db *C.nmdb_t, key *C.uchar, ksize C.size_t, delta C.int64_t, newval *C.int64_t, f incrFunc) C.int {
	c := client(db)
	k, ok := goBytes(key, ksize)
	if c == nil || !ok {
		return retNetErr
	}
	n, err := f(c, context.Background(), k, int64(delta))
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
	return errRet(err)
}

//export nmdb_incr
func nmdb_incr(db *C.nmdb_t, key *C.uchar, ksize C.size_t, increment C.int64_t, newval *C.int64_t) C.int {
	return incr(db, key, ksize, increment, newval, (*libnmdb.Client).Incr)
}

//export nmdb_cache_incr
func nmdb_cache_incr(db *C.nmdb_t, key *C.uchar, ksize C.size_t, increment C.int64_t, newval *C.int64_t) C.int {
	return incr(db, key, ksize, increment, newval, (*libnmdb.Client).CacheIncr)
}

// walkResult maps the outcome of FirstKey or NextKey to a return value,
// copying the key out on success.
func walkResult(k []byte, err error, dst *C.uchar, n C.size_t) C.ssize_t {
	switch {
	case errors.Is(err, libnmdb.ErrNotFound):
		return -1
	case err != nil:
		return -2
	case !copyOut(dst, n, k):
		return -2
	}
	return C.ssize_t(len(k))
}

//export nmdb_firstkey
func nmdb_firstkey(db *C.nmdb_t, key *C.uchar, ksize C.size_t) C.ssize_t {
	c := client(db)
	if c == nil || c.NumServers() != 1 {
		return -2
	}
	k, err := c.FirstKey(context.Background())
	return walkResult(k, err, key, ksize)
}

//export nmdb_nextkey
func nmdb_nextkey(db *C.nmdb_t, key *C.uchar, ksize C.size_t, newkey *C.uchar, nksize C.size_t) C.ssize_t {
	c := client(db)
	k, ok := goBytes(key, ksize)
	if c == nil || !ok || c.NumServers() != 1 {
		return -2
	}
	nk, err := c.NextKey(context.Background(), k)
	return walkResult(nk, err, newkey, nksize)
}

//export nmdb_stats
func nmdb_stats(db *C.nmdb_t, buf *C.uchar, bsize C.size_t, nservers *C.uint, nstats *C.uint) C.int {
	c := client(db)
	if c == nil {
		return -2
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
