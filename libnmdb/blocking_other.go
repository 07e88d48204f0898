//go:build !linux

package libnmdb

import (
	"net/netip"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// blockPool is Linux only (see blocking_linux.go); elsewhere servers have
// none, and Options.ThreadWait has no effect.
type blockPool struct{}

func newBlockPool(*server, netip.AddrPort) *blockPool { return nil }

func (*blockPool) close() {}

func (*blockPool) callCount() uint64 { return 0 }

func (c *Client) execBlocking(*server, *wire.Request, bool, time.Time) (*call, bool, error) {
	return nil, false, nil
}
