// Package pktconn is what the packet sockets of packages tipc and sctp
// share beyond the protocol: the descriptor in Go's poller (package
// sockfd), deadlines, socket buffers, SyscallConn, Close, the counts of
// messages dropped, and the wrapping of errors in *net.OpError. A
// protocol's Conn embeds a Conn, which gives it those methods; the
// functions of this package are for the protocol's own code.
package pktconn
