//go:build !linux

package tipc

import "time"

// Topology is a connection to the TIPC topology service. TIPC exists only
// on Linux; on this system none can be opened.
type Topology struct{}

// OpenTopology fails with an error matching ErrUnsupported: TIPC exists
// only on Linux.
func OpenTopology() (*Topology, error) { return nil, unsupported("topology") }

// Subscribe fails: TIPC exists only on Linux.
func (t *Topology) Subscribe(typ, lower, upper uint32, handle uint64) error {
	return unsupported("subscribe")
}

// Barrier fails: TIPC exists only on Linux.
func (t *Topology) Barrier(handle uint64) error { return unsupported("subscribe") }

// Read fails: TIPC exists only on Linux.
func (t *Topology) Read() (Event, error) { return Event{}, unsupported("topology read") }

// SetReadDeadline fails: TIPC exists only on Linux.
func (t *Topology) SetReadDeadline(d time.Time) error { return unsupported("set read deadline") }

// Close fails: TIPC exists only on Linux.
func (t *Topology) Close() error { return unsupported("close") }
