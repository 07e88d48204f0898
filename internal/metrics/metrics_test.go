package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/nmdb-go/nmdb/internal/version"
	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// serveMetrics serves Handler(src) on a free loopback port until the test
// ends and returns its base URL.
func serveMetrics(t *testing.T, src Source) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: Handler(src), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(l) }()
	t.Cleanup(func() {
		hs.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("metrics server: %v", err)
		}
	})
	return "http://" + l.Addr().String()
}

// scrape gets url and parses the text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	return fams
}

// value returns the single sample of family name, with labels matching
// label=val if given.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, label ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s in the scrape", name)
	}
	for _, m := range f.GetMetric() {
		if len(label) == 2 {
			match := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label[0] && lp.GetValue() == label[1] {
					match = true
				}
			}
			if !match {
				continue
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	t.Fatalf("no sample of %s %v", name, label)
	return 0
}

// TestScrape: a real server's counters, scraped over loopback.
func TestScrape(t *testing.T) {
	srv := nmdbtest.Start(t, "tcp", nmdb.Config{})
	c := libnmdb.New(libnmdb.Options{})
	t.Cleanup(func() { c.Close() })
	if err := c.AddTCPServer("127.0.0.1", srv.Port()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if err := c.SetSync(ctx, []byte(k), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Get(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, []byte("absent")); !errors.Is(err, libnmdb.ErrNotFound) {
		t.Fatalf("get absent: %v", err)
	}

	url := serveMetrics(t, srv.Stats)
	fams := scrape(t, url+"/metrics")
	for name, want := range map[string]float64{
		"nmdb_db_set_total":       3,
		"nmdb_db_get_total":       2,
		"nmdb_cache_hits_total":   1,
		"nmdb_cache_misses_total": 1,
		"nmdb_db_misses_total":    1,
		"nmdb_msg_tcp_total":      6, // 5 requests and the stats request that opens the connection
		"nmdb_objects_cached":     3,
		"nmdb_evictions_total":    0,
		"nmdb_open_connections":   1,
	} {
		if got := value(t, fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// Every counter the server sends is there, typed.
	for i := range wire.NumStats {
		switch i {
		case wire.StatUptime, wire.StatVersion, wire.StatRole:
			continue
		}
		found := false
		for _, m := range newCollector(srv.Stats).metrics {
			if m.idx == i {
				_, found = fams[m.name]
			}
		}
		if !found {
			t.Errorf("counter %q missing from the scrape", wire.StatName(i))
		}
	}
	if value(t, fams, "nmdb_bytes_cached") == 0 || fams["nmdb_bytes_cached"].GetType() != dto.MetricType_GAUGE {
		t.Error("bytes cached is not a gauge above 0")
	}
	if fams["nmdb_db_set_total"].GetType() != dto.MetricType_COUNTER || fams["nmdb_open_connections"].GetType() != dto.MetricType_GAUGE {
		t.Errorf("types: db set %v, open connections %v", fams["nmdb_db_set_total"].GetType(), fams["nmdb_open_connections"].GetType())
	}
	if value(t, fams, "nmdb_role", "role", "active") != 1 || value(t, fams, "nmdb_role", "role", "passive") != 0 {
		t.Error("role is not active")
	}
	if value(t, fams, "nmdb_build_info", "release", version.Release) != 1 {
		t.Error("no build info with the release")
	}
	if _, ok := fams["nmdb_uptime_seconds"]; !ok {
		t.Error("no uptime")
	}
	if _, ok := fams["process_open_fds"]; !ok {
		t.Error("no process metrics")
	}

	// The counters are read at each scrape. A passive server acts on the
	// get and does not reply, so the client gives up on it.
	srv.SetPassive(true)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Get(short, []byte("a")); err == nil {
		t.Fatal("a passive server replied")
	}
	guard := time.Now().Add(20 * time.Second)
	for {
		fams = scrape(t, url+"/metrics")
		if value(t, fams, "nmdb_db_get_total") == 3 {
			break
		}
		if time.Now().After(guard) {
			t.Fatalf("db get stuck at %v after a passive get, want 3", value(t, fams, "nmdb_db_get_total"))
		}
		time.Sleep(time.Millisecond)
	}
	if value(t, fams, "nmdb_role", "role", "passive") != 1 || value(t, fams, "nmdb_role", "role", "active") != 0 {
		t.Error("role is not passive after SetPassive")
	}

	// Only /metrics is served.
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /: %s, want 404", resp.Status)
	}
}
