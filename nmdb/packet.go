package nmdb

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
	"github.com/nmdb-go/nmdb/tipc"
)

// dropCounter is a packet socket that drops some datagrams below the
// server (oversized, returned as undeliverable, without a sender address)
// and counts them, as tipc.Conn and sctp.Conn do.
type dropCounter interface {
	Dropped() uint64
}

// addrPortConn is a packet socket that reads and writes datagrams
// addressed by netip.AddrPort without allocating, as sctp.Conn does.
type addrPortConn interface {
	ReadFromAddrPort(p []byte) (int, netip.AddrPort, error)
	WriteToAddrPort(p []byte, to netip.AddrPort) (int, error)
}

// packetConn is a datagram socket being served. The sender of a request
// is kept in replyTo by value whenever the socket allows it (ap for UDP and
// SCTP, ta for TIPC), so that neither the read nor a
// queued reply allocates for it; other sockets use replyTo.addr.
type packetConn struct {
	s    *Server
	pc   net.PacketConn
	udp  *net.UDPConn // pc, when it is UDP
	raw  *udpRaw      // udp's descriptor, for its reader's own reads and replies
	tipc *tipc.Conn   // pc, when it is TIPC
	apc  addrPortConn // pc, when it offers netip.AddrPort reads and writes
	t    Transport
	stat int // the counter of messages received

	drops dropCounter // pc, when it counts datagrams it dropped itself
	seen  uint64      // drops.Dropped() already added to StatMsgsDropped (the reader's)
}

// ServePacket serves one request per datagram read from pc, replying to the
// sender with one datagram, until Shutdown; it then returns
// ErrServerClosed. t names pc's transport (UDP, TIPC or SCTP) for the
// statistics. One goroutine, the caller's, reads pc.
//
// Bad datagrams are counted and never stop the server. An empty one is
// counted as dropped; malformed requests, those shorter than a header
// included, are counted by kind (version, unknown, broken) and answered as
// the request handler does. A UDP datagram longer than any request is cut
// short by the read and answered with ERR broken. TIPC and SCTP sockets drop
// messages longer than the read buffer themselves, as well as TIPC replies
// returned as undeliverable; when pc reports such drops (a Dropped() uint64
// method, as tipc.Conn and sctp.Conn have), they are added to the "msgs
// dropped" counter as the reader comes across them, at the latest with the
// next datagram read. For a *tipc.Conn, ServePacket turns on
// SetReturnUndeliverable, so that a reply to a client whose socket has gone
// comes back and is counted rather than vanishing.
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
	switch c := pc.(type) {
	case *net.UDPConn:
		p.udp = c
		p.raw = newUDPRaw(c, s.spin.newSpinner())
	case *tipc.Conn:
		p.tipc = c
		if err := c.SetReturnUndeliverable(true); err != nil {
			return fmt.Errorf("nmdb: serving %v socket: %w", t, err)
		}
	case addrPortConn:
		p.apc = c
	}
	if d, ok := pc.(dropCounter); ok {
		p.drops = d
		p.seen = d.Dropped() // count only what is dropped while serving
	}

	// One reader per socket: readers of one socket would only take turns
	// on its lock.
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.packets[p] = struct{}{}
	s.readers.Add(1)
	s.mu.Unlock()
	err := p.read()
	s.readers.Done()
	p.foldDrops()
	if s.closing.Load() {
		return ErrServerClosed
	}
	s.mu.Lock()
	delete(s.packets, p)
	s.mu.Unlock()
	return err
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
	// The reader's own replies may use raw; queued requests' replies,
	// sent by the database worker, do not (enqueue clears reader).
	rt.reader = true
	if p.raw != nil {
		defer p.raw.done()
	}
	failures := 0
	for {
		var n int
		var err error
		switch {
		case p.raw != nil:
			n, rt.ap, err = p.raw.readFrom(buf)
		case p.udp != nil:
			n, rt.ap, err = p.udp.ReadFromUDPAddrPort(buf)
		case p.tipc != nil:
			n, err = p.tipc.ReadFromTIPC(buf, &rt.ta)
		case p.apc != nil:
			n, rt.ap, err = p.apc.ReadFromAddrPort(buf)
		default:
			n, rt.addr, err = p.pc.ReadFrom(buf)
		}
		p.foldDrops()
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
		if n < wire.HeaderSize {
			// Too short to carry a request id: no reply can be matched
			// to it, so none is sent (nor can a forged sender address
			// get one).
			s.inc(wire.StatMsgsDropped)
			continue
		}
		// A UDP datagram longer than buf arrives cut to len(buf), one
		// byte more than MaxMessage, which DecodeRequest rejects as
		// broken. TIPC and SCTP sockets drop such messages themselves.
		s.handle(buf[:n], &rt, &sc)
	}
}

// foldDrops adds the datagrams the socket dropped since the last call to
// the server's "msgs dropped" counter. The reader calls it after every
// read, and ServePacket once the reader has stopped.
func (p *packetConn) foldDrops() {
	if p.drops == nil {
		return
	}
	if n := p.drops.Dropped(); n > p.seen {
		p.s.stats[wire.StatMsgsDropped].Add(n - p.seen)
		p.seen = n
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
		_ = p.write(wire.AppendError(e[:0], wire.MessageID(b), wire.ErrCodeSend), rt)
	}
}

// write writes one datagram.
func (p *packetConn) write(b []byte, rt *replyTo) error {
	var err error
	switch {
	case p.raw != nil && rt.reader:
		err = p.raw.writeTo(b, rt.ap)
	case p.udp != nil:
		_, err = p.udp.WriteToUDPAddrPort(b, rt.ap)
	case p.tipc != nil:
		_, err = p.tipc.WriteToTIPC(b, &rt.ta)
	case p.apc != nil:
		_, err = p.apc.WriteToAddrPort(b, rt.ap)
	default:
		_, err = p.pc.WriteTo(b, rt.addr)
	}
	return err
}
