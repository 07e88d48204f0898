//go:build !linux

package nmdb

import (
	"net"
	"net/netip"
)

// udpRaw is only used on Linux; elsewhere UDP goes through the net
// package.
type udpRaw struct{}

func newUDPRaw(*net.UDPConn, spinner) *udpRaw { return nil }

func (*udpRaw) readFrom([]byte) (int, netip.AddrPort, error) { panic("unreachable") }

func (*udpRaw) writeTo([]byte, netip.AddrPort) error { panic("unreachable") }

func (*udpRaw) done() {}
