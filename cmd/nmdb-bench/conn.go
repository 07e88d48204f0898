package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// errTimeout means no reply came within the per-reply timeout.
var errTimeout = errors.New("timed out waiting for a reply")

// transport moves requests and replies over one socket. A stream transport
// sends and receives bytes; a datagram transport one whole message per call.
type transport interface {
	send(b []byte) error
	recv(b []byte) (int, error)
	close() error
}

// dial connects to addr over network ("tcp" or "udp"). With blocking set
// it uses a plain blocking socket driven by direct system calls, which
// keeps the Go scheduler out of a one-request-in-flight loop; otherwise it
// uses the net package and its poller, which scales better to many
// connections per process. timeout bounds every send and every wait for a
// reply.
func dial(network, addr string, blocking bool, timeout time.Duration) (transport, error) {
	if !blocking {
		c, err := net.DialTimeout(network, addr, timeout)
		if err != nil {
			return nil, fmt.Errorf("dial %s %s: %w", network, addr, err)
		}
		return &netTransport{c: c, timeout: timeout}, nil
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q (want IP:port): %w", addr, err)
	}
	return dialRaw(network, ap, timeout)
}

// netTransport is a transport on a net.Conn.
type netTransport struct {
	c       net.Conn
	timeout time.Duration
}

func (t *netTransport) send(b []byte) error {
	if err := t.c.SetWriteDeadline(time.Now().Add(t.timeout)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	if _, err := t.c.Write(b); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

func (t *netTransport) recv(b []byte) (int, error) {
	if err := t.c.SetReadDeadline(time.Now().Add(t.timeout)); err != nil {
		return 0, fmt.Errorf("set deadline: %w", err)
	}
	n, err := t.c.Read(b)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return n, fmt.Errorf("server closed the connection: %w", err)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return n, errTimeout
		}
		return n, fmt.Errorf("receive: %w", err)
	}
	return n, nil
}

func (t *netTransport) close() error { return t.c.Close() }

// rawTransport is a transport on a blocking socket.
type rawTransport struct {
	fd    int
	dgram bool
}

// maxEINTR bounds the retries of a system call interrupted by a signal
// (the Go runtime preempts with signals, and a socket with a timeout
// reports EINTR even under SA_RESTART).
const maxEINTR = 1000

func dialRaw(network string, ap netip.AddrPort, timeout time.Duration) (*rawTransport, error) {
	typ := unix.SOCK_STREAM
	switch network {
	case "tcp":
	case "udp":
		typ = unix.SOCK_DGRAM
	default:
		return nil, fmt.Errorf("network %q: want tcp or udp", network)
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	t := &rawTransport{fd: fd, dgram: typ == unix.SOCK_DGRAM}
	fail := func(what string, err error) (*rawTransport, error) {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("%s %s %s: %w", what, network, ap, err)
	}
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("set receive timeout", err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return fail("set send timeout", err)
	}
	if !t.dgram {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return fail("set TCP_NODELAY", err)
		}
	}
	if err := unix.Connect(fd, sa); err != nil {
		return fail("connect", err)
	}
	return t, nil
}

func (t *rawTransport) send(b []byte) error {
	for tries := 0; len(b) > 0; {
		n, err := unix.Write(t.fd, b)
		switch {
		case err == unix.EINTR && tries < maxEINTR:
			tries++
			continue
		case err == unix.EAGAIN:
			return fmt.Errorf("send: %w", errTimeout)
		case err != nil:
			return fmt.Errorf("send: %w", err)
		}
		if t.dgram {
			return nil
		}
		b = b[n:]
	}
	return nil
}

func (t *rawTransport) recv(b []byte) (int, error) {
	for tries := 0; ; tries++ {
		n, err := unix.Read(t.fd, b)
		switch {
		case err == unix.EINTR && tries < maxEINTR:
			continue
		case err == unix.EAGAIN:
			return 0, errTimeout
		case err != nil:
			return 0, fmt.Errorf("receive: %w", err)
		case n == 0 && !t.dgram:
			return 0, fmt.Errorf("server closed the connection: %w", io.EOF)
		}
		return n, nil
	}
}

func (t *rawTransport) close() error { return unix.Close(t.fd) }
