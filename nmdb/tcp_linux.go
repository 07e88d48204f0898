package nmdb

import (
	"syscall"
	"unsafe"
)

// errWouldBlock is sysRead's error when the socket has nothing to read.
const errWouldBlock = syscall.EAGAIN

// sysRead runs read(2) on the non-blocking descriptor fd, repeating it if
// interrupted, and returns the bytes read and the bare errno (nil on
// success). sysWrite does the same with write(2); it returns 0 bytes on
// any error.
//
// Both are raw system calls, made without telling the Go scheduler: on a
// non-blocking socket they never wait. Telling it (syscall.Read and Write
// do) wakes the runtime's monitor thread whenever the whole process was
// idle, which with one request in flight is every request: measured, that
// is an extra futex and nanosleep call and an extra thread switch per
// request, on the other core, where the client runs.
func sysRead(fd uintptr, b []byte) (int, error) { return rawIO(syscall.SYS_READ, fd, b) }

func sysWrite(fd uintptr, b []byte) (int, error) { return rawIO(syscall.SYS_WRITE, fd, b) }

// rawIO runs the read or write system call trap on fd with b.
func rawIO(trap, fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch e {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, e
	}
}
