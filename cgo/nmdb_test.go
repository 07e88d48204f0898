package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/nmdb-go/nmdb/internal/sctp"
	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
	"github.com/nmdb-go/nmdb/tipc"
)

// The C tests (tests/run.sh) reach every outcome a healthy cluster can
// produce; these cover the mapping of the others.

func TestStatsResult(t *testing.T) {
	a := []uint64{1, 2, 0x0102030405060708}
	b := []uint64{4, 5, 6}
	out := make([]byte, 48)
	ret, ns, nst := statsResult([][]uint64{a, b}, nil, out)
	if ret != 1 || ns != 2 || nst != 3 {
		t.Fatalf("got %d, %d, %d", ret, ns, nst)
	}
	want := binary.BigEndian.AppendUint64(nil, 1)
	want = binary.BigEndian.AppendUint64(want, 2)
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8)
	for _, v := range b {
		want = binary.BigEndian.AppendUint64(want, v)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("buffer %x, want %x", out, want)
	}

	for _, tc := range []struct {
		name        string
		all         [][]uint64
		err         error
		size        int
		ret, ns, st int
	}{
		{"too small", [][]uint64{a, b}, nil, 47, -3, 2, 3},
		{"no buffer", [][]uint64{a}, nil, 0, -3, 1, 3},
		{"disagree", [][]uint64{a, b[:2]}, nil, 100, -4, 0, 0},
		{"server error", nil, fmt.Errorf("stats: %w", &libnmdb.ServerError{Code: wire.ErrCodeDB}), 100, -1, 0, 0},
		{"network error", nil, fmt.Errorf("stats: %w", libnmdb.ErrConnLost), 100, -2, 0, 0},
		{"no servers", nil, libnmdb.ErrNoServers, 100, -2, 0, 0},
	} {
		ret, ns, st := statsResult(tc.all, tc.err, make([]byte, tc.size))
		if ret != tc.ret || ns != tc.ns || st != tc.st {
			t.Errorf("%s: got %d, %d, %d; want %d, %d, %d", tc.name, ret, ns, st, tc.ret, tc.ns, tc.st)
		}
	}
}

func TestErrRet(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("set: %w", &libnmdb.ServerError{Code: wire.ErrCodeReadOnly}), retServerErr},
		{libnmdb.ErrTooBig, retNetErr},
		{libnmdb.ErrConnLost, retNetErr},
		{errors.New("timeout"), retNetErr},
	} {
		if got := int(errRet(tc.err)); got != tc.want {
			t.Errorf("errRet(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestErrnoOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{fmt.Errorf("set: %w", &libnmdb.ServerError{Code: wire.ErrCodeReadOnly}), syscall.EROFS},
		{fmt.Errorf("set: %w", &libnmdb.ServerError{Code: wire.ErrCodeDB}), syscall.EIO},
		{fmt.Errorf("add: %w", tipc.ErrUnsupported), syscall.EAFNOSUPPORT},
		{fmt.Errorf("add: %w", sctp.ErrUnsupported), syscall.EAFNOSUPPORT},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), syscall.ETIMEDOUT},
		{fmt.Errorf("get: %w", os.ErrDeadlineExceeded), syscall.ETIMEDOUT},
		{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, syscall.ENXIO},
		{&net.DNSError{Err: "timeout", Name: "x", IsTimeout: true}, syscall.ETIMEDOUT},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, syscall.ECONNREFUSED},
		{fmt.Errorf("set: %w", libnmdb.ErrTooBig), syscall.EMSGSIZE},
		{libnmdb.ErrNoServers, syscall.ENOTCONN},
		{libnmdb.ErrOneServer, syscall.EINVAL},
		{libnmdb.ErrClosed, syscall.EBADF},
		{libnmdb.ErrConnLost, syscall.ECONNRESET},
		{libnmdb.ErrUnexpectedReply, syscall.EPROTO},
		{errors.New("something else"), syscall.EIO},
	} {
		if got := errnoOf(tc.err); got != tc.want {
			t.Errorf("errnoOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
