//go:build !linux

package nmdb

import (
	"errors"
	"syscall"
)

// errWouldBlock is sysRead's error when the socket has nothing to read.
var errWouldBlock = syscall.EAGAIN

// sysRead and sysWrite read and write the descriptor fd with the
// platform's system calls (see tcp_linux.go for Linux).
func sysRead(fd uintptr, b []byte) (int, error) {
	return sysIO(syscall.Read, fd, b)
}

func sysWrite(fd uintptr, b []byte) (int, error) {
	return sysIO(syscall.Write, fd, b)
}

// sysIO calls read or write with fd converted to the platform's
// descriptor type, repeating it if interrupted.
func sysIO[FD ~int | ~uintptr](io func(FD, []byte) (int, error), fd uintptr, b []byte) (int, error) {
	for {
		n, err := io(FD(fd), b)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || n < 0 {
			return 0, err
		}
		return n, nil
	}
}
