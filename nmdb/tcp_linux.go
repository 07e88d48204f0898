package nmdb

import (
	"syscall"

	"github.com/nmdb-go/nmdb/internal/sockfd"
)

// errWouldBlock is sysRead's error when the socket has nothing to read.
const errWouldBlock = syscall.EAGAIN

// sysRead reads from the non-blocking socket fd into b and returns the
// bytes read and the bare errno (nil on success); sysWrite writes b to it
// and returns 0 bytes on any error.
//
// Both are raw system calls (sockfd.Recv and sockfd.Sendto), made without
// telling the Go scheduler: on a non-blocking socket they never wait.
// Telling it (syscall.Read and Write do) wakes the runtime's monitor thread
// whenever the whole process was idle, which with one request in flight is
// every request: measured, that is an extra futex and nanosleep call and
// an extra thread switch per request, on the other core, where the client
// runs.
func sysRead(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, done, err := sockfd.Recv(fd, b)
	if !done {
		return 0, errWouldBlock
	}
	return n, err
}

func sysWrite(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, done, err := sockfd.Sendto(fd, b, nil, 0)
	if !done || err != nil {
		return 0, err
	}
	return n, nil
}
