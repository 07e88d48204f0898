//go:build !linux

package sctp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"

	"github.com/nmdb-go/nmdb/internal/pktconn"
)

// Conn is an SCTP one-to-many socket. This package supports SCTP only on
// Linux; on this system no Conn can be opened.
type Conn struct{ base }

// base is the part of Conn that does not depend on SCTP.
type base = pktconn.Conn

func unsupported(op string) error {
	return fmt.Errorf("sctp: %s: %w (not implemented on %s)", op, ErrUnsupported, runtime.GOOS)
}

// Listen fails with an error matching ErrUnsupported: SCTP is supported
// only on Linux.
func Listen(host string, port int) (*Conn, error) { return nil, unsupported("listen") }

// ListenPacket fails with an error matching ErrUnsupported: SCTP is
// supported only on Linux.
func ListenPacket(network, address string) (*Conn, error) { return nil, unsupported("listen") }

// Dial fails with an error matching ErrUnsupported: SCTP is supported only
// on Linux.
func Dial(host string, port int) (*Conn, error) { return nil, unsupported("dial") }

// DialContext fails with an error matching ErrUnsupported: SCTP is
// supported only on Linux.
func DialContext(ctx context.Context, host string, port int) (*Conn, error) {
	return nil, unsupported("dial")
}

// ReadFromAddrPort fails: SCTP is supported only on Linux.
func (c *Conn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, unsupported("read")
}

// ReadFrom fails: SCTP is supported only on Linux.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) { return 0, nil, unsupported("read") }

// Read fails: SCTP is supported only on Linux.
func (c *Conn) Read(p []byte) (int, error) { return 0, unsupported("read") }

// WriteToAddrPort fails: SCTP is supported only on Linux.
func (c *Conn) WriteToAddrPort(p []byte, to netip.AddrPort) (int, error) {
	return 0, unsupported("write")
}

// WriteTo fails: SCTP is supported only on Linux.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) { return 0, unsupported("write") }

// Write fails: SCTP is supported only on Linux.
func (c *Conn) Write(p []byte) (int, error) { return 0, unsupported("write") }

// RemoteAddr returns nil: SCTP is supported only on Linux.
func (c *Conn) RemoteAddr() net.Addr { return nil }

// Drops returns zero counts.
func (c *Conn) Drops() Drops { return Drops{} }

// Supported fails with an error matching ErrUnsupported: SCTP is supported
// only on Linux.
func Supported(ipv6 bool) error { return unsupported("socket") }
