// Package tipc provides AF_TIPC reliable-datagram (SOCK_RDM) sockets for
// nmdb, integrated with Go's network poller.
//
// A server binds a service range in cluster scope with Listen; a client
// opens an unbound socket with Dial and sends each request to the
// server's service range (ServiceAddr). Sending to a range multicasts:
// every socket bound to an overlapping range anywhere in the cluster gets
// a copy, which is how passive mirrors hear all traffic. Replies go to the
// sender's socket address, as returned by ReadFrom.
//
// Sockets are created non-blocking and wrapped in an *os.File, so reads
// and writes park the goroutine in the runtime poller rather than in a
// system call; deadlines and Close wake blocked callers.
//
// Messages returned as undeliverable (see Conn.SetReturnUndeliverable) and
// datagrams larger than the read buffer are never handed to the reader:
// they are counted (see Conn.Drops) and the read goes on.
//
// A socket may bind further names with Bind (and drop them with Unbind).
// The topology service (OpenTopology) reports every socket that binds or
// unbinds a name in a subscribed range, anywhere in the cluster: a name is
// withdrawn when its socket closes or its process exits, and on the other
// nodes when its node is lost or the links to it are. nmdb's failover
// (internal/cluster) is built on these events.
//
// When the running kernel has no TIPC, Listen, Dial and OpenTopology
// return an error matching ErrUnsupported.
package tipc

import "errors"

// ErrUnsupported is matched (errors.Is) by the error Listen and Dial return
// when the kernel has no AF_TIPC support.
var ErrUnsupported = errors.New("AF_TIPC is not available in this kernel (load the module with `modprobe tipc`)")

// MaxMessage is the largest user message TIPC carries (TIPC_MAX_USER_MSG_SIZE).
const MaxMessage = 66000

// Drops counts datagrams a Conn received but did not hand to its reader.
type Drops struct {
	// Returned counts messages the network gave back as undeliverable
	// (recvmsg reported TIPC_ERRINFO), e.g. a reply to a socket that has
	// since closed.
	Returned uint64
	// Truncated counts datagrams larger than the caller's buffer.
	Truncated uint64
	// Invalid counts datagrams without a usable sender address.
	Invalid uint64
}
