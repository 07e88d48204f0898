package libnmdb

import "github.com/nmdb-go/nmdb/tipc"

// tipcSocket is an unbound TIPC reliable-datagram socket whose writes go
// to one server's service range.
type tipcSocket struct {
	*tipc.Conn
	to *tipc.Addr
}

func (s tipcSocket) Write(p []byte) (int, error) { return s.WriteToTIPC(p, s.to) }

func dialTIPC(port uint32) (transport, error) {
	c, err := tipc.Dial()
	if err != nil {
		return nil, err
	}
	return newMsgConn(tipcSocket{Conn: c, to: tipc.ServiceAddr(int(port))}), nil
}
