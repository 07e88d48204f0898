package wire

import "strconv"

// IncrWidth is the size of a value written by incr: the number right-aligned
// in 23 characters followed by a NUL byte.
const IncrWidth = 24

// ParseCounter reads a value the way incr does: a decimal integer as C's
// strtoll reads it (leading white space, an optional sign, digits), which
// must end in a NUL byte as the value's last byte. It reports false for
// anything else, including a number that does not fit an int64.
func ParseCounter(v []byte) (int64, bool) {
	if len(v) < 2 || v[len(v)-1] != 0 {
		return 0, false
	}
	s := v[:len(v)-1]
	i := 0
	for i < len(s) && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
		i++
	}
	s = s[i:]
	if len(s) == 0 {
		return 0, false
	}
	for j, c := range s {
		if c >= '0' && c <= '9' || (j == 0 && (c == '+' || c == '-')) {
			continue
		}
		return 0, false
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// AppendCounter appends n in the format incr stores: right-aligned in 23
// characters, then a NUL byte.
func AppendCounter(b []byte, n int64) []byte {
	var tmp [24]byte
	d := strconv.AppendInt(tmp[:0], n, 10)
	for i := len(d); i < IncrWidth-1; i++ {
		b = append(b, ' ')
	}
	b = append(b, d...)
	return append(b, 0)
}

// Incr applies delta to the counter stored in v and returns the new value
// and its stored form appended to dst. ok is false when v is not a counter.
// The addition wraps around as two's complement integers do.
func Incr(dst, v []byte, delta int64) (n int64, out []byte, ok bool) {
	old, ok := ParseCounter(v)
	if !ok {
		return 0, dst, false
	}
	n = old + delta
	return n, AppendCounter(dst, n), true
}

// Indices of the stats counters in wire order. The first ClassicStats are
// the ones classic nmdb sends; the rest were added by this implementation and
// follow them, so old tools print them as unknown fields.
const (
	StatCacheGet = iota
	StatCacheSet
	StatCacheDel
	StatCacheCAS
	StatCacheIncr
	StatDBGet
	StatDBSet
	StatDBDel
	StatDBCAS
	StatDBIncr
	StatCacheHits
	StatCacheMisses
	StatDBHits
	StatDBMisses
	StatMsgTIPC
	StatMsgTCP
	StatMsgUDP
	StatMsgSCTP
	StatVersionMismatch
	StatBrokenRequests
	StatUnknownRequests
	StatDBFirstKey
	StatDBNextKey
	// ClassicStats is the number of counters classic nmdb sends.
	ClassicStats
)

// Counters added by this implementation, after the classic ones.
const (
	StatObjectsCached = ClassicStats + iota // objects in the cache now
	StatQueueLength                         // database operations queued now
	StatConnsClosed                         // connections closed for bad input or limits
	StatMsgsDropped                         // datagrams dropped (undeliverable, oversized, unanswerable)
	StatUptime                              // seconds since the server started
	StatVersion                             // release number, major*1000000 + minor*1000 + patch
	StatOpenConns                           // TCP connections open now
	StatRole                                // RoleActive or RolePassive
	StatBytesCached                         // bytes the cache counts for its objects now
	StatEvictions                           // objects evicted from the cache to keep it within its bounds
	// NumStats is the number of counters this server sends.
	NumStats
)

// Values of the StatRole counter.
const (
	RoleActive  = 0 // replies to requests
	RolePassive = 1 // acts on every request, never replies
)

// RoleName returns the name of a StatRole value, or "unknown".
func RoleName(v uint64) string {
	switch v {
	case RoleActive:
		return "active"
	case RolePassive:
		return "passive"
	}
	return "unknown"
}

// StatName returns the name of counter i as nmdb-stats prints it, or
// "unknown" for an index beyond NumStats.
func StatName(i int) string {
	switch i {
	case StatCacheGet:
		return "cache get"
	case StatCacheSet:
		return "cache set"
	case StatCacheDel:
		return "cache del"
	case StatCacheCAS:
		return "cache cas"
	case StatCacheIncr:
		return "cache incr"
	case StatDBGet:
		return "db get"
	case StatDBSet:
		return "db set"
	case StatDBDel:
		return "db del"
	case StatDBCAS:
		return "db cas"
	case StatDBIncr:
		return "db incr"
	case StatCacheHits:
		return "cache hits"
	case StatCacheMisses:
		return "cache misses"
	case StatDBHits:
		return "db hits"
	case StatDBMisses:
		return "db misses"
	case StatMsgTIPC:
		return "msg tipc"
	case StatMsgTCP:
		return "msg tcp"
	case StatMsgUDP:
		return "msg udp"
	case StatMsgSCTP:
		return "msg sctp"
	case StatVersionMismatch:
		return "version mismatch"
	case StatBrokenRequests:
		return "broken requests"
	case StatUnknownRequests:
		return "unknown requests"
	case StatDBFirstKey:
		return "db firstkey"
	case StatDBNextKey:
		return "db nextkey"
	case StatObjectsCached:
		return "objects cached"
	case StatQueueLength:
		return "queue length"
	case StatConnsClosed:
		return "conns closed"
	case StatMsgsDropped:
		return "msgs dropped"
	case StatUptime:
		return "uptime"
	case StatVersion:
		return "version"
	case StatOpenConns:
		return "open connections"
	case StatRole:
		return "role"
	case StatBytesCached:
		return "bytes cached"
	case StatEvictions:
		return "evictions"
	}
	return "unknown"
}
