package libnmdb

// DirectCalls returns how many calls of c read their reply themselves
// and how many times a call handed the reading to the reader goroutine.
func DirectCalls(c *Client) (direct, handoffs uint64) {
	return c.direct.Load(), c.handoffs.Load()
}

// BlockingCalls returns how many calls of c went on a connection in
// blocking mode (Options.ThreadWait).
func BlockingCalls(c *Client) uint64 { return c.blockingCalls() }

// blockingCalls adds up the calls made on the connections in blocking
// mode of c's servers.
func (c *Client) blockingCalls() uint64 {
	var n uint64
	if list := c.servers.Load(); list != nil {
		for _, s := range *list {
			if s.blk != nil {
				n += s.blk.callCount()
			}
		}
	}
	return n
}

// NewServerStatsForTest names the counters c.
func NewServerStatsForTest(c []uint64) ServerStats { return newServerStats(c) }
