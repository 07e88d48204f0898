//go:build !linux

package libnmdb

import (
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// threadWait is not available outside Linux: direct calls wait in Go's
// poller (see threadwait_linux.go).
type threadWait struct{}

func newThreadWait(transport) *threadWait { return nil }

func (tw *threadWait) read(ln *link, r *wire.Reply, _ time.Time) ([]byte, error) {
	return ln.readReply(r)
}
