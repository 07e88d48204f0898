package sockfd

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ThreadWait waits for a socket to have something to read in poll(2) on
// the calling thread, rather than by parking the goroutine in Go's poller.
// It is for callers bound to their thread anyway, such as a C thread that
// called into Go: parked, such a goroutine's thread sleeps until another
// thread has found the socket ready in the poller and handed the goroutine
// back, two thread switches more than a C client's blocking read costs. The
// thread stays in the system call while it waits, as a C client's would.
//
// A ThreadWait is used by one goroutine at a time; the function handed to
// the RawConn is made once, so that waiting allocates nothing.
type ThreadWait struct {
	fds   [1]unix.PollFd
	ms    int
	ready bool
	err   error
	fn    func(fd uintptr)
}

// Readable waits at most d (rounded up to a millisecond) for the socket of
// rc to have something to read, an error or a hang-up, and reports whether
// it came. The error is that of poll(2) as a bare syscall.Errno, or the
// RawConn's (a closed socket).
func (w *ThreadWait) Readable(rc syscall.RawConn, d time.Duration) (bool, error) {
	if w.fn == nil {
		w.fn = w.poll
	}
	w.ms = max(int((d+time.Millisecond-1)/time.Millisecond), 0)
	w.ready, w.err = false, nil
	if err := rc.Control(w.fn); err != nil {
		return false, err
	}
	return w.ready, w.err
}

// poll is the function handed to the RawConn. An interrupted poll(2) is
// repeated with the whole timeout: a signal is rare, and the caller bounds
// its wait by its own clock.
func (w *ThreadWait) poll(fd uintptr) {
	w.fds[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	for {
		n, err := unix.Poll(w.fds[:], w.ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			w.err = err
			return
		}
		w.ready = n > 0
		return
	}
}
