package libnmdb

// DirectCalls returns how many calls of c read their reply themselves
// and how many times a call handed the reading to the reader goroutine.
func DirectCalls(c *Client) (direct, handoffs uint64) {
	return c.direct.Load(), c.handoffs.Load()
}

// BlockingCalls returns how many calls of c went on a connection in
// blocking mode (Options.ThreadWait).
func BlockingCalls(c *Client) uint64 { return c.blocking.Load() }

// NewServerStatsForTest names the counters c.
func NewServerStatsForTest(c []uint64) ServerStats { return newServerStats(c) }
