// Package statsfmt prints statistics counters as nmdb-stats does: the 23
// classic counters line for line as classic nmdb-stats prints them, then
// the counters this implementation adds, by name. nmdb-stats and nmdb-cli's
// stats command share it.
package statsfmt

import (
	"fmt"
	"io"

	"github.com/nmdb-go/nmdb/internal/version"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// classicOrder is the order in which classic nmdb-stats prints the 23
// classic counters (not the wire order: db firstkey and db nextkey come
// right after db incr).
var classicOrder = [wire.ClassicStats]int{
	wire.StatCacheGet, wire.StatCacheSet, wire.StatCacheDel, wire.StatCacheCAS, wire.StatCacheIncr,
	wire.StatDBGet, wire.StatDBSet, wire.StatDBDel, wire.StatDBCAS, wire.StatDBIncr,
	wire.StatDBFirstKey, wire.StatDBNextKey,
	wire.StatCacheHits, wire.StatCacheMisses, wire.StatDBHits, wire.StatDBMisses,
	wire.StatMsgTIPC, wire.StatMsgTCP, wire.StatMsgUDP, wire.StatMsgSCTP,
	wire.StatVersionMismatch, wire.StatBrokenRequests, wire.StatUnknownRequests,
}

// Write prints the counters of every server in the classic format: for
// each, "stats for server N:", the classic counters in classic order, then
// the others in wire order, each as "<TAB>value<TAB>name", then an empty
// line.
func Write(w io.Writer, stats [][]uint64) error {
	var b []byte
	for i, s := range stats {
		b = fmt.Appendf(b, "stats for server %d:\n", i)
		for _, j := range classicOrder {
			if j < len(s) {
				b = fmt.Appendf(b, "\t%d\t%s\n", s[j], wire.StatName(j))
			}
		}
		for j := wire.ClassicStats; j < len(s); j++ {
			b = appendExtra(b, j, s[j])
		}
		b = append(b, '\n')
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing stats: %w", err)
	}
	return nil
}

// appendExtra appends the line of counter j, one this implementation added:
// its value (version and role as text) and its name, or "unknown field" as
// classic nmdb-stats names counters it does not know.
func appendExtra(b []byte, j int, v uint64) []byte {
	name := wire.StatName(j)
	if j >= wire.NumStats || name == "unknown" {
		return fmt.Appendf(b, "\t%d\tunknown field\n", v)
	}
	switch j {
	case wire.StatVersion:
		return fmt.Appendf(b, "\t%s\t%s\n", version.FormatNumber(v), name)
	case wire.StatRole:
		return fmt.Appendf(b, "\t%s\t%s\n", wire.RoleName(v), name)
	}
	return fmt.Appendf(b, "\t%d\t%s\n", v, name)
}
