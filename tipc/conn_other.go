//go:build !linux

package tipc

import (
	"fmt"
	"net"
	"runtime"

	"github.com/nmdb-go/nmdb/internal/pktconn"
)

// Conn is an AF_TIPC SOCK_RDM socket. TIPC exists only on Linux; on this
// system no Conn can be opened.
type Conn struct{ base }

// base is the part of Conn that does not depend on TIPC.
type base = pktconn.Conn

func unsupported(op string) error {
	return fmt.Errorf("tipc: %s: %w (%s has no TIPC)", op, ErrUnsupported, runtime.GOOS)
}

// Listen fails with an error matching ErrUnsupported: TIPC exists only on
// Linux.
func Listen(typ, lower, upper uint32) (*Conn, error) { return nil, unsupported("listen") }

// Dial fails with an error matching ErrUnsupported: TIPC exists only on
// Linux.
func Dial() (*Conn, error) { return nil, unsupported("dial") }

// ReadFromTIPC fails: TIPC exists only on Linux.
func (c *Conn) ReadFromTIPC(p []byte, from *Addr) (int, error) { return 0, unsupported("read") }

// ReadFrom fails: TIPC exists only on Linux.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) { return 0, nil, unsupported("read") }

// Read fails: TIPC exists only on Linux.
func (c *Conn) Read(p []byte) (int, error) { return 0, unsupported("read") }

// WriteToTIPC fails: TIPC exists only on Linux.
func (c *Conn) WriteToTIPC(p []byte, to *Addr) (int, error) { return 0, unsupported("write") }

// WriteTo fails: TIPC exists only on Linux.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) { return 0, unsupported("write") }

// SocketAddr fails: TIPC exists only on Linux.
func (c *Conn) SocketAddr() (*Addr, error) { return nil, unsupported("getsockname") }

// SetReturnUndeliverable fails: TIPC exists only on Linux.
func (c *Conn) SetReturnUndeliverable(on bool) error { return unsupported("setsockopt") }

// Drops returns zero counts.
func (c *Conn) Drops() Drops { return Drops{} }

// Bind fails: TIPC exists only on Linux.
func (c *Conn) Bind(typ, lower, upper uint32) error { return unsupported("bind") }

// Unbind fails: TIPC exists only on Linux.
func (c *Conn) Unbind(typ, lower, upper uint32) error { return unsupported("unbind") }
