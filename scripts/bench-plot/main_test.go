package main

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `row        test                                                      nmdb       best peer                     peer       RATIO  goal    met  nmdb µs p50/p99/p999  peer µs p50/p99/p999
1-get-tcp  1 client, 1 in flight, cache-only get, TCP                18238/s    memcached tcp                 20200/s    0.90x  >= 1.0  NO   32/173/379            49/132/191
3-get-raw  pipelined get: raw client, 4 conns x 16 in flight         493826/s   redis-benchmark -P16 -c4 get  516296/s   0.96x               90/668/4145           103/223/-
4-group    sync sets: 16 clients vs 1 client (group commit)          23453/s    nmdb sync 1 client            2969/s     7.90x  >= 5.0  yes  627/1434/5603         313/545/1679
5-mem      RSS with 1000000 objects (cache-only sets)                227.7 MiB  memcached -m 2048             154.2 MiB  1.48x  <= 1.0  NO   -                     -
`

func TestParse(t *testing.T) {
	rows, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := []row{
		{id: "1-get-tcp", test: "1 client, 1 in flight, cache-only get, TCP", peer: "memcached tcp", ratio: 0.9, goal: ">= 1.0", limit: 1},
		{id: "4-group", test: "sync sets: 16 clients vs 1 client (group commit)", peer: "nmdb sync 1 client", ratio: 7.9, goal: ">= 5.0", limit: 5, met: true},
		{id: "5-mem", test: "RSS with 1000000 objects (cache-only sets)", peer: "memcached -m 2048", ratio: 1.48, goal: "<= 1.0", limit: 1, lower: true},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d headline rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, rows[i], want[i])
		}
	}
	if _, err := parse(strings.NewReader("no table here\n")); err == nil {
		t.Error("parse accepted a file without a table")
	}
}

// TestPlot: both charts are written and are well-formed XML with a bar per
// headline row (and run).
func TestPlot(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, name := range []string{"b.txt", "a.txt"} {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(sample), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if err := plot(dir, files); err != nil {
		t.Fatal(err)
	}
	for name, bars := range map[string]int{"ratio-latest.svg": 3, "ratio-runs.svg": 3 * 2} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		rects := 0
		d := xml.NewDecoder(strings.NewReader(string(b)))
		for {
			tok, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s is not well-formed: %v", name, err)
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
				for _, a := range se.Attr {
					if a.Name.Local == "height" && a.Value != "100%" && a.Value != "10" {
						rects++ // a bar, not the background or a legend swatch
					}
				}
			}
		}
		if rects != bars {
			t.Errorf("%s has %d bars, want %d", name, rects, bars)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ratio-runs.svg")); !strings.Contains(string(b), ">a</text>") ||
		strings.Index(string(b), ">a</text>") > strings.Index(string(b), ">b</text>") {
		t.Error("the runs are not in name order in the legend")
	}
}
