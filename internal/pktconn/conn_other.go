//go:build !linux

package pktconn

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"time"
)

// Conn is the protocol-independent part of a packet socket. Packet
// sockets exist only on Linux: on this system none can be opened, and
// every method fails.
type Conn struct{}

func unsupported(op string) error {
	return fmt.Errorf("%s: %w (not on %s)", op, errors.ErrUnsupported, runtime.GOOS)
}

// Close fails: packet sockets exist only on Linux.
func (c *Conn) Close() error { return unsupported("close") }

// LocalAddr returns nil: packet sockets exist only on Linux.
func (c *Conn) LocalAddr() net.Addr { return nil }

// SetDeadline fails: packet sockets exist only on Linux.
func (c *Conn) SetDeadline(t time.Time) error { return unsupported("set deadline") }

// SetReadDeadline fails: packet sockets exist only on Linux.
func (c *Conn) SetReadDeadline(t time.Time) error { return unsupported("set read deadline") }

// SetWriteDeadline fails: packet sockets exist only on Linux.
func (c *Conn) SetWriteDeadline(t time.Time) error { return unsupported("set write deadline") }

// SetReadBuffer fails: packet sockets exist only on Linux.
func (c *Conn) SetReadBuffer(bytes int) error { return unsupported("setsockopt") }

// SetWriteBuffer fails: packet sockets exist only on Linux.
func (c *Conn) SetWriteBuffer(bytes int) error { return unsupported("setsockopt") }

// SyscallConn fails: packet sockets exist only on Linux.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return nil, unsupported("syscall conn") }

// Dropped returns 0.
func (c *Conn) Dropped() uint64 { return 0 }
