// Package sctp provides SCTP one-to-many (SOCK_SEQPACKET) sockets for nmdb:
// one SCTP message per request and per reply.
//
// A server opens one socket with ListenPacket or Listen; it accepts
// associations from any number of clients, ReadFrom returns each message
// with the peer's address, and WriteTo sends the reply back over the
// association the kernel finds for that address. A *Conn implements
// net.PacketConn.
//
// A client opens a socket with Dial, which sets up one association to the
// server and waits until it is established; Write and Read then exchange
// whole messages with that server.
//
// Sockets are created non-blocking and wrapped in an *os.File, so reads
// and writes park the goroutine in the runtime poller rather than in a
// system call; deadlines and Close wake blocked callers. Messages the
// kernel delivers in pieces are reassembled; messages longer than the
// read buffer and SCTP notifications are dropped and counted (Conn.Drops).
//
// When the running kernel has no SCTP, the constructors return an error
// matching ErrUnsupported.
package sctp

import (
	"errors"
	"time"
)

// ErrUnsupported is matched (errors.Is) by the error the constructors
// return when the kernel has no SCTP support.
var ErrUnsupported = errors.New("SCTP is not available in this kernel (load the module with `modprobe sctp`)")

// DefaultDialTimeout bounds Dial's association setup.
const DefaultDialTimeout = 10 * time.Second

// Drops counts messages a Conn received but did not hand to its reader.
type Drops struct {
	// Truncated counts messages longer than the caller's buffer.
	Truncated uint64
	// Notifications counts SCTP notifications (events, not data).
	Notifications uint64
	// Invalid counts messages without a usable peer address.
	Invalid uint64
}
