package libnmdb

import (
	"context"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// ServerStats is one server's counters by name. Classic nmdb servers send
// the first 23 (Classic is then true) and the counters they lack read 0;
// this project's servers send them all. Raw keeps the counters as sent, in
// wire order, including any this version of the client has no name for.
type ServerStats struct {
	// Requests answered from the cache, by operation.
	CacheGet, CacheSet, CacheDel, CacheCAS, CacheIncr uint64
	// Requests that reached the database, by operation.
	DBGet, DBSet, DBDel, DBCAS, DBIncr, DBFirstKey, DBNextKey uint64
	// Lookups that found their key, or not, in the cache and the database.
	CacheHits, CacheMisses, DBHits, DBMisses uint64
	// Messages received, by transport.
	MsgTIPC, MsgTCP, MsgUDP, MsgSCTP uint64
	// Requests refused: wrong protocol version, malformed, unknown.
	VersionMismatch, BrokenRequests, UnknownRequests uint64

	// Objects and bytes the cache holds now, and objects evicted to keep
	// it within its bounds.
	ObjectsCached, BytesCached, Evictions uint64
	// Database operations queued now.
	QueueLength uint64
	// TCP connections open now, and those closed for bad input or limits.
	OpenConns, ConnsClosed uint64
	// Datagrams dropped (undeliverable, oversized, unanswerable).
	MsgsDropped uint64
	// Time since the server started.
	Uptime time.Duration
	// The server's release, major*1000000 + minor*1000 + patch.
	Version uint64
	// The server's role: wire.RoleActive, RolePassive, RoleMirror or
	// RoleCatchingUp.
	Role uint64
	// TIPC port groups: promotions, step-downs, keys copied by catch-ups,
	// catch-ups done, and the group's term.
	Promotions, StepDowns, CatchUpKeys, CatchUps, Term uint64

	// Classic is true when the server sent no more than classic nmdb's
	// counters.
	Classic bool
	// Raw holds the counters as the server sent them, in wire order.
	Raw []uint64
}

// newServerStats names the counters c, as a server sent them.
func newServerStats(c []uint64) ServerStats {
	s := ServerStats{Classic: len(c) <= wire.ClassicStats, Raw: c}
	var uptime uint64
	fields := [...]*uint64{
		wire.StatCacheGet: &s.CacheGet, wire.StatCacheSet: &s.CacheSet,
		wire.StatCacheDel: &s.CacheDel, wire.StatCacheCAS: &s.CacheCAS,
		wire.StatCacheIncr: &s.CacheIncr, wire.StatDBGet: &s.DBGet,
		wire.StatDBSet: &s.DBSet, wire.StatDBDel: &s.DBDel,
		wire.StatDBCAS: &s.DBCAS, wire.StatDBIncr: &s.DBIncr,
		wire.StatCacheHits: &s.CacheHits, wire.StatCacheMisses: &s.CacheMisses,
		wire.StatDBHits: &s.DBHits, wire.StatDBMisses: &s.DBMisses,
		wire.StatMsgTIPC: &s.MsgTIPC, wire.StatMsgTCP: &s.MsgTCP,
		wire.StatMsgUDP: &s.MsgUDP, wire.StatMsgSCTP: &s.MsgSCTP,
		wire.StatVersionMismatch: &s.VersionMismatch,
		wire.StatBrokenRequests:  &s.BrokenRequests,
		wire.StatUnknownRequests: &s.UnknownRequests,
		wire.StatDBFirstKey:      &s.DBFirstKey, wire.StatDBNextKey: &s.DBNextKey,
		wire.StatObjectsCached: &s.ObjectsCached, wire.StatQueueLength: &s.QueueLength,
		wire.StatConnsClosed: &s.ConnsClosed, wire.StatMsgsDropped: &s.MsgsDropped,
		wire.StatUptime: &uptime, wire.StatVersion: &s.Version,
		wire.StatOpenConns: &s.OpenConns, wire.StatRole: &s.Role,
		wire.StatBytesCached: &s.BytesCached, wire.StatEvictions: &s.Evictions,
		wire.StatPromotions: &s.Promotions, wire.StatStepDowns: &s.StepDowns,
		wire.StatCatchUpKeys: &s.CatchUpKeys, wire.StatCatchUps: &s.CatchUps,
		wire.StatTerm: &s.Term,
	}
	for i, p := range fields {
		if i < len(c) && p != nil {
			*p = c[i]
		}
	}
	s.Uptime = time.Duration(uptime) * time.Second
	return s
}

// ServerStats returns the counters of every server by name, in sharding
// order (see Servers): Stats, with names instead of wire indices.
func (c *Client) ServerStats(ctx context.Context) ([]ServerStats, error) {
	raw, err := c.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ServerStats, len(raw))
	for i, r := range raw {
		out[i] = newServerStats(r)
	}
	return out, nil
}
