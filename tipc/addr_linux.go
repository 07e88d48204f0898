package tipc

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// valid reports whether a can be used as a destination.
func (a *Addr) valid() error {
	if a == nil {
		return fmt.Errorf("tipc: nil address")
	}
	switch a.Kind {
	case KindService:
		if a.Upper < a.Lower {
			return fmt.Errorf("tipc: invalid service range %s: upper below lower", a.String())
		}
		return nil
	case KindSocket:
		return nil
	}
	return fmt.Errorf("tipc: invalid address kind %d", uint8(a.Kind))
}

// toRaw encodes a into the kernel's struct sockaddr_tipc. Service ranges
// use cluster scope. The address words are in host byte order, as the
// kernel expects.
func (a *Addr) toRaw(raw *unix.RawSockaddrTIPC) {
	*raw = unix.RawSockaddrTIPC{Family: unix.AF_TIPC}
	switch a.Kind {
	case KindService:
		raw.Addrtype = unix.TIPC_SERVICE_RANGE
		raw.Scope = unix.TIPC_CLUSTER_SCOPE
		binary.NativeEndian.PutUint32(raw.Addr[0:], a.Type)
		binary.NativeEndian.PutUint32(raw.Addr[4:], a.Lower)
		binary.NativeEndian.PutUint32(raw.Addr[8:], a.Upper)
	case KindSocket:
		raw.Addrtype = unix.TIPC_SOCKET_ADDR
		binary.NativeEndian.PutUint32(raw.Addr[0:], a.Ref)
		binary.NativeEndian.PutUint32(raw.Addr[4:], a.Node)
	}
}

// fromRaw decodes a struct sockaddr_tipc the kernel filled in. A service
// name {type, instance} decodes as the range {type, instance, instance}.
func (a *Addr) fromRaw(raw *unix.RawSockaddrTIPC) error {
	if raw.Family != unix.AF_TIPC {
		return fmt.Errorf("tipc: address family %d is not AF_TIPC", raw.Family)
	}
	w0 := binary.NativeEndian.Uint32(raw.Addr[0:])
	w1 := binary.NativeEndian.Uint32(raw.Addr[4:])
	w2 := binary.NativeEndian.Uint32(raw.Addr[8:])
	switch raw.Addrtype {
	case unix.TIPC_SOCKET_ADDR:
		*a = Addr{Kind: KindSocket, Ref: w0, Node: w1}
	case unix.TIPC_SERVICE_RANGE:
		*a = Addr{Kind: KindService, Type: w0, Lower: w1, Upper: w2}
	case unix.TIPC_SERVICE_ADDR:
		*a = Addr{Kind: KindService, Type: w0, Lower: w1, Upper: w1}
	default:
		return fmt.Errorf("tipc: unknown address type %d", raw.Addrtype)
	}
	return nil
}

// sizeofRaw is sizeof(struct sockaddr_tipc).
const sizeofRaw = uint32(unsafe.Sizeof(unix.RawSockaddrTIPC{}))
