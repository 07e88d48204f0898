package sockfd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

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
