package sockfd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FD is a socket descriptor held by the poller. Its methods return the
// errors of the poller and the system calls unwrapped: the socket's package
// wraps them in its own *net.OpError.
type FD struct {
	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool
}

// New hands the non-blocking descriptor fd to the poller under name. On
// error fd is closed.
func New(fd int, name string) (*FD, error) {
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		unix.Close(fd)
		return nil, fmt.Errorf("invalid descriptor %d", fd)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &FD{f: f, rc: rc}, nil
}

// RawConn returns the raw connection: its Read and Write run a system call
// each time the poller finds the socket ready.
func (s *FD) RawConn() syscall.RawConn { return s.rc }

// Close closes the socket. Closing it again fails with net.ErrClosed.
func (s *FD) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	return s.f.Close()
}

// ClosedErr returns err, or net.ErrClosed in its place once Close has been
// called (the poller reports a closed file in its own words), except for
// deadline errors.
func (s *FD) ClosedErr(err error) error {
	if s.closed.Load() && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
		return net.ErrClosed
	}
	return err
}

// SetDeadline sets the read and write deadlines.
func (s *FD) SetDeadline(t time.Time) error { return s.f.SetDeadline(t) }

// SetReadDeadline sets the deadline for future and pending reads.
func (s *FD) SetReadDeadline(t time.Time) error { return s.f.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for future and pending writes.
func (s *FD) SetWriteDeadline(t time.Time) error { return s.f.SetWriteDeadline(t) }

// SetsockoptInt sets an integer socket option; name names it in the error.
func (s *FD) SetsockoptInt(level, opt, v int, name string) error {
	var err error
	if cerr := s.rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), level, opt, v) }); cerr != nil {
		return cerr
	}
	if err != nil {
		return os.NewSyscallError("setsockopt "+name, err)
	}
	return nil
}

// Recvmsg runs recvmsg(2) on fd with hdr, for a function given to
// RawConn().Read: done is false when no message is waiting (the poller
// then waits and calls again). An interrupted call is repeated. The error
// is the bare errno.
//
// Recvmsg and Sendto never wait (MSG_DONTWAIT), so they are raw system
// calls, made without telling the Go scheduler: telling it wakes the
// runtime's monitor thread whenever the process was idle, which with one
// request in flight is on every request.
func Recvmsg(fd uintptr, hdr *unix.Msghdr) (n int, done bool, err error) {
	for {
		r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(hdr)), unix.MSG_DONTWAIT)
		if e != unix.EINTR {
			return result(r, e)
		}
	}
}

// Recv runs recvfrom(2) on the connected socket fd into p, which must
// not be empty, for a function given to RawConn().Read: done is false when
// nothing is waiting (the poller then waits and calls again), and n is 0
// at the end of a stream. An interrupted call is repeated. The error is the
// bare errno. Like Recvmsg it never waits and is a raw system call.
func Recv(fd uintptr, p []byte) (n int, done bool, err error) {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
			unix.MSG_DONTWAIT, 0, 0)
		if e != unix.EINTR {
			return result(r, e)
		}
	}
}

// Sendto runs sendto(2) on fd, sending p to the raw socket address of
// namelen bytes at name (nil and 0 on a connected socket, where a stream
// socket takes as much of p as it has room for), for a function given to
// RawConn().Write: done is false when the socket cannot take anything yet.
// An interrupted call is repeated. The error is the bare errno. A peer
// gone raises no SIGPIPE (MSG_NOSIGNAL): the error says so.
func Sendto(fd uintptr, p []byte, name unsafe.Pointer, namelen uint32) (n int, done bool, err error) {
	var b unsafe.Pointer
	if len(p) > 0 {
		b = unsafe.Pointer(&p[0])
	}
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(b), uintptr(len(p)),
			unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, uintptr(name), uintptr(namelen))
		if e != unix.EINTR {
			return result(r, e)
		}
	}
}

// result turns what a raw system call returned into what Recvmsg, Recv
// and Sendto return: done is false on EAGAIN. (The calls stay in each of
// them so that the pointers they pass are converted in the call itself.)
func result(r uintptr, e unix.Errno) (n int, done bool, err error) {
	switch e {
	case 0:
		return int(r), true, nil
	case unix.EAGAIN:
		return 0, false, nil
	}
	return 0, true, e
}
