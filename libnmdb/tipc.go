package libnmdb

import (
	"github.com/nmdb-go/nmdb/nmdb/wire"
	"github.com/nmdb-go/nmdb/tipc"
)

// tipcConn is an unbound TIPC reliable-datagram socket sending to one
// server's service range.
type tipcConn struct {
	c   *tipc.Conn
	to  *tipc.Addr
	buf []byte
}

func dialTIPC(port uint32) (transport, error) {
	c, err := tipc.Dial()
	if err != nil {
		return nil, err
	}
	return &tipcConn{c: c, to: tipc.ServiceAddr(int(port)), buf: make([]byte, wire.MaxMessage+1)}, nil
}

func (t *tipcConn) readMsg() ([]byte, error) {
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

func (t *tipcConn) write(b []byte) error {
	_, err := t.c.WriteToTIPC(b, t.to)
	return err
}

func (t *tipcConn) Close() error { return t.c.Close() }
