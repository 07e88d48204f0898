package nmdb

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// packetConn is a datagram socket being served.
type packetConn struct {
	s    *Server
	pc   net.PacketConn
	udp  *net.UDPConn // pc, when it is UDP: served without allocating
	t    Transport
	stat int // the counter of messages received
}

// ServePacket serves one request per datagram read from pc, replying to the
// sender with one datagram, until Shutdown; it then returns
// ErrServerClosed. t names pc's transport (UDP, TIPC or SCTP) for the
// statistics. A few goroutines read pc concurrently; datagrams that are too
// big or too short are counted and answered with ERR broken.
func (s *Server) ServePacket(pc net.PacketConn, t Transport) error {
	p := &packetConn{s: s, pc: pc, t: t}
	switch t {
	case UDP:
		p.stat = wire.StatMsgUDP
	case TIPC:
		p.stat = wire.StatMsgTIPC
	case SCTP:
		p.stat = wire.StatMsgSCTP
	default:
		return fmt.Errorf("nmdb: ServePacket cannot serve %v", t)
	}
	p.udp, _ = pc.(*net.UDPConn)

	n := min(max(runtime.GOMAXPROCS(0), 2), 8)
	errc := make(chan error, n)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.packets[p] = struct{}{}
	s.readers.Add(n)
	s.mu.Unlock()
	for range n {
		go func() {
			defer s.readers.Done()
			errc <- p.read()
		}()
	}
	var first error
	for range n {
		if err := <-errc; first == nil {
			first = err
			// One reader failing stops the others.
			_ = pc.SetReadDeadline(time.Now())
		}
	}
	if s.closing.Load() {
		return ErrServerClosed
	}
	s.mu.Lock()
	delete(s.packets, p)
	s.mu.Unlock()
	return first
}

// read serves datagrams until the socket fails or the server shuts down.
func (p *packetConn) read() error {
	s := p.s
	// One datagram and one reply buffer per reader, for its lifetime; the
	// read buffer has a spare byte so that an oversized datagram shows.
	buf := make([]byte, wire.MaxMessage+1)
	sc := make([]byte, 0, 256)
	var rt replyTo
	rt.pk = p
	failures := 0
	for {
		var n int
		var err error
		if p.udp != nil {
			n, rt.ap, err = p.udp.ReadFromUDPAddrPort(buf)
		} else {
			n, rt.addr, err = p.pc.ReadFrom(buf)
		}
		if err != nil {
			if s.closing.Load() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("nmdb: reading %v socket: %w", p.t, err)
			}
			// A transient error (an ICMP error reported on the socket, a
			// message truncated by the kernel) must not stop the server,
			// but one that repeats endlessly must not spin either.
			failures++
			s.inc(wire.StatMsgsDropped)
			if failures > 1000 {
				return fmt.Errorf("nmdb: reading %v socket: %w", p.t, err)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		failures = 0
		if n == 0 {
			s.inc(wire.StatMsgsDropped)
			continue
		}
		// DecodeRequest rejects a message longer than MaxMessage as
		// broken, so the oversized datagram gets ERR broken.
		s.handle(buf[:n], &rt, &sc)
	}
}

// send sends a reply datagram to the sender in rt. A reply that cannot be
// sent (too big for a datagram, say) is replaced by ERR 0x102 if possible,
// and counted as dropped.
func (p *packetConn) send(b []byte, rt *replyTo) {
	if p.write(b, rt) == nil {
		return
	}
	p.s.inc(wire.StatMsgsDropped)
	if len(b) > wire.HeaderSize+4 {
		var e [wire.HeaderSize + 4]byte
		id := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		_ = p.write(wire.AppendError(e[:0], id, wire.ErrCodeSend), rt)
	}
}

// write writes one datagram.
func (p *packetConn) write(b []byte, rt *replyTo) error {
	var err error
	if p.udp != nil {
		_, err = p.udp.WriteToUDPAddrPort(b, rt.ap)
	} else {
		_, err = p.pc.WriteTo(b, rt.addr)
	}
	return err
}
