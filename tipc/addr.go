package tipc

import "fmt"

// ServiceType is the TIPC service type nmdb servers bind; the instance is
// the server's port number.
const ServiceType = 26001

// AddrKind tells which of the two TIPC address forms an Addr holds.
type AddrKind uint8

const (
	// KindService is a service range {Type, Lower, Upper} in cluster scope.
	// Sending to it reaches every socket bound to an overlapping range
	// anywhere in the cluster.
	KindService AddrKind = iota + 1
	// KindSocket is the address of one socket, {Ref, Node}: where replies go.
	KindSocket
)

// String returns "service" or "socket".
func (k AddrKind) String() string {
	switch k {
	case KindService:
		return "service"
	case KindSocket:
		return "socket"
	}
	return fmt.Sprintf("AddrKind(%d)", uint8(k))
}

// Addr is a TIPC address. It implements net.Addr. When Kind is KindService
// the Type, Lower and Upper fields are used; when it is KindSocket, Ref and
// Node are. The zero Addr is not a valid destination.
type Addr struct {
	// Kind selects the address form.
	Kind AddrKind
	// Type is the service type (KindService).
	Type uint32
	// Lower is the lowest service instance of the range (KindService).
	Lower uint32
	// Upper is the highest service instance of the range (KindService).
	Upper uint32
	// Ref is the socket reference, unique within its node (KindSocket).
	Ref uint32
	// Node is the node address the socket lives on; 0 means this node
	// (KindSocket).
	Node uint32
}

// ServiceAddr returns the service range {ServiceType, port, port}: the
// address a client sends requests to for the nmdb server(s) on that port.
func ServiceAddr(port int) *Addr {
	return ServiceRange(ServiceType, uint32(port), uint32(port))
}

// ServiceRange returns the service range address {typ, lower, upper}.
func ServiceRange(typ, lower, upper uint32) *Addr {
	return &Addr{Kind: KindService, Type: typ, Lower: lower, Upper: upper}
}

// SocketAddr returns the socket address {ref, node}.
func SocketAddr(ref, node uint32) *Addr {
	return &Addr{Kind: KindSocket, Ref: ref, Node: node}
}

// clone returns a copy of a (nil for nil), for an error to keep without
// making the caller's address escape to the heap.
func (a *Addr) clone() *Addr {
	if a == nil {
		return nil
	}
	b := *a
	return &b
}

// Network returns "tipc".
func (a *Addr) Network() string { return "tipc" }

// String formats a service range as "{type,lower,upper}" and a socket
// address as "<node:ref>" with the node address in hex.
func (a *Addr) String() string {
	if a == nil {
		return "<nil>"
	}
	switch a.Kind {
	case KindService:
		return fmt.Sprintf("{%d,%d,%d}", a.Type, a.Lower, a.Upper)
	case KindSocket:
		return fmt.Sprintf("<%x:%d>", a.Node, a.Ref)
	}
	return fmt.Sprintf("tipc.Addr(kind %d)", uint8(a.Kind))
}
