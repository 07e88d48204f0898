package libnmdb

import (
	"context"
	"net/netip"

	"github.com/nmdb-go/nmdb/nmdb/sctp"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// sctpConn is an SCTP association with one server: one message per
// request and per reply, delivered reliably.
type sctpConn struct {
	c   *sctp.Conn
	buf []byte
}

func dialSCTP(ctx context.Context, ap netip.AddrPort) (transport, error) {
	c, err := sctp.DialContext(ctx, ap.Addr().String(), int(ap.Port()))
	if err != nil {
		return nil, err
	}
	return &sctpConn{c: c, buf: make([]byte, wire.MaxMessage+1)}, nil
}

func (t *sctpConn) readMsg() ([]byte, error) {
	for {
		n, err := t.c.Read(t.buf)
		if err != nil {
			return nil, err
		}
		if n <= wire.MaxMessage {
			return t.buf[:n], nil
		}
	}
}

func (t *sctpConn) write(b []byte) error {
	_, err := t.c.Write(b)
	return err
}

func (t *sctpConn) Close() error { return t.c.Close() }
