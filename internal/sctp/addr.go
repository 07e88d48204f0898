package sctp

import "net/netip"

// Addr is the address of an SCTP endpoint: an IP address and a port. It
// implements net.Addr.
type Addr struct {
	netip.AddrPort
}

// Network returns "sctp".
func (a Addr) Network() string { return "sctp" }

// AddrFromAddrPort returns ap as an *Addr, with an IPv4-mapped IPv6
// address turned into plain IPv4.
func AddrFromAddrPort(ap netip.AddrPort) *Addr {
	return &Addr{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
}
