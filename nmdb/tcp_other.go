//go:build !linux

package nmdb

import (
	"errors"
	"syscall"
	"time"
)

// rawOp reads and writes a connection's descriptor with the platform's
// system calls: the part of sockfd.Op (Linux only) that TCP uses.
type rawOp struct {
	Buf    []byte
	NoWait bool
	Spin   interface {
		Again(time.Time) bool
		Got(time.Time)
	}

	n    int
	err  error
	read bool
	fn   func(fd uintptr) bool
}

// Recvfrom reads into Buf; n is 0 at the end of the stream.
func (op *rawOp) Recvfrom(rc syscall.RawConn) (int, error) {
	op.read = true
	return op.run(rc.Read)
}

// Sendto writes as much of Buf as the socket takes.
func (op *rawOp) Sendto(rc syscall.RawConn) (int, error) {
	op.read = false
	return op.run(rc.Write)
}

func (op *rawOp) run(do func(func(uintptr) bool) error) (int, error) {
	if op.fn == nil {
		op.fn = op.call
	}
	op.n, op.err = 0, nil
	if err := do(op.fn); err != nil {
		return 0, err
	}
	return op.n, op.err
}

func (op *rawOp) call(fd uintptr) bool {
	for {
		var n int
		var err error
		if op.read {
			n, err = sysIO(syscall.Read, fd, op.Buf)
		} else {
			n, err = sysIO(syscall.Write, fd, op.Buf)
		}
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			if op.read && op.Spin != nil && op.Spin.Again(time.Now()) {
				continue
			}
			return op.NoWait
		}
		if op.read && op.Spin != nil {
			op.Spin.Got(time.Now())
		}
		if err != nil || n < 0 {
			op.err = err
			return true
		}
		op.n = n
		return true
	}
}

// sysIO calls read or write with fd converted to the platform's
// descriptor type.
func sysIO[FD ~int | ~uintptr](io func(FD, []byte) (int, error), fd uintptr, b []byte) (int, error) {
	return io(FD(fd), b)
}
