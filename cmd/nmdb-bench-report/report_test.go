package main

import (
	"strings"
	"testing"

	"github.com/nmdb-go/nmdb/cmd/internal/benchresult"
)

func TestReportTable(t *testing.T) {
	rs := []*benchresult.Result{
		{Row: "1", Test: "get", Name: "nmdb tcp", Role: "nmdb", Goal: ">= 1.0", Metric: "ops", OpsPerSec: 150, Ops: 1},
		{Row: "1", Name: "memcached tcp", Role: "peer", Metric: "ops", OpsPerSec: 100, Ops: 1},
		{Row: "1", Name: "redis tcp", Role: "peer", Metric: "ops", OpsPerSec: 50, Ops: 1},
		{Row: "5", Test: "memory", Name: "nmdb", Role: "nmdb", Goal: "<= 1.0", Metric: "rss", RSSKiB: 300 * 1024},
		{Row: "5", Name: "memcached", Role: "peer", Metric: "rss", RSSKiB: 200 * 1024},
		{Row: "5", Name: "redis", Role: "peer", Metric: "rss", RSSKiB: 250 * 1024},
		{Row: "7", Test: "start", Name: "C library", Role: "nmdb", Goal: ">= 0.5", Metric: "runs", OpsPerSec: 30, Ops: 90},
		{Row: "7", Name: "raw C", Role: "peer", Metric: "runs", OpsPerSec: 120, Ops: 360},
	}
	var b strings.Builder
	if err := writeTable(&b, rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"1.50x", "memcached tcp", "yes", "300.0 MiB", "1.50x", "NO", "30.0 runs/s", "120.0 runs/s", "0.25x"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "redis") {
		t.Errorf("table names a peer that is not the best:\n%s", out)
	}
}

func TestParseRedisCSV(t *testing.T) {
	recs := [][]string{
		{"test", "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "max_latency_ms"},
		{"SET", "390000.00", "0.1", "0.01", "0.120", "0.2", "0.250", "1"},
		{"GET", "580000.00", "0.1", "0.01", "0.100", "0.2", "0.200", "1"},
	}
	c := config{Labels: benchresult.Labels{Name: "redis-benchmark get", Row: "3g", Role: "peer"}, requests: 1000}
	rs, err := parseRedisCSV(recs, &c)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].OpsPerSec != 580000 || rs[0].P50us != 100 || rs[0].P99us != 200 || rs[0].Row != "3g" || rs[0].Ops != 1000 {
		t.Errorf("got %+v", rs)
	}
	if _, err := parseRedisCSV(recs[:1], &c); err == nil {
		t.Error("empty output accepted")
	}
}
