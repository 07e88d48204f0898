package tipc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nmdb-go/nmdb/internal/sockfd"
)

// Sizes of the topology service's messages (struct tipc_subscr and struct
// tipc_event of linux/tipc.h).
const (
	sizeofSubscr = int(unsafe.Sizeof(unix.TIPCSubscr{}))
	sizeofEvent  = int(unsafe.Sizeof(unix.TIPCEvent{}))
)

// barrierType is the service type Barrier subscribes to: nmdb never binds
// it, so its subscription reports nothing but its own end.
const barrierType = 0x7ffffffe

// Topology is a connection to the TIPC topology service of this node
// ({TIPC_TOP_SRV, TIPC_TOP_SRV}), which reports names being bound and
// unbound anywhere in the cluster. It is safe for concurrent use; events
// are read by one goroutine at a time.
type Topology struct {
	fd  *sockfd.FD
	wmu sync.Mutex // one subscription written at a time
	wop sockfd.Op  // guarded by wmu
	rmu sync.Mutex // one event read at a time
	rop sockfd.Op  // guarded by rmu
}

// OpenTopology connects to the topology service of this node. It fails
// with an error matching ErrUnsupported when the kernel has no TIPC.
func OpenTopology() (*Topology, error) {
	fd, err := unix.Socket(unix.AF_TIPC, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ESOCKTNOSUPPORT) {
			return nil, fmt.Errorf("tipc: topology socket: %w: %w", ErrUnsupported, err)
		}
		return nil, fmt.Errorf("tipc: topology socket: %w", os.NewSyscallError("socket", err))
	}
	// The service is on this node: a blocking connect returns at once.
	sa := &unix.SockaddrTIPC{Addr: &unix.TIPCServiceName{Type: unix.TIPC_TOP_SRV, Instance: unix.TIPC_TOP_SRV}}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tipc: connect to the topology service: %w", os.NewSyscallError("connect", err))
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tipc: topology socket: %w", os.NewSyscallError("fcntl", err))
	}
	sfd, err := sockfd.New(fd, "tipc-topology")
	if err != nil {
		return nil, fmt.Errorf("tipc: topology socket: %w", err)
	}
	return &Topology{fd: sfd}, nil
}

// Subscribe asks for an event each time a socket binds or unbinds a name
// overlapping {typ, lower, upper} (one event per socket, with its
// address), for as long as the connection is open. Names already bound
// are reported at once as Published events. handle comes back in every
// event of this subscription.
func (t *Topology) Subscribe(typ, lower, upper uint32, handle uint64) error {
	return t.subscribe(typ, lower, upper, unix.TIPC_WAIT_FOREVER, handle)
}

// Barrier makes a subscription that reports nothing but a Timeout event
// carrying handle, a moment later. The service handles subscriptions in
// order, so once that event is read, the Published events for every name
// that was bound when the earlier subscriptions were made have been read.
func (t *Topology) Barrier(handle uint64) error {
	return t.subscribe(barrierType, 0, 0, 1, handle)
}

func (t *Topology) subscribe(typ, lower, upper, timeout uint32, handle uint64) error {
	if upper < lower {
		return fmt.Errorf("tipc: subscribe {%d,%d,%d}: upper instance below lower", typ, lower, upper)
	}
	// Host byte order: the service answers in the order it was asked in.
	var b [sizeofSubscr]byte
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], typ)
	ne.PutUint32(b[4:], lower)
	ne.PutUint32(b[8:], upper)
	ne.PutUint32(b[12:], timeout)
	ne.PutUint32(b[16:], unix.TIPC_SUB_PORTS)
	ne.PutUint64(b[20:], handle)
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.wop.Buf = b[:]
	n, err := t.wop.Sendto(t.fd.RawConn())
	t.wop.Buf = nil
	if err != nil {
		return fmt.Errorf("tipc: subscribe {%d,%d,%d}: %w", typ, lower, upper, t.fd.ClosedErr(err))
	}
	if n != len(b) {
		return fmt.Errorf("tipc: subscribe {%d,%d,%d}: sent %d of %d bytes", typ, lower, upper, n, len(b))
	}
	return nil
}

// Read returns the next event. It blocks until one arrives, the read
// deadline passes, or the Topology is closed (then the error matches
// net.ErrClosed). io.EOF means the service closed the connection.
func (t *Topology) Read() (Event, error) {
	var b [sizeofEvent * 2]byte
	t.rmu.Lock()
	t.rop.Buf = b[:]
	n, err := t.rop.Recvfrom(t.fd.RawConn())
	t.rop.Buf = nil
	t.rmu.Unlock()
	if err != nil {
		return Event{}, fmt.Errorf("tipc: topology read: %w", t.fd.ClosedErr(err))
	}
	if n == 0 {
		return Event{}, fmt.Errorf("tipc: topology read: %w", io.EOF)
	}
	if n != sizeofEvent {
		return Event{}, fmt.Errorf("tipc: topology read: event of %d bytes, want %d", n, sizeofEvent)
	}
	return decodeEvent(b[:sizeofEvent]), nil
}

// decodeEvent decodes a struct tipc_event in host byte order.
func decodeEvent(b []byte) Event {
	ne := binary.NativeEndian
	return Event{
		Kind:   EventKind(ne.Uint32(b[0:])),
		Lower:  ne.Uint32(b[4:]),
		Upper:  ne.Uint32(b[8:]),
		Socket: Addr{Kind: KindSocket, Ref: ne.Uint32(b[12:]), Node: ne.Uint32(b[16:])},
		Type:   ne.Uint32(b[20:]),
		Handle: ne.Uint64(b[40:]),
	}
}

// SetReadDeadline sets the deadline for Read.
func (t *Topology) SetReadDeadline(d time.Time) error {
	if err := t.fd.SetReadDeadline(d); err != nil {
		return fmt.Errorf("tipc: topology: %w", err)
	}
	return nil
}

// Close closes the connection, which ends its subscriptions. A blocked
// Read returns an error matching net.ErrClosed.
func (t *Topology) Close() error {
	return t.fd.Close()
}
