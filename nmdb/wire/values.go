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
	StatRole                                // RoleActive, RolePassive, RoleMirror or RoleCatchingUp
	StatBytesCached                         // bytes the cache counts for its objects now
	StatEvictions                           // objects evicted from the cache to keep it within its bounds
	StatPromotions                          // times a TIPC mirror became its port's active server on its own
	StatStepDowns                           // times an active stepped down, meeting another active
	StatCatchUpKeys                         // keys stored or deleted by catch-ups, the one under way included
	StatCatchUps                            // catch-ups completed
	StatTerm                                // the TIPC port group's term this server knows: 1 at the first active, one more at each promotion
	// NumStats is the number of counters this server sends.
	NumStats
)

// Values of the StatRole counter.
const (
	RoleActive  = 0 // replies to requests
	RolePassive = 1 // acts on every request, never replies
	// RoleMirror: passive, in a TIPC port's group, caught up with the
	// active and eligible to take its place.
	RoleMirror = 2
	// RoleCatchingUp: passive, in a TIPC port's group, copying what it
	// missed from the active (or waiting for one); not eligible.
	RoleCatchingUp = 3
)

// RoleName returns the name of a StatRole value, or "unknown".
func RoleName(v uint64) string {
	switch v {
	case RoleActive:
		return "active"
	case RolePassive:
		return "passive"
	case RoleMirror:
		return "mirror"
	case RoleCatchingUp:
		return "catching up"
	}
	return "unknown"
}

// StatName returns the name of counter i as nmdb-stats prints it, or
// "unknown" for an index beyond NumStats.
func StatName(i int) string {
	names := [NumStats]string{
		StatCacheGet:        "cache get",
		StatCacheSet:        "cache set",
		StatCacheDel:        "cache del",
		StatCacheCAS:        "cache cas",
		StatCacheIncr:       "cache incr",
		StatDBGet:           "db get",
		StatDBSet:           "db set",
		StatDBDel:           "db del",
		StatDBCAS:           "db cas",
		StatDBIncr:          "db incr",
		StatCacheHits:       "cache hits",
		StatCacheMisses:     "cache misses",
		StatDBHits:          "db hits",
		StatDBMisses:        "db misses",
		StatMsgTIPC:         "msg tipc",
		StatMsgTCP:          "msg tcp",
		StatMsgUDP:          "msg udp",
		StatMsgSCTP:         "msg sctp",
		StatVersionMismatch: "version mismatch",
		StatBrokenRequests:  "broken requests",
		StatUnknownRequests: "unknown requests",
		StatDBFirstKey:      "db firstkey",
		StatDBNextKey:       "db nextkey",
		StatObjectsCached:   "objects cached",
		StatQueueLength:     "queue length",
		StatConnsClosed:     "conns closed",
		StatMsgsDropped:     "msgs dropped",
		StatUptime:          "uptime",
		StatVersion:         "version",
		StatOpenConns:       "open connections",
		StatRole:            "role",
		StatBytesCached:     "bytes cached",
		StatEvictions:       "evictions",
		StatPromotions:      "promotions",
		StatStepDowns:       "step downs",
		StatCatchUpKeys:     "catchup keys",
		StatCatchUps:        "catchups done",
		StatTerm:            "term",
	}
	if i < 0 || i >= len(names) {
		return "unknown"
	}
	return names[i]
}
