package tipc

import "fmt"

// EventKind tells what a topology Event reports.
type EventKind uint32

// Event kinds, as the kernel's topology service numbers them.
const (
	// Published: a socket bound a name overlapping the subscribed range.
	Published EventKind = 1
	// Withdrawn: a socket unbound such a name, closed, or its process
	// exited, or the node it lives on became unreachable (node loss or
	// the loss of every link to it).
	Withdrawn EventKind = 2
	// Timeout: the subscription ended (only subscriptions with a
	// timeout, such as the one Topology.Barrier makes, end).
	Timeout EventKind = 3
)

// String returns "published", "withdrawn" or "timeout".
func (k EventKind) String() string {
	switch k {
	case Published:
		return "published"
	case Withdrawn:
		return "withdrawn"
	case Timeout:
		return "timeout"
	}
	return fmt.Sprintf("EventKind(%d)", uint32(k))
}

// Event is one report of the TIPC topology service about a subscribed
// service range.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Type is the service type of the subscription the event belongs to.
	Type uint32
	// Lower and Upper are the part of the bound range that overlaps the
	// subscription.
	Lower, Upper uint32
	// Socket is the socket that bound or unbound the name (KindSocket).
	Socket Addr
	// Handle is the value given to Subscribe for this subscription.
	Handle uint64
}

// String describes the event for logs.
func (e Event) String() string {
	return fmt.Sprintf("%v {%d,%d,%d} by %v", e.Kind, e.Type, e.Lower, e.Upper, &e.Socket)
}

// Less reports whether socket address a orders before b: by node address,
// then by socket reference. Every node computes the same order, which
// makes it usable for elections.
func Less(a, b Addr) bool {
	if a.Node != b.Node {
		return a.Node < b.Node
	}
	return a.Ref < b.Ref
}
