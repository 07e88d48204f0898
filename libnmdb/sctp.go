package libnmdb

import (
	"context"
	"net/netip"

	"github.com/nmdb-go/nmdb/internal/sctp"
)

// dialSCTP sets up an SCTP association with one server: one message per
// request and per reply, delivered reliably.
func dialSCTP(ctx context.Context, ap netip.AddrPort) (transport, error) {
	c, err := sctp.DialContext(ctx, ap.Addr().String(), int(ap.Port()))
	if err != nil {
		return nil, err
	}
	return newMsgConn(c), nil
}
