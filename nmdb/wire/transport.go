package wire

import "strconv"

// Transport identifies how a message travels between a client and a
// server. Server and clients share it; the order of the constants is the
// order in which clients shard over servers (see SPEC's sharding rule).
type Transport int

// Transports, in the order used for client-side sharding.
const (
	TIPC Transport = iota
	TCP
	UDP
	SCTP
)

// String returns the transport's lower-case name.
func (t Transport) String() string {
	switch t {
	case TIPC:
		return "tipc"
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	}
	return "transport(" + strconv.Itoa(int(t)) + ")"
}
