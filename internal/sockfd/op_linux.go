package sockfd

import (
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Spinner decides, for an Op's reads, whether a read that found the socket
// empty tries again at once rather than waiting in the poller.
type Spinner interface {
	// Again reports whether to read again at once; now is the time.
	Again(now time.Time) bool
	// Got is called when a read returned data or an error.
	Got(now time.Time)
}

// Op is one raw system call on a non-blocking socket, made through a
// syscall.RawConn: the buffer, the peer address and the results are its
// fields, and the function handed to the RawConn is made once, on the
// first call, so that later calls allocate nothing. An Op is used by one
// goroutine at a time and must not be copied after its first call.
//
// The calls never wait in the kernel (MSG_DONTWAIT) and are raw system
// calls, made without telling the Go scheduler: telling it wakes the
// runtime's monitor thread whenever the process was idle, which with one
// request in flight is on every request. When the socket is not ready the
// goroutine waits in Go's poller, unless NoWait is set. An interrupted
// call is repeated.
//
// The methods return the poller's error (a deadline, a closed socket) as
// it is, and the system call's as a bare syscall.Errno; SyscallError
// names it.
type Op struct {
	// Buf is the data to send, or the room to receive into.
	Buf []byte
	// Name is the peer's raw socket address for Sendto (nil on a
	// connected socket), or the room for the sender's for Recvfrom (nil
	// when not wanted); NameLen is its size in bytes.
	Name    unsafe.Pointer
	NameLen uint32
	// Msg is Recvmsg's header. Its Namelen and Controllen are given back
	// to every attempt, so a retry sees the room the caller set.
	Msg *unix.Msghdr
	// NoWait makes a call on a socket that is not ready return at once,
	// with nothing done, rather than wait in the poller: a read then
	// fails with syscall.EAGAIN.
	NoWait bool
	// All makes Sendto send all of Buf on a stream socket, in as many
	// calls as the socket takes; Buf is moved past what was sent.
	All bool
	// Spin, when set, is asked whether a read that found the socket
	// empty tries again at once.
	Spin Spinner

	kind    int
	n       int
	err     error
	fromLen uint32
	room    unix.Msghdr // Msg's lengths as the caller set them
	fn      func(fd uintptr) bool
}

// The calls an Op makes.
const (
	opRecvfrom = iota
	opRecvmsg
	opSendto
)

// Recvfrom reads into Buf with recvfrom(2), with the sender's address in
// Name when Name is set (FromLen is its length). n is 0 at the end of a
// stream. Buf must not be empty.
func (op *Op) Recvfrom(rc syscall.RawConn) (int, error) {
	op.kind = opRecvfrom
	return op.run(rc.Read)
}

// Recvmsg reads one message with recvmsg(2) and the header in Msg; Msg's
// Flags and lengths hold what the kernel returned.
func (op *Op) Recvmsg(rc syscall.RawConn) (int, error) {
	op.kind = opRecvmsg
	op.room.Namelen, op.room.Controllen = op.Msg.Namelen, op.Msg.Controllen
	return op.run(rc.Read)
}

// Sendto sends Buf with sendto(2) to Name (nil on a connected socket,
// where a stream socket takes as much of Buf as it has room for, or all
// of it with All). A peer gone raises no SIGPIPE (MSG_NOSIGNAL): the error
// says so. With NoWait, n is what the socket took at once, maybe 0.
func (op *Op) Sendto(rc syscall.RawConn) (int, error) {
	op.kind = opSendto
	return op.run(rc.Write)
}

// FromLen is the length of the sender's address the last Recvfrom stored
// in Name.
func (op *Op) FromLen() uint32 { return op.fromLen }

// run makes the call through the RawConn method do.
func (op *Op) run(do func(func(fd uintptr) bool) error) (int, error) {
	if op.fn == nil {
		op.fn = op.call
	}
	op.n, op.err = 0, nil
	if err := do(op.fn); err != nil {
		return op.n, err
	}
	return op.n, op.err
}

// call is the function handed to the RawConn: it reports false when the
// socket is not ready and the poller is to wait and call it again.
func (op *Op) call(fd uintptr) bool {
	for {
		r, e := op.syscall(fd)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if op.kind != opSendto && op.Spin != nil && op.Spin.Again(time.Now()) {
				continue
			}
			if op.NoWait && op.kind != opSendto {
				op.err = e
			}
			return op.NoWait
		}
		if op.kind != opSendto && op.Spin != nil {
			op.Spin.Got(time.Now())
		}
		if e != 0 {
			op.err = e
			return true
		}
		if op.kind != opSendto {
			op.n = int(r)
			return true
		}
		op.n += int(r)
		if !op.All || int(r) == len(op.Buf) {
			if op.All {
				op.Buf = op.Buf[len(op.Buf):]
			}
			return true
		}
		op.Buf = op.Buf[r:]
	}
}

// syscall makes one system call. (The calls are written out here so that
// the pointers they pass are converted in the call itself.)
func (op *Op) syscall(fd uintptr) (uintptr, unix.Errno) {
	var b unsafe.Pointer
	if len(op.Buf) > 0 {
		b = unsafe.Pointer(&op.Buf[0])
	}
	switch op.kind {
	case opRecvfrom:
		if op.Name == nil {
			r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(b), uintptr(len(op.Buf)), unix.MSG_DONTWAIT, 0, 0)
			return r, e
		}
		op.fromLen = op.NameLen
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(b), uintptr(len(op.Buf)), unix.MSG_DONTWAIT,
			uintptr(op.Name), uintptr(unsafe.Pointer(&op.fromLen)))
		return r, e
	case opRecvmsg:
		op.Msg.Namelen, op.Msg.Controllen, op.Msg.Flags = op.room.Namelen, op.room.Controllen, 0
		r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(op.Msg)), unix.MSG_DONTWAIT)
		return r, e
	}
	r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(b), uintptr(len(op.Buf)),
		unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, uintptr(op.Name), uintptr(op.NameLen))
	return r, e
}

// SyscallError names the system call call in err when err is one an Op
// returned from it (a bare errno), and returns any other error as it is.
func SyscallError(call string, err error) error {
	if e, ok := err.(syscall.Errno); ok {
		return os.NewSyscallError(call, e)
	}
	return err
}
