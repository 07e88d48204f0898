package libnmdb

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// transport moves messages to and from one server.
type transport interface {
	// readMsg returns the next reply message. The slice is valid until
	// the next call. Only the link's reader calls it.
	readMsg() ([]byte, error)
	// write sends b: on a stream any number of framed messages, on a
	// datagram transport exactly one message.
	write(b []byte) error
	// setReadDeadline sets when a blocked readMsg gives up, with an
	// error matching os.ErrDeadlineExceeded, and leaves the transport
	// usable; the zero time means never. Any goroutine may call it.
	setReadDeadline(t time.Time) error
	Close() error
}

// streamConn is a TCP connection: messages carry a length prefix.
type streamConn struct {
	c  net.Conn
	io streamIO
	r  *bufio.Reader
}

// streamIO reads and writes a stream: Read as io.Reader does (for the
// link's reader), write all of b or fail (for whoever writes).
type streamIO interface {
	Read(p []byte) (int, error)
	write(b []byte) error
}

// netStream is a streamIO through the net package.
type netStream struct {
	c       net.Conn
	timeout time.Duration
}

func (s netStream) Read(p []byte) (int, error) { return s.c.Read(p) }

func (s netStream) write(b []byte) error {
	// A server that stops reading must not hold the writer forever.
	s.c.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.c.Write(b)
	return err
}

func dialTCP(ctx context.Context, ap netip.AddrPort, timeout time.Duration) (transport, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	sio := fastStream(c, timeout)
	return &streamConn{c: c, io: sio, r: bufio.NewReaderSize(sio, wire.TCPPrefix+wire.MaxMessage)}, nil
}

// readMsg returns the next message. It consumes nothing until the whole
// frame is in, so a read that fails (a deadline passed) can be repeated.
func (t *streamConn) readMsg() ([]byte, error) {
	p, err := t.r.Peek(wire.TCPPrefix)
	if err != nil {
		return nil, err
	}
	n, err := wire.FrameLen(p)
	if err != nil {
		// "HTTP", "SSH-" read as a length: the peer speaks something else.
		return nil, ErrNotNMDB
	}
	frame, err := t.r.Peek(wire.TCPPrefix + n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	t.r.Discard(len(frame))
	return frame[wire.TCPPrefix:], nil
}

func (t *streamConn) write(b []byte) error { return t.io.write(b) }

func (t *streamConn) setReadDeadline(d time.Time) error { return t.c.SetReadDeadline(d) }

func (t *streamConn) Close() error { return t.c.Close() }

// msgSocket is a socket that keeps message boundaries: each Write sends
// one message to the server, each Read returns one message from it.
type msgSocket interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	SetReadDeadline(t time.Time) error
	Close() error
}

// msgConn is a transport over a msgSocket (UDP, SCTP, TIPC): one message
// per request and per reply.
type msgConn struct {
	sock msgSocket
	buf  []byte
}

func newMsgConn(sock msgSocket) *msgConn {
	return &msgConn{sock: sock, buf: make([]byte, wire.MaxMessage+1)}
}

func dialUDP(ap netip.AddrPort) (transport, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, err
	}
	return newMsgConn(c), nil
}

// readMsg returns the next message, skipping any longer than a message
// can be.
func (t *msgConn) readMsg() ([]byte, error) {
	for {
		n, err := t.sock.Read(t.buf)
		if err != nil {
			return nil, err
		}
		if n <= wire.MaxMessage {
			return t.buf[:n], nil
		}
	}
}

func (t *msgConn) write(b []byte) error {
	_, err := t.sock.Write(b)
	return err
}

func (t *msgConn) setReadDeadline(d time.Time) error { return t.sock.SetReadDeadline(d) }

func (t *msgConn) Close() error { return t.sock.Close() }
