package nmdb

import (
	"net"
	"testing"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// TestUDPAddressFamilies serves UDP on IPv4, IPv6 and a dual-stack socket,
// and checks that replies reach the sender both from the socket's reader
// (cache hits) and from the database worker (normal and sync writes).
func TestUDPAddressFamilies(t *testing.T) {
	for _, tc := range []struct{ listen, dial string }{
		{"127.0.0.1:0", "127.0.0.1"},
		{"[::1]:0", "::1"},
		{"[::]:0", "127.0.0.1"}, // IPv4 sender on a dual-stack socket
	} {
		t.Run(tc.listen, func(t *testing.T) {
			if tc.listen != "127.0.0.1:0" {
				c, err := net.ListenPacket("udp6", "[::1]:0")
				if err != nil {
					t.Skipf("no IPv6 loopback here: %v", err)
				}
				c.Close()
			}
			ts := startServer(t, serverOpts{udp: true, udpAt: tc.listen})
			_, port, err := net.SplitHostPort(ts.udp)
			if err != nil {
				t.Fatal(err)
			}
			ts.udp = net.JoinHostPort(tc.dial, port)
			c := ts.dialUDP()
			expect(t, "normal set", c.Do(setReq("k", "v1", normal)), wire.CodeOK)
			expect(t, "get", c.Do(getReq("k", normal)), wire.CodeCacheHit, "v1")
			expect(t, "sync set", c.Do(setReq("k", "v2", syncF)), wire.CodeOK)
			expect(t, "cache set", c.Do(setReq("c", "v3", cOnly)), wire.CodeOK)
			expect(t, "cache get", c.Do(getReq("c", cOnly)), wire.CodeCacheHit, "v3")
			expect(t, "get after sync set", c.Do(getReq("k", normal)), wire.CodeCacheHit, "v2")
		})
	}
}
