// Package metrics serves an nmdb server's statistics counters to Prometheus
// (the text format on GET /metrics), read from the server at each scrape.
// The daemon serves it when started with -M addr.
package metrics

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nmdb-go/nmdb/internal/version"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// Source gives the counters in wire order, as nmdb.Server.Stats does.
type Source func() []uint64

// gauges are the counters that are levels, not monotonic counts, with their
// help; every other counter is a Prometheus counter named
// nmdb_<name>_total. A counter added to the wire must be added here if it
// is a level.
var gauges = map[int]string{
	wire.StatObjectsCached: "Objects in the cache now.",
	wire.StatQueueLength:   "Database operations queued now.",
	wire.StatOpenConns:     "TCP connections open now.",
	wire.StatBytesCached:   "Bytes the cache counts for its objects now.",
	wire.StatTerm:          "The term of the TIPC port's group this server knows.",
}

// help of the counters, by wire index; a counter missing here gets its
// nmdb-stats name as help.
var help = map[int]string{
	wire.StatCacheGet:        "Cache-only get requests.",
	wire.StatCacheSet:        "Cache-only set requests.",
	wire.StatCacheDel:        "Cache-only del requests.",
	wire.StatCacheCAS:        "Cache-only cas requests.",
	wire.StatCacheIncr:       "Cache-only incr requests.",
	wire.StatDBGet:           "Get requests that may go to the database.",
	wire.StatDBSet:           "Set requests that go to the database.",
	wire.StatDBDel:           "Del requests that go to the database.",
	wire.StatDBCAS:           "Cas requests that go to the database.",
	wire.StatDBIncr:          "Incr requests that go to the database.",
	wire.StatCacheHits:       "Gets answered from the cache.",
	wire.StatCacheMisses:     "Gets that missed the cache.",
	wire.StatDBHits:          "Database reads that found the key.",
	wire.StatDBMisses:        "Database reads that did not find the key.",
	wire.StatMsgTIPC:         "Messages received over TIPC.",
	wire.StatMsgTCP:          "Messages received over TCP.",
	wire.StatMsgUDP:          "Messages received over UDP.",
	wire.StatMsgSCTP:         "Messages received over SCTP.",
	wire.StatVersionMismatch: "Requests of another protocol version.",
	wire.StatBrokenRequests:  "Malformed requests.",
	wire.StatUnknownRequests: "Requests with an unknown code.",
	wire.StatDBFirstKey:      "Firstkey requests.",
	wire.StatDBNextKey:       "Nextkey requests.",
	wire.StatConnsClosed:     "Connections closed for bad input or over a limit.",
	wire.StatMsgsDropped:     "Datagrams dropped: undeliverable, oversized or unanswerable.",
	wire.StatEvictions:       "Objects evicted from the cache to keep it within its bounds.",
}

// metric is how one wire counter is exported.
type metric struct {
	idx  int
	name string
	desc *prometheus.Desc
	kind prometheus.ValueType
}

// collector reads the counters once per scrape.
type collector struct {
	src     Source
	metrics []metric
	uptime  *prometheus.Desc
	role    *prometheus.Desc
	info    *prometheus.Desc
}

// newCollector describes every counter the server sends.
func newCollector(src Source) *collector {
	c := &collector{
		src:    src,
		uptime: prometheus.NewDesc("nmdb_uptime_seconds", "Seconds since the server started.", nil, nil),
		role: prometheus.NewDesc("nmdb_role", "The server's role: 1 for the one it has, 0 for the others.",
			[]string{"role"}, nil),
		info: prometheus.NewDesc("nmdb_build_info", "The server's release and build; always 1.",
			[]string{"release", "version"}, nil),
	}
	for i := range wire.NumStats {
		switch i {
		case wire.StatUptime, wire.StatVersion, wire.StatRole:
			continue // exported on their own, above
		}
		name := "nmdb_" + strings.ReplaceAll(wire.StatName(i), " ", "_")
		m := metric{idx: i, kind: prometheus.CounterValue}
		h, ok := help[i]
		if g, isGauge := gauges[i]; isGauge {
			m.kind, h, ok = prometheus.GaugeValue, g, true
		} else {
			name += "_total"
		}
		if !ok {
			h = "The counter nmdb-stats prints as \"" + wire.StatName(i) + "\"."
		}
		m.name, m.desc = name, prometheus.NewDesc(name, h, nil, nil)
		c.metrics = append(c.metrics, m)
	}
	return c
}

// Describe sends the description of every metric.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
	ch <- c.uptime
	ch <- c.role
	ch <- c.info
}

// Collect reads the counters and sends them.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src()
	for _, m := range c.metrics {
		if m.idx < len(st) {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, float64(st[m.idx]))
		}
	}
	if wire.StatUptime < len(st) {
		ch <- prometheus.MustNewConstMetric(c.uptime, prometheus.GaugeValue, float64(st[wire.StatUptime]))
	}
	if wire.StatRole < len(st) {
		for _, r := range []uint64{wire.RoleActive, wire.RolePassive, wire.RoleMirror, wire.RoleCatchingUp} {
			v := 0.0
			if st[wire.StatRole] == r {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.role, prometheus.GaugeValue, v, wire.RoleName(r))
		}
	}
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, version.Release, version.String())
}

// Handler returns the HTTP handler of the metrics endpoint: GET /metrics
// answers with the counters of src, the Go runtime's and the process's
// metrics, in Prometheus's text format; other paths are not found.
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	return mux
}
