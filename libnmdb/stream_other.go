//go:build !linux

package libnmdb

import (
	"net"
	"time"
)

// fastStream returns the streamIO of a TCP connection: the net package's
// (see stream_linux.go for Linux).
func fastStream(c net.Conn, timeout time.Duration) streamIO {
	return netStream{c: c, timeout: timeout}
}
