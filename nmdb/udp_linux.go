package nmdb

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"github.com/nmdb-go/nmdb/internal/sockfd"
)

// errAddrFamily is writeTo's error for an IPv6 address on an IPv4 socket.
var errAddrFamily = errors.New("IPv6 address on an IPv4 socket")

// zoneIndex is the interface index of addr's zone, which readFrom writes
// in decimal (0 for none).
func zoneIndex(addr netip.Addr) uint32 {
	z := addr.Zone()
	if z == "" {
		return 0
	}
	if n, err := strconv.ParseUint(z, 10, 32); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(z); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}

// udpRaw reads and writes a UDP socket through its descriptor with raw
// system calls (sockfd.Op), as the TCP reader does: Go's own UDP reads and
// writes tell the scheduler about each call, which wakes the runtime's
// monitor thread on every request of an otherwise idle server. It is used
// by the socket's one reader only; the buffers, addresses and results are
// the fields of Ops made once, so that a read or a reply does not
// allocate.
type udpRaw struct {
	raw    syscall.RawConn
	rop    sockfd.Op
	wop    sockfd.Op
	from   syscall.RawSockaddrInet6 // large enough for either family
	to     syscall.RawSockaddrInet6
	to4    syscall.RawSockaddrInet4
	family uint16 // the socket's address family
	spin   spinner
}

// newUDPRaw returns the raw reader and writer of c, or nil where its
// descriptor cannot be used this way.
func newUDPRaw(c *net.UDPConn, spin spinner) *udpRaw {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	u := &udpRaw{raw: raw, spin: spin}
	var sa syscall.Sockaddr
	if err := raw.Control(func(fd uintptr) { sa, _ = syscall.Getsockname(int(fd)) }); err != nil {
		return nil
	}
	switch sa.(type) {
	case *syscall.SockaddrInet4:
		u.family = syscall.AF_INET
		u.wop.Name, u.wop.NameLen = unsafe.Pointer(&u.to4), uint32(unsafe.Sizeof(u.to4))
	case *syscall.SockaddrInet6:
		u.family = syscall.AF_INET6
		u.wop.Name, u.wop.NameLen = unsafe.Pointer(&u.to), uint32(unsafe.Sizeof(u.to))
	default:
		return nil
	}
	u.rop.Name, u.rop.NameLen = unsafe.Pointer(&u.from), uint32(unsafe.Sizeof(u.from))
	u.rop.Spin = &u.spin
	return u
}

// readFrom reads one datagram into buf.
func (u *udpRaw) readFrom(buf []byte) (int, netip.AddrPort, error) {
	u.rop.Buf = buf
	n, err := u.rop.Recvfrom(u.raw)
	u.rop.Buf = nil
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&u.from.Port))[:])
	var from netip.AddrPort
	switch u.from.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&u.from))
		from = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
	case syscall.AF_INET6:
		a := netip.AddrFrom16(u.from.Addr)
		if u.from.Scope_id != 0 {
			// Link-local senders only: the zone costs an allocation.
			a = a.WithZone(strconv.FormatUint(uint64(u.from.Scope_id), 10))
		}
		from = netip.AddrPortFrom(a, port)
	}
	return n, from, nil
}

// writeTo sends b to the address to, which must be of the socket's family
// (an IPv4 address is mapped on an IPv6 socket, as the replies to readFrom's
// addresses always are).
func (u *udpRaw) writeTo(b []byte, to netip.AddrPort) error {
	if len(b) == 0 {
		return nil
	}
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], to.Port())
	addr := to.Addr()
	if u.family == syscall.AF_INET {
		if !addr.Unmap().Is4() {
			return errAddrFamily
		}
		u.to4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: addr.Unmap().As4()}
		*(*[2]byte)(unsafe.Pointer(&u.to4.Port)) = port
	} else {
		u.to = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: addr.As16(), Scope_id: zoneIndex(addr)}
		*(*[2]byte)(unsafe.Pointer(&u.to.Port)) = port
	}
	u.wop.Buf = b
	_, err := u.wop.Sendto(u.raw)
	u.wop.Buf = nil
	return err
}

// done is called when the socket's reader ends.
func (u *udpRaw) done() { u.spin.close() }
