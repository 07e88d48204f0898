package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/nmdb-go/nmdb/cmd/internal/benchresult"
)

// tableRow is one line of the comparison table: the nmdb result of a row
// and the best of its peers.
type tableRow struct {
	row, test, goal, metric string
	nmdb, peer              *benchresult.Result
	peers                   []*benchresult.Result
	noted                   bool // described by a note
}

// value returns what the row compares for r.
func (t *tableRow) value(r *benchresult.Result) float64 {
	if t.metric == "rss" {
		return float64(r.RSSKiB)
	}
	return r.OpsPerSec
}

// better reports whether a beats b on the row's metric.
func (t *tableRow) better(a, b *benchresult.Result) bool {
	if t.metric == "rss" {
		return t.value(a) < t.value(b)
	}
	return t.value(a) > t.value(b)
}

// rowRoles splits a result's row field: a comma-separated list of rows,
// each optionally with "=role" to give the result another role in that row
// than its own (so one measurement can serve several rows).
func rowRoles(r *benchresult.Result) [][2]string {
	var out [][2]string
	for _, item := range strings.Split(r.Row, ",") {
		row, role, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			role = r.Role
		}
		if row != "" {
			out = append(out, [2]string{row, role})
		}
	}
	return out
}

// median returns the result with the median value among rs (the lower
// middle one for an even count).
func (t *tableRow) median(rs []*benchresult.Result) *benchresult.Result {
	s := slices.Clone(rs)
	slices.SortStableFunc(s, func(a, b *benchresult.Result) int {
		switch {
		case t.better(a, b):
			return -1
		case t.better(b, a):
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

// buildTable groups results by row, in order of first appearance. A name
// measured several times in a row counts with its median run.
func buildTable(rs []*benchresult.Result) []*tableRow {
	var rows []*tableRow
	byRow := map[string]*tableRow{}
	type entry struct {
		role string
		rs   []*benchresult.Result
	}
	runs := map[string]map[string]*entry{} // row -> name -> runs
	names := map[string][]string{}         // row -> names in order
	for _, r := range rs {
		if r.Name == "" {
			// A note: the row's description and goal.
			t := byRow[r.Row]
			if t == nil {
				t = &tableRow{row: r.Row, metric: r.Metric}
				byRow[r.Row] = t
				rows = append(rows, t)
				runs[r.Row] = map[string]*entry{}
			}
			t.test, t.goal, t.metric, t.noted = r.Test, r.Goal, r.Metric, true
			continue
		}
		for _, rr := range rowRoles(r) {
			row, role := rr[0], rr[1]
			t := byRow[row]
			if t == nil {
				t = &tableRow{row: row, metric: r.Metric}
				byRow[row] = t
				rows = append(rows, t)
				runs[row] = map[string]*entry{}
			}
			if !t.noted && r.Test != "" && (role == "nmdb" || t.test == "") {
				t.test = r.Test
			}
			if !t.noted && r.Goal != "" && (role == "nmdb" || t.goal == "") {
				t.goal = r.Goal
			}
			e := runs[row][r.Name]
			if e == nil {
				e = &entry{role: role}
				runs[row][r.Name] = e
				names[row] = append(names[row], r.Name)
			}
			e.rs = append(e.rs, r)
		}
	}
	for _, t := range rows {
		for _, name := range names[t.row] {
			e := runs[t.row][name]
			m := t.median(e.rs)
			switch e.role {
			case "nmdb":
				t.nmdb = m
			case "peer":
				t.peers = append(t.peers, m)
				if t.peer == nil || t.better(m, t.peer) {
					t.peer = m
				}
			}
		}
	}
	return rows
}

// ratio returns nmdb's value over the best peer's, or NaN.
func (t *tableRow) ratio() float64 {
	if t.nmdb == nil || t.peer == nil || t.value(t.peer) == 0 {
		return math.NaN()
	}
	return t.value(t.nmdb) / t.value(t.peer)
}

// met reports whether the ratio meets the row's goal ("" when there is no
// goal or no ratio).
func (t *tableRow) met() string {
	r := t.ratio()
	f := strings.Fields(t.goal)
	if math.IsNaN(r) || len(f) != 2 {
		return ""
	}
	g, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "x"), 64)
	if err != nil {
		return ""
	}
	ok := false
	switch f[0] {
	case ">=":
		ok = r >= g
	case "<=":
		ok = r <= g
	default:
		return ""
	}
	if ok {
		return "yes"
	}
	return "NO"
}

func fmtValue(metric string, r *benchresult.Result) string {
	if r == nil {
		return "-"
	}
	switch metric {
	case "rss":
		return fmt.Sprintf("%.1f MiB", float64(r.RSSKiB)/1024)
	case "runs":
		return fmt.Sprintf("%.1f runs/s", r.OpsPerSec)
	}
	return fmt.Sprintf("%.0f/s", r.OpsPerSec)
}

func fmtLatency(r *benchresult.Result) string {
	if r == nil || r.Ops == 0 {
		return "-"
	}
	p999 := "-"
	if r.P999us > 0 {
		p999 = fmt.Sprintf("%.0f", r.P999us)
	}
	return fmt.Sprintf("%.0f/%.0f/%s", r.P50us, r.P99us, p999)
}

// writeTable prints the comparison table of rs.
func writeTable(w io.Writer, rs []*benchresult.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "row\ttest\tnmdb\tbest peer\tpeer\tRATIO\tgoal\tmet\tnmdb µs p50/p99/p999\tpeer µs p50/p99/p999\t")
	for _, t := range buildTable(rs) {
		ratio := "-"
		if r := t.ratio(); !math.IsNaN(r) {
			ratio = fmt.Sprintf("%.2fx", r)
		}
		peerName := "-"
		if t.peer != nil {
			peerName = t.peer.Name
		}
		lat := func(r *benchresult.Result) string {
			if r == nil {
				return "-"
			}
			if t.metric == "rss" {
				return "-"
			}
			return fmtLatency(r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			t.row, t.test, fmtValue(t.metric, t.nmdb), peerName, fmtValue(t.metric, t.peer),
			ratio, t.goal, t.met(), lat(t.nmdb), lat(t.peer))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// writeDetails prints every result of rs, one line each.
func writeDetails(w io.Writer, rs []*benchresult.Result) error {
	for _, r := range rs {
		if r.Name == "" {
			continue
		}
		shape := fmt.Sprintf("procs=%d conns=%d depth=%d", r.Procs, r.Conns, r.Depth)
		switch {
		case r.Metric == "runs":
			shape = "runs of a program, one at a time"
		case r.Client == "lib":
			shape = fmt.Sprintf("procs=%d clients=%d goroutines=%d", r.Procs, r.Conns, r.Goroutines)
		case r.Client == "clib":
			shape = fmt.Sprintf("procs=%d handles=%d threads=%d", r.Procs, r.Conns, r.Threads)
		}
		if _, err := fmt.Fprintf(w, "%-4s %s  [%s %s client=%s mode=%s %s gets=%.2f]\n",
			r.Row, r.Describe(), r.Target, r.Transport, r.Client, r.Mode, shape, r.Gets); err != nil {
			return fmt.Errorf("write details: %w", err)
		}
	}
	return nil
}

func reportMain(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	details := fs.Bool("details", false, "list every result")
	table := fs.Bool("table", true, "print the comparison table")
	check := fs.Bool("check", false, "print nothing; fail if a row lacks the nmdb result or every peer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("report: name at least one results file")
	}
	rs, err := benchresult.Read(fs.Args())
	if err != nil {
		return err
	}
	if *check {
		var missing []string
		for _, t := range buildTable(rs) {
			if t.nmdb == nil || t.peer == nil {
				missing = append(missing, t.row)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("rows without a result to compare: %s", strings.Join(missing, " "))
		}
		return nil
	}
	if *table {
		if err := writeTable(w, rs); err != nil {
			return err
		}
	}
	if *details {
		if *table {
			fmt.Fprintln(w)
		}
		return writeDetails(w, rs)
	}
	return nil
}

// noteMain appends a note to a results file: the description, goal and
// metric of a table row, which also fixes the row's place in the table.
func noteMain(args []string) error {
	var c config
	fs := newFlagSet("note", &c)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 || c.Row == "" || c.out == "" {
		return errors.New("note: give -row, -out and optionally -test, -goal, -metric")
	}
	return benchresult.Append(c.out, c.Labels.Result())
}

// redisCSVMain turns the CSV output of redis-benchmark --csv into result
// lines, one per test (SET, GET), appended to -out.
func redisCSVMain(args []string) error {
	var c config
	fs := newFlagSet("redis-csv", &c)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("redis-csv: name the CSV file")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("redis-csv: %w", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("redis-csv %s: %w", fs.Arg(0), err)
	}
	rs, err := parseRedisCSV(recs, &c)
	if err != nil {
		return fmt.Errorf("redis-csv %s: %w", fs.Arg(0), err)
	}
	for _, r := range rs {
		if !c.quiet {
			fmt.Println(r.Describe())
		}
		if c.out != "" {
			if err := benchresult.Append(c.out, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseRedisCSV reads redis-benchmark's CSV (a header line naming the
// columns, then one line per test). The -row, -test and so on of c apply
// to the test named by -name's last word ("get" or "set"); without such
// a suffix every test is kept.
func parseRedisCSV(recs [][]string, c *config) ([]*benchresult.Result, error) {
	if len(recs) < 2 {
		return nil, errors.New("no tests in the output")
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	get := func(rec []string, name string) (float64, bool) {
		i, ok := col[name]
		if !ok || i >= len(rec) {
			return 0, false
		}
		v, err := strconv.ParseFloat(rec[i], 64)
		return v, err == nil
	}
	if _, ok := col["rps"]; !ok {
		return nil, fmt.Errorf("no rps column in header %q", recs[0])
	}
	var rs []*benchresult.Result
	for _, rec := range recs[1:] {
		test := strings.ToLower(rec[col["test"]])
		want := strings.Fields(c.Name)
		if len(want) > 0 {
			last := want[len(want)-1]
			if (last == "get" || last == "set") && last != test {
				continue
			}
		}
		rps, ok := get(rec, "rps")
		if !ok {
			return nil, fmt.Errorf("bad rps in %q", rec)
		}
		r := &benchresult.Result{
			Row: c.Row, Test: c.Test, Name: c.Name, Role: c.Role, Goal: c.Goal, Metric: "ops",
			Target: "redis", Transport: "tcp", Client: "redis-benchmark", Procs: 1, Conns: c.conns,
			Depth: c.depth, KeySize: c.keySize, ValSize: c.valSize, Keys: c.keys, OpsPerSec: rps,
		}
		if r.Name == "" || r.Name == "redis tcp" {
			r.Name = "redis-benchmark " + test
		}
		if test == "get" {
			r.Gets = 1
		}
		r.P50us, _ = get(rec, "p50_latency_ms")
		r.P99us, _ = get(rec, "p99_latency_ms")
		r.P50us *= 1000
		r.P99us *= 1000
		// redis-benchmark runs -requests requests per test.
		r.Ops = c.requests
		if r.Ops == 0 {
			r.Ops = 1
		}
		r.Secs = float64(r.Ops) / rps
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return nil, errors.New("no matching test in the output")
	}
	return rs, nil
}
