package sctp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nmdb-go/nmdb/internal/pktconn"
	"github.com/nmdb-go/nmdb/internal/sockfd"
)

// Kernel constants golang.org/x/sys/unix does not define (linux/sctp.h).
const (
	solSCTP          = 132    // SOL_SCTP
	sctpNodelay      = 3      // SCTP_NODELAY
	sctpEvents       = 11     // SCTP_EVENTS
	msgNotification  = 0x8000 // MSG_NOTIFICATION
	snAssocChange    = 0x8001 // SCTP_ASSOC_CHANGE
	assocCommUp      = 0      // SCTP_COMM_UP
	assocRestart     = 2      // SCTP_RESTART
	assocCantStart   = 4      // SCTP_CANT_STR_ASSOC
	listenBacklog    = 1024
	notificationSize = 256
	spillSize        = 4096
)

// Conn is an SCTP one-to-many socket. It implements net.PacketConn and is
// safe for concurrent use by multiple goroutines (reads are serialized,
// since a message may arrive in several pieces). Close aborts the pending
// data of its associations.
type Conn struct {
	base
	family int
	local  Addr
	peer   netip.AddrPort // set by Dial
	dialed bool

	rmu    sync.Mutex
	rop    readOp          // guarded by rmu
	spill  [spillSize]byte // guarded by rmu: the dropped tail of a message too long for the reader's buffer
	writes sync.Pool       // *writeOp
}

// base is the part of Conn that does not depend on SCTP: Close,
// LocalAddr, deadlines, buffers, SyscallConn, Dropped.
type base = pktconn.Conn

// Reasons for a dropped message, counted in pktconn.Drop.
const (
	dropTruncated = iota
	dropNotification
	dropInvalid
)

// Listen is ListenPacket("sctp", host:port). An empty host means all
// addresses.
func Listen(host string, port int) (*Conn, error) {
	return ListenPacket("sctp", net.JoinHostPort(host, strconv.Itoa(port)))
}

// ListenPacket opens a one-to-many SCTP socket bound to address
// ("host:port"; empty host for all addresses, port 0 for any free port)
// and accepts associations on it. network is "sctp", "sctp4" or "sctp6".
func ListenPacket(network, address string) (*Conn, error) {
	family, ap, err := resolve(context.Background(), network, address, true)
	if err != nil {
		return nil, err
	}
	fd, family, err := socket(family, ap.Addr().IsUnspecified() && network == "sctp")
	if err != nil {
		return nil, err
	}
	if family == unix.AF_INET && ap.Addr() == netip.IPv6Unspecified() {
		ap = netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port()) // no IPv6 in this kernel
	}
	fail := func(what string, err error) (*Conn, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("sctp: listen %s: %w", address, os.NewSyscallError(what, err))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt SO_REUSEADDR", err)
	}
	var sa sockaddr
	l, err := sa.encode(family, ap)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sctp: listen %s: %w", address, err)
	}
	if e := rawSockaddrCall(unix.SYS_BIND, fd, &sa, l); e != nil {
		return fail("bind", e)
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		return fail("listen", err)
	}
	return newConn(fd, family, netip.AddrPort{}, false)
}

// Dial sets up an association with the SCTP server at host:port and
// returns a Conn whose Write and Read exchange whole messages with it.
// Association setup is bounded by DefaultDialTimeout.
func Dial(host string, port int) (*Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultDialTimeout)
	defer cancel()
	return DialContext(ctx, host, port)
}

// DialContext is Dial with a context bounding name resolution and
// association setup.
func DialContext(ctx context.Context, host string, port int) (*Conn, error) {
	address := net.JoinHostPort(host, strconv.Itoa(port))
	family, ap, err := resolve(ctx, "sctp", address, false)
	if err != nil {
		return nil, err
	}
	fd, family, err := socket(family, false)
	if err != nil {
		return nil, err
	}
	// Ask for association change notifications, to learn when the
	// association is up or could not be set up.
	if err := unix.SetsockoptString(fd, solSCTP, sctpEvents, "\x00\x01"); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sctp: dial %s: %w", address, os.NewSyscallError("setsockopt SCTP_EVENTS", err))
	}
	var sa sockaddr
	l, err := sa.encode(family, ap)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sctp: dial %s: %w", address, err)
	}
	if e := rawSockaddrCall(unix.SYS_CONNECT, fd, &sa, l); e != nil && e != unix.EINPROGRESS {
		unix.Close(fd)
		return nil, fmt.Errorf("sctp: dial %s: %w", address, os.NewSyscallError("connect", e))
	}
	c, err := newConn(fd, family, ap, true)
	if err != nil {
		return nil, err
	}
	if err := c.waitUp(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("sctp: dial %s: %w", address, err)
	}
	return c, nil
}

// waitUp reads notifications until the association is up or has failed.
func (c *Conn) waitUp(ctx context.Context) error {
	// Cancelling ctx (or its deadline passing) moves the read deadline
	// into the past, which wakes the read below.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		pktconn.FD(&c.base).SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired
		}
		pktconn.FD(&c.base).SetReadDeadline(time.Time{})
	}()
	var buf [notificationSize]byte
	for {
		n, _, notif, err := c.readMsg(buf[:])
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("association setup: %w", ctx.Err())
			}
			return err
		}
		if !notif {
			continue
		}
		switch typ, state, code := parseAssocChange(buf[:n]); {
		case typ != snAssocChange:
			continue
		case state == assocCommUp || state == assocRestart:
			return nil
		default:
			return fmt.Errorf("association setup failed (state %d, error %d): %w", state, code, syscall.ECONNREFUSED)
		}
	}
}

// parseAssocChange reads sac_type, sac_state and sac_error from a
// struct sctp_assoc_change.
func parseAssocChange(b []byte) (typ, state, code uint16) {
	if len(b) < 12 {
		return 0, 0, 0
	}
	u16 := func(i int) uint16 { return *(*uint16)(unsafe.Pointer(&b[i])) }
	return u16(0), u16(8), u16(10)
}

func resolve(ctx context.Context, network, address string, listen bool) (int, netip.AddrPort, error) {
	var family int
	switch network {
	case "sctp":
	case "sctp4":
		family = unix.AF_INET
	case "sctp6":
		family = unix.AF_INET6
	default:
		return 0, netip.AddrPort{}, fmt.Errorf("sctp: unknown network %q", network)
	}
	host, ps, err := net.SplitHostPort(address)
	if err != nil {
		return 0, netip.AddrPort{}, fmt.Errorf("sctp: address %q: %w", address, err)
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return 0, netip.AddrPort{}, fmt.Errorf("sctp: address %q: bad port: %w", address, err)
	}
	var ip netip.Addr
	switch {
	case host == "" && listen:
		ip = netip.IPv6Unspecified()
		if family == unix.AF_INET {
			ip = netip.IPv4Unspecified()
		}
	case host == "":
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	default:
		if ip, err = netip.ParseAddr(host); err != nil {
			ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			if lerr != nil {
				return 0, netip.AddrPort{}, fmt.Errorf("sctp: address %q: %w", address, lerr)
			}
			ip = ips[0]
			for _, a := range ips {
				if a.Unmap().Is4() {
					ip = a
					break
				}
			}
		}
		ip = ip.Unmap()
	}
	if family == 0 {
		family = unix.AF_INET6
		if ip.Is4() {
			family = unix.AF_INET
		}
	}
	return family, netip.AddrPortFrom(ip, uint16(port)), nil
}

// socket creates a non-blocking one-to-many SCTP socket. With dualStack,
// an AF_INET6 socket also serves IPv4, and a kernel without IPv6 gets an
// AF_INET socket instead.
func socket(family int, dualStack bool) (int, int, error) {
	fd, err := unix.Socket(family, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_SCTP)
	if err != nil && dualStack && family == unix.AF_INET6 && errors.Is(err, unix.EAFNOSUPPORT) {
		family, dualStack = unix.AF_INET, false
		fd, err = unix.Socket(family, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_SCTP)
	}
	if err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ESOCKTNOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) {
			return -1, 0, fmt.Errorf("sctp: socket: %w: %w", ErrUnsupported, err)
		}
		return -1, 0, fmt.Errorf("sctp: socket: %w", os.NewSyscallError("socket", err))
	}
	if dualStack && family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			unix.Close(fd)
			return -1, 0, fmt.Errorf("sctp: %w", os.NewSyscallError("setsockopt IPV6_V6ONLY", err))
		}
	}
	if err := unix.SetsockoptInt(fd, solSCTP, sctpNodelay, 1); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("sctp: %w", os.NewSyscallError("setsockopt SCTP_NODELAY", err))
	}
	return fd, family, nil
}

// rawSockaddrCall runs bind(2) or connect(2) with a raw socket address.
func rawSockaddrCall(trap uintptr, fd int, sa *sockaddr, l uint32) error {
	for {
		_, _, e := unix.Syscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&sa.raw)), uintptr(l))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

func getsockname(fd int) (netip.AddrPort, error) {
	var sa sockaddr
	l := uint32(unsafe.Sizeof(sa.raw))
	_, _, e := unix.Syscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&sa.raw)), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return netip.AddrPort{}, fmt.Errorf("sctp: %w", os.NewSyscallError("getsockname", e))
	}
	return sa.decode(l)
}

func newConn(fd, family int, peer netip.AddrPort, dialed bool) (*Conn, error) {
	local, err := getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	c := &Conn{family: family, local: Addr{local}, peer: peer, dialed: dialed}
	if err := pktconn.Init(&c.base, fd, "sctp", func() net.Addr { a := c.local; return &a }); err != nil {
		return nil, err
	}
	c.rop.init()
	c.writes.New = func() any { return newWriteOp() }
	return c, nil
}

// readOp is the state of one recvmsg.
type readOp struct {
	sockfd.Op
	hdr  unix.Msghdr
	iov  unix.Iovec
	name sockaddr
}

func (op *readOp) init() {
	op.hdr.Name = (*byte)(unsafe.Pointer(&op.name.raw))
	op.hdr.Iov = &op.iov
	op.hdr.SetIovlen(1)
	op.Msg = &op.hdr
}

// readMsg reads one whole message or notification into p, reassembling
// pieces. A data message that does not fit in p is read to its end,
// dropped and counted, and the next one is read instead; a notification
// that does not fit is returned cut to len(p).
func (c *Conn) readMsg(p []byte) (n int, from netip.AddrPort, notif bool, err error) {
	if len(p) == 0 {
		return 0, from, false, pktconn.OpError(&c.base, "read", nil, io.ErrShortBuffer)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	op := &c.rop
	defer func() { op.iov.Base = nil }()
	var (
		off     int // bytes of the current message in p
		first   = true
		discard bool // p is full: the rest goes to c.spill
	)
	for {
		if discard {
			op.iov.Base = &c.spill[0]
			op.iov.SetLen(len(c.spill))
		} else {
			op.iov.Base = &p[off]
			op.iov.SetLen(len(p) - off)
		}
		op.hdr.Namelen = uint32(unsafe.Sizeof(op.name.raw))
		got, rerr := op.Recvmsg(pktconn.RawConn(&c.base))
		if rerr != nil {
			return 0, from, false, pktconn.OpError(&c.base, "read", nil, sockfd.SyscallError("recvmsg", rerr))
		}
		flags := int(op.hdr.Flags)
		if first {
			from, err = op.name.decode(op.hdr.Namelen)
			notif = flags&msgNotification != 0
			first = false
		}
		if !discard {
			off += got
		}
		if flags&unix.MSG_EOR == 0 {
			if got == 0 {
				return 0, from, false, pktconn.OpError(&c.base, "read", nil, io.EOF)
			}
			discard = discard || off == len(p)
			continue
		}
		switch {
		case notif:
			return off, from, true, nil
		case discard || flags&unix.MSG_TRUNC != 0:
			pktconn.Drop(&c.base, dropTruncated)
		case err != nil:
			pktconn.Drop(&c.base, dropInvalid)
		default:
			return off, from, false, nil
		}
		off, first, discard, err = 0, true, false, nil
	}
}

// readData reads the next data message, skipping notifications. On a Conn
// from Dial a notification that the association is gone ends the read
// with an error matching syscall.ECONNRESET; the next Write sets up a new
// association.
func (c *Conn) readData(p []byte) (int, netip.AddrPort, error) {
	for {
		n, from, notif, err := c.readMsg(p)
		if err != nil || !notif {
			return n, from, err
		}
		pktconn.Drop(&c.base, dropNotification)
		if c.dialed {
			if typ, state, code := parseAssocChange(p[:n]); typ == snAssocChange && state != assocCommUp && state != assocRestart {
				return 0, from, pktconn.OpError(&c.base, "read", nil, fmt.Errorf("association with %v ended (state %d, error %d): %w", c.peer, state, code, syscall.ECONNRESET))
			}
		}
	}
}

// ReadFromAddrPort reads one whole message into p and returns its length
// and the peer's address. It allocates nothing.
func (c *Conn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return c.readData(p)
}

// ReadFrom reads one whole message into p and returns its length and the
// peer's address (an *Addr).
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := c.readData(p)
	if err != nil {
		return n, nil, err
	}
	return n, &Addr{from}, nil
}

// Read reads one whole message into p. On a Conn from Dial that is the
// server's reply.
func (c *Conn) Read(p []byte) (int, error) {
	n, _, err := c.readData(p)
	return n, err
}

// writeOp is the per-call state of one sendto.
type writeOp struct {
	sockfd.Op
	name sockaddr
}

func newWriteOp() *writeOp {
	op := new(writeOp)
	op.Name = unsafe.Pointer(&op.name.raw)
	return op
}

// WriteToAddrPort sends p as one message to the peer at to, over the
// association with it (set up on the fly if there is none). It allocates
// nothing unless it fails.
func (c *Conn) WriteToAddrPort(p []byte, to netip.AddrPort) (int, error) {
	op := c.writes.Get().(*writeOp)
	defer c.writes.Put(op)
	l, err := op.name.encode(c.family, to)
	if err != nil {
		return 0, pktconn.OpError(&c.base, "write", &Addr{to}, err)
	}
	op.NameLen, op.Buf = l, p
	n, err := op.Sendto(pktconn.RawConn(&c.base))
	op.Buf = nil
	if err != nil {
		return 0, pktconn.OpError(&c.base, "write", &Addr{to}, sockfd.SyscallError("sendto", err))
	}
	return n, nil
}

// WriteTo sends p as one message to addr: an *Addr or Addr (as ReadFrom
// returns), or a *net.UDPAddr or *net.TCPAddr naming the peer's IP and port.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *Addr:
		ap = a.AddrPort
	case Addr:
		ap = a.AddrPort
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		return 0, pktconn.OpError(&c.base, "write", addr, fmt.Errorf("sctp: cannot send to %T address", addr))
	}
	return c.WriteToAddrPort(p, ap)
}

// Write sends p as one message to the server a Conn from Dial is
// associated with.
func (c *Conn) Write(p []byte) (int, error) {
	if !c.dialed {
		return 0, pktconn.OpError(&c.base, "write", nil, errors.New("sctp: Write on a listening socket; use WriteTo"))
	}
	return c.WriteToAddrPort(p, c.peer)
}

// RemoteAddr returns the server's address for a Conn from Dial, and nil
// for a listening one.
func (c *Conn) RemoteAddr() net.Addr {
	if !c.dialed {
		return nil
	}
	return &Addr{c.peer}
}

// Drops returns how many received messages were dropped, by reason.
func (c *Conn) Drops() Drops {
	d := pktconn.Drops(&c.base)
	return Drops{Truncated: d[dropTruncated], Notifications: d[dropNotification], Invalid: d[dropInvalid]}
}

// Supported returns nil if the kernel has SCTP over IPv4 (over IPv6 with
// ipv6), and otherwise an error, matching ErrUnsupported when SCTP is
// missing. It opens and closes a socket, and sends nothing.
func Supported(ipv6 bool) error {
	family := unix.AF_INET
	if ipv6 {
		family = unix.AF_INET6
	}
	fd, _, err := socket(family, false)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}
