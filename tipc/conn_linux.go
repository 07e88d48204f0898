package tipc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nmdb-go/nmdb/internal/pktconn"
	"github.com/nmdb-go/nmdb/internal/sockfd"
)

// oobSize is the control buffer size for recvmsg. It holds a TIPC_DESTNAME
// (on every named or multicast message) or a TIPC_ERRINFO (on returned
// messages), which is all we look at; the returned data itself is
// truncated away.
const oobSize = 64

// Conn is an AF_TIPC SOCK_RDM socket. It implements net.PacketConn and is
// safe for concurrent use by multiple goroutines. Its LocalAddr is the
// bound service range for a Conn from Listen, and the socket address for
// one from Dial.
type Conn struct {
	base
	local Addr // the bound service range, or the socket address if unbound

	reads  sync.Pool // *readOp
	writes sync.Pool // *writeOp
}

// base is the part of Conn that does not depend on TIPC: Close, LocalAddr,
// deadlines, buffers, SyscallConn, Dropped.
type base = pktconn.Conn

// Reasons for a dropped datagram, counted in pktconn.Drop.
const (
	dropReturned = iota
	dropTruncated
	dropInvalid
)

// Listen opens a SOCK_RDM socket bound to the service range
// {typ, lower, upper} in cluster scope.
func Listen(typ, lower, upper uint32) (*Conn, error) {
	if upper < lower {
		return nil, fmt.Errorf("tipc: listen {%d,%d,%d}: upper instance below lower", typ, lower, upper)
	}
	fd, err := socket()
	if err != nil {
		return nil, err
	}
	sa := &unix.SockaddrTIPC{
		Scope: unix.TIPC_CLUSTER_SCOPE,
		Addr:  &unix.TIPCServiceRange{Type: typ, Lower: lower, Upper: upper},
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tipc: bind {%d,%d,%d}: %w", typ, lower, upper, os.NewSyscallError("bind", err))
	}
	return newConn(fd, Addr{Kind: KindService, Type: typ, Lower: lower, Upper: upper})
}

// Dial opens an unbound SOCK_RDM socket for a client. It sends requests
// with WriteTo(p, ServiceAddr(port)) and reads the replies with ReadFrom.
func Dial() (*Conn, error) {
	fd, err := socket()
	if err != nil {
		return nil, err
	}
	var local Addr
	if err := getsockname(fd, &local); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return newConn(fd, local)
}

func socket() (int, error) {
	fd, err := unix.Socket(unix.AF_TIPC, unix.SOCK_RDM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ESOCKTNOSUPPORT) {
			return -1, fmt.Errorf("tipc: socket: %w: %w", ErrUnsupported, err)
		}
		return -1, fmt.Errorf("tipc: socket: %w", os.NewSyscallError("socket", err))
	}
	return fd, nil
}

func getsockname(fd int, a *Addr) error {
	var raw unix.RawSockaddrTIPC
	l := sizeofRaw
	_, _, e := unix.Syscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&raw)), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return fmt.Errorf("tipc: getsockname: %w", os.NewSyscallError("getsockname", e))
	}
	if err := a.fromRaw(&raw); err != nil {
		return fmt.Errorf("tipc: getsockname: %w", err)
	}
	return nil
}

func newConn(fd int, local Addr) (*Conn, error) {
	c := &Conn{local: local}
	if err := pktconn.Init(&c.base, fd, "tipc", func() net.Addr { a := c.local; return &a }); err != nil {
		return nil, err
	}
	c.reads.New = func() any { return newReadOp() }
	c.writes.New = func() any { return newWriteOp() }
	return c, nil
}

// readOp is the per-call state of one recvmsg. Ops are pooled per Conn so
// that concurrent readers each have their own and a read allocates nothing.
type readOp struct {
	sockfd.Op
	hdr  unix.Msghdr
	iov  unix.Iovec
	name unix.RawSockaddrTIPC
	oob  [oobSize / 8]uint64 // uint64 for cmsghdr alignment
}

func newReadOp() *readOp {
	op := new(readOp)
	op.hdr.Name = (*byte)(unsafe.Pointer(&op.name))
	op.hdr.Iov = &op.iov
	op.hdr.SetIovlen(1)
	op.hdr.Control = (*byte)(unsafe.Pointer(&op.oob[0]))
	op.Msg = &op.hdr
	return op
}

// returned reports whether the control data holds a TIPC_ERRINFO, which
// the kernel attaches to a message returned as undeliverable.
func (op *readOp) returned() bool {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&op.oob[0])), oobSize)
	return hasCmsg(b[:min(int(op.hdr.Controllen), oobSize)], unix.SOL_TIPC, unix.TIPC_ERRINFO)
}

// hasCmsg walks the control messages in b looking for level/typ.
func hasCmsg(b []byte, level, typ int32) bool {
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr {
			return false
		}
		if h.Level == level && h.Type == typ {
			return true
		}
		step := unix.CmsgSpace(l - unix.SizeofCmsghdr)
		if step > len(b) {
			return false
		}
		b = b[step:]
	}
	return false
}

// writeOp is the per-call state of one sendto.
type writeOp struct {
	sockfd.Op
	name unix.RawSockaddrTIPC
}

func newWriteOp() *writeOp {
	op := new(writeOp)
	op.Name, op.NameLen = unsafe.Pointer(&op.name), sizeofRaw
	return op
}

// ReadFromTIPC reads one datagram into p and stores the sender's socket
// address in *from (if from is not nil). It allocates nothing. Returned
// (undeliverable) messages and datagrams longer than p are dropped,
// counted in Drops, and the read continues with the next datagram.
func (c *Conn) ReadFromTIPC(p []byte, from *Addr) (int, error) {
	if len(p) == 0 {
		return 0, pktconn.OpError(&c.base, "read", nil, io.ErrShortBuffer)
	}
	op := c.reads.Get().(*readOp)
	defer c.reads.Put(op)
	defer func() { op.iov.Base = nil }()
	op.iov.Base = &p[0]
	op.iov.SetLen(len(p))
	for {
		op.hdr.Namelen = sizeofRaw
		op.hdr.SetControllen(oobSize)
		n, err := op.Recvmsg(pktconn.RawConn(&c.base))
		if err != nil {
			return 0, pktconn.OpError(&c.base, "read", nil, sockfd.SyscallError("recvmsg", err))
		}
		if op.returned() {
			pktconn.Drop(&c.base, dropReturned)
			continue
		}
		if op.hdr.Flags&unix.MSG_TRUNC != 0 {
			pktconn.Drop(&c.base, dropTruncated)
			continue
		}
		if from != nil {
			if op.hdr.Namelen < sizeofRaw || from.fromRaw(&op.name) != nil {
				pktconn.Drop(&c.base, dropInvalid)
				continue
			}
		}
		return n, nil
	}
}

// ReadFrom reads one datagram into p and returns its length and the
// sender's socket address (a *Addr). See ReadFromTIPC for what is dropped.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	from := new(Addr)
	n, err := c.ReadFromTIPC(p, from)
	if err != nil {
		return n, nil, err
	}
	return n, from, nil
}

// Read reads one datagram into p, discarding the sender's address.
func (c *Conn) Read(p []byte) (int, error) {
	return c.ReadFromTIPC(p, nil)
}

// WriteToTIPC sends p as one datagram to a socket address or, for a
// service range, to every socket bound to it in the cluster. It allocates
// nothing unless it fails. Sending to a range nobody is bound to fails with
// an error matching syscall.EHOSTUNREACH; p must hold 1 to MaxMessage bytes.
func (c *Conn) WriteToTIPC(p []byte, to *Addr) (int, error) {
	if err := to.valid(); err != nil {
		return 0, pktconn.OpError(&c.base, "write", to.clone(), err)
	}
	if len(p) == 0 {
		// The kernel accepts an empty message to a service range but
		// delivers nothing; refuse it rather than lose it silently.
		return 0, pktconn.OpError(&c.base, "write", to.clone(), errors.New("tipc: empty message"))
	}
	if len(p) > MaxMessage {
		return 0, pktconn.OpError(&c.base, "write", to.clone(), fmt.Errorf("message of %d bytes exceeds the TIPC limit of %d: %w", len(p), MaxMessage, syscall.EMSGSIZE))
	}
	op := c.writes.Get().(*writeOp)
	defer c.writes.Put(op)
	to.toRaw(&op.name)
	op.Buf = p
	n, err := op.Sendto(pktconn.RawConn(&c.base))
	op.Buf = nil
	if err != nil {
		return 0, pktconn.OpError(&c.base, "write", to.clone(), sockfd.SyscallError("sendto", err))
	}
	return n, nil
}

// WriteTo sends p to addr, which must be a *Addr. See
// WriteToTIPC.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if a, ok := addr.(*Addr); ok {
		return c.WriteToTIPC(p, a)
	}
	return 0, pktconn.OpError(&c.base, "write", addr, fmt.Errorf("tipc: cannot send to %T address", addr))
}

// SocketAddr returns the socket's own address {ref, node}: where its
// replies come from and where others' replies to it go.
func (c *Conn) SocketAddr() (*Addr, error) {
	a := new(Addr)
	var err error
	if cerr := pktconn.RawConn(&c.base).Control(func(fd uintptr) { err = getsockname(int(fd), a) }); cerr != nil {
		return nil, pktconn.OpError(&c.base, "getsockname", nil, cerr)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// SetReturnUndeliverable chooses what happens to messages this socket
// sends to a socket address that cannot take them (the socket is gone, or
// its queue is full). By default (off, as the kernel does for
// connectionless sockets) they are dropped silently. When on
// (TIPC_DEST_DROPPABLE cleared), they come back to this socket, where
// reads drop them and count them in Drops().Returned. Multicast messages
// to a service range are never returned.
func (c *Conn) SetReturnUndeliverable(on bool) error {
	droppable := 1
	if on {
		droppable = 0
	}
	return pktconn.SetsockoptInt(&c.base, unix.SOL_TIPC, unix.TIPC_DEST_DROPPABLE, droppable, "TIPC_DEST_DROPPABLE")
}

// Drops returns how many received datagrams were dropped, by reason.
func (c *Conn) Drops() Drops {
	d := pktconn.Drops(&c.base)
	return Drops{Returned: d[dropReturned], Truncated: d[dropTruncated], Invalid: d[dropInvalid]}
}

// Bind adds the service range {typ, lower, upper} (cluster scope) to the
// names this socket is bound to: messages sent to it reach the socket too,
// and the topology service reports the socket as its publisher.
func (c *Conn) Bind(typ, lower, upper uint32) error {
	return c.bind(typ, lower, upper, unix.TIPC_CLUSTER_SCOPE, "bind")
}

// Unbind withdraws the service range {typ, lower, upper} that Bind added.
func (c *Conn) Unbind(typ, lower, upper uint32) error {
	// A negative scope asks the kernel to withdraw the name.
	return c.bind(typ, lower, upper, -unix.TIPC_CLUSTER_SCOPE, "unbind")
}

func (c *Conn) bind(typ, lower, upper uint32, scope int, op string) error {
	if upper < lower {
		return fmt.Errorf("tipc: %s {%d,%d,%d}: upper instance below lower", op, typ, lower, upper)
	}
	sa := &unix.SockaddrTIPC{Scope: scope, Addr: &unix.TIPCServiceRange{Type: typ, Lower: lower, Upper: upper}}
	var err error
	if cerr := pktconn.RawConn(&c.base).Control(func(fd uintptr) { err = unix.Bind(int(fd), sa) }); cerr != nil {
		return pktconn.OpError(&c.base, op, nil, cerr)
	}
	if err != nil {
		return pktconn.OpError(&c.base, op, ServiceRange(typ, lower, upper), os.NewSyscallError("bind", err))
	}
	return nil
}
