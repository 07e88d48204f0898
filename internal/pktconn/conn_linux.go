package pktconn

import (
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nmdb-go/nmdb/internal/sockfd"
)

// NumDrops is the number of reasons for a dropped message a Conn counts.
const NumDrops = 3

// Conn is the protocol-independent part of a packet socket. Its methods
// are those of the socket's public surface; the protocol's code reaches
// the rest through this package's functions, so that embedding a Conn
// adds nothing else to a public type.
type Conn struct {
	fd    *sockfd.FD
	netw  string
	local func() net.Addr // a fresh copy of the local address
	drops [NumDrops]atomic.Uint64
}

// Init hands the non-blocking descriptor fd of a network socket (named so
// in errors) to the poller; local returns a fresh copy of the socket's
// local address each time. On error fd is closed.
func Init(c *Conn, fd int, network string, local func() net.Addr) error {
	sfd, err := sockfd.New(fd, network+":"+local().String())
	if err != nil {
		return fmt.Errorf("%s: %w", network, err)
	}
	c.fd, c.netw, c.local = sfd, network, local
	return nil
}

// FD is c's descriptor in the poller.
func FD(c *Conn) *sockfd.FD { return c.fd }

// RawConn is c's raw connection, for sockfd.Op.
func RawConn(c *Conn) syscall.RawConn { return c.fd.RawConn() }

// Drop counts one message dropped for reason (0 to NumDrops-1).
func Drop(c *Conn, reason int) { c.drops[reason].Add(1) }

// Drops returns the counts of dropped messages by reason.
func Drops(c *Conn) [NumDrops]uint64 {
	var d [NumDrops]uint64
	for i := range d {
		d[i] = c.drops[i].Load()
	}
	return d
}

// OpError wraps err of op in a *net.OpError naming the network, the local
// address and addr (if not nil), turning the poller's "file closed" error
// into net.ErrClosed once Close has been called.
func OpError(c *Conn, op string, addr net.Addr, err error) error {
	oe := &net.OpError{Op: op, Net: c.netw, Source: c.local(), Err: c.fd.ClosedErr(err)}
	if addr != nil {
		oe.Addr = addr
	}
	return oe
}

// Wrap is OpError for an operation with no peer address, and nil for no
// error.
func Wrap(c *Conn, op string, err error) error {
	if err == nil {
		return nil
	}
	return OpError(c, op, nil, err)
}

// SetsockoptInt sets an integer socket option; name names it in the
// error.
func SetsockoptInt(c *Conn, level, opt, v int, name string) error {
	return Wrap(c, "setsockopt", c.fd.SetsockoptInt(level, opt, v, name))
}

// Close closes the socket. Blocked reads and writes return an error
// matching net.ErrClosed, and so does closing it again.
func (c *Conn) Close() error {
	return Wrap(c, "close", c.fd.Close())
}

// LocalAddr returns the socket's local address.
func (c *Conn) LocalAddr() net.Addr { return c.local() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	return Wrap(c, "set deadline", c.fd.SetDeadline(t))
}

// SetReadDeadline sets the deadline for future and pending reads.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return Wrap(c, "set read deadline", c.fd.SetReadDeadline(t))
}

// SetWriteDeadline sets the deadline for future and pending writes.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return Wrap(c, "set write deadline", c.fd.SetWriteDeadline(t))
}

// SetReadBuffer sets the socket's receive buffer size (SO_RCVBUF).
func (c *Conn) SetReadBuffer(bytes int) error {
	return SetsockoptInt(c, unix.SOL_SOCKET, unix.SO_RCVBUF, bytes, "SO_RCVBUF")
}

// SetWriteBuffer sets the socket's send buffer size (SO_SNDBUF).
func (c *Conn) SetWriteBuffer(bytes int) error {
	return SetsockoptInt(c, unix.SOL_SOCKET, unix.SO_SNDBUF, bytes, "SO_SNDBUF")
}

// SyscallConn returns the raw connection, for socket options the
// protocol's package does not cover.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	return c.fd.RawConn(), nil
}

// Dropped returns the total number of received messages that were
// dropped rather than returned by a read.
func (c *Conn) Dropped() uint64 {
	var n uint64
	for i := range c.drops {
		n += c.drops[i].Load()
	}
	return n
}
