package sctp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sockaddr holds a struct sockaddr_in or sockaddr_in6.
type sockaddr struct {
	raw unix.RawSockaddrInet6 // large enough for either family
}

const (
	sizeofInet4 = uint32(unsafe.Sizeof(unix.RawSockaddrInet4{}))
	sizeofInet6 = uint32(unsafe.Sizeof(unix.RawSockaddrInet6{}))
)

// encode stores ap in the form a socket of the given family expects and
// returns the length to pass to the kernel. An AF_INET6 socket takes IPv4
// addresses as IPv4-mapped IPv6 addresses.
func (s *sockaddr) encode(family int, ap netip.AddrPort) (uint32, error) {
	ip := ap.Addr()
	if !ip.IsValid() {
		return 0, fmt.Errorf("sctp: invalid address %v", ap)
	}
	switch family {
	case unix.AF_INET:
		ip = ip.Unmap()
		if !ip.Is4() {
			return 0, fmt.Errorf("sctp: cannot reach IPv6 address %v from an IPv4 socket", ap)
		}
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.raw))
		*r = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&r.Port))[:], ap.Port())
		return sizeofInet4, nil
	case unix.AF_INET6:
		s.raw = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ip.As16()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s.raw.Port))[:], ap.Port())
		return sizeofInet6, nil
	}
	return 0, fmt.Errorf("sctp: unsupported address family %d", family)
}

// decode reads the address the kernel stored (n bytes long). IPv4-mapped
// addresses come back as IPv4.
func (s *sockaddr) decode(n uint32) (netip.AddrPort, error) {
	port := func(p *uint16) uint16 {
		return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(p))[:])
	}
	switch s.raw.Family {
	case unix.AF_INET:
		if n < sizeofInet4 {
			break
		}
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.raw))
		return netip.AddrPortFrom(netip.AddrFrom4(r.Addr), port(&r.Port)), nil
	case unix.AF_INET6:
		if n < sizeofInet6 {
			break
		}
		ip := netip.AddrFrom16(s.raw.Addr).Unmap()
		return netip.AddrPortFrom(ip, port(&s.raw.Port)), nil
	}
	return netip.AddrPort{}, fmt.Errorf("sctp: unusable peer address (family %d, length %d)", s.raw.Family, n)
}
