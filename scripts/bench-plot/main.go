// Command bench-plot draws the headline rows of `make bench` results as SVG
// charts, with nothing but the standard library:
//
//	go run ./scripts/bench-plot -o docs/bench docs/bench/*.txt
//
// Each input is the table `make bench` prints (BENCH_OUT keeps it as
// table.txt), one file per run, named after the run (2026-11-21-2100.txt);
// files are taken in name order, so the last is the latest run. The
// headline rows are those with a goal. Two charts are written:
//
//	ratio-latest.svg  the latest run: each headline row's RATIO (nmdb over
//	                  the best peer of the same run) against its goal
//	ratio-runs.svg    every run: each headline row's RATIO, run by run
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// row is one headline row of a results table.
type row struct {
	id    string  // "1-get-tcp"
	test  string  // what it measures
	peer  string  // the best peer
	ratio float64 // nmdb / best peer
	goal  string  // ">= 1.0", "<= 1.0"
	limit float64 // the goal's number
	lower bool    // lower is better (the goal is <=)
	met   bool
}

// run is one results file.
type run struct {
	name string
	rows []row
}

func main() {
	out := flag.String("o", ".", "directory to write the SVG files to")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: bench-plot [-o DIR] TABLE...  (tables as make bench prints them)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := plot(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "bench-plot:", err)
		os.Exit(1)
	}
}

// plot reads every table and writes both charts into dir.
func plot(dir string, files []string) error {
	files = slices.Clone(files)
	slices.Sort(files)
	var runs []run
	for _, f := range files {
		r, err := readFile(f)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	if err := writeSVG(filepath.Join(dir, "ratio-latest.svg"), func(w io.Writer) { latestChart(w, runs[len(runs)-1]) }); err != nil {
		return err
	}
	return writeSVG(filepath.Join(dir, "ratio-runs.svg"), func(w io.Writer) { runsChart(w, runs) })
}

func readFile(name string) (run, error) {
	f, err := os.Open(name)
	if err != nil {
		return run{}, err
	}
	defer f.Close()
	rows, err := parse(f)
	if err != nil {
		return run{}, fmt.Errorf("%s: %w", name, err)
	}
	return run{name: strings.TrimSuffix(filepath.Base(name), filepath.Ext(name)), rows: rows}, nil
}

// parse reads a table and returns its headline rows. Columns are found by
// the header's titles, since some cells are empty.
func parse(r io.Reader) ([]row, error) {
	sc := bufio.NewScanner(r)
	var cols map[string]int
	var rows []row
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "row ") {
			// The titles in order; each is looked for after the one
			// before ("peer" after "best peer").
			cols = map[string]int{}
			from := 0
			for _, t := range []string{"test", "nmdb", "best peer", "peer", "RATIO", "goal", "met"} {
				i := strings.Index(l[from:], " "+t+" ")
				if i < 0 {
					return nil, fmt.Errorf("header without %q", t)
				}
				cols[t] = from + i + 1
				from = cols[t] + len(t)
			}
			continue
		}
		if cols == nil || strings.TrimSpace(l) == "" {
			continue
		}
		cell := func(from, to string) string {
			a, b := cols[from], cols[to]
			if a >= len(l) {
				return ""
			}
			return strings.TrimSpace(l[a:min(b, len(l))])
		}
		goal := cell("goal", "met")
		if goal == "" {
			continue // not a headline row
		}
		rw := row{
			id:   strings.Fields(l)[0],
			test: cell("test", "nmdb"),
			peer: cell("best peer", "peer"),
			goal: goal,
		}
		var err error
		if rw.ratio, err = strconv.ParseFloat(strings.TrimSuffix(cell("RATIO", "goal"), "x"), 64); err != nil {
			return nil, fmt.Errorf("row %s: RATIO: %w", rw.id, err)
		}
		op, num, _ := strings.Cut(goal, " ")
		if rw.limit, err = strconv.ParseFloat(num, 64); err != nil || (op != ">=" && op != "<=") {
			return nil, fmt.Errorf("row %s: goal %q", rw.id, goal)
		}
		rw.lower = op == "<="
		rw.met = rw.ratio >= rw.limit
		if rw.lower {
			rw.met = rw.ratio <= rw.limit
		}
		rows = append(rows, rw)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cols == nil {
		return nil, errors.New("no table header (a line starting with \"row \")")
	}
	if len(rows) == 0 {
		return nil, errors.New("no headline rows (rows with a goal)")
	}
	return rows, nil
}

// Chart geometry, in SVG user units.
const (
	labelW = 150 // row labels
	plotW  = 440 // the bars
	rightW = 180 // values and notes
	scaleX = 2.0 // the ratio at the right edge of the plot
	top    = 40
	font   = `font-family="sans-serif" font-size="11"`
	axisH  = 24 // the axis labels below the plot
)

func xOf(ratio float64) float64 { return labelW + plotW*min(ratio, scaleX)/scaleX }

// frame writes the SVG header, the title, and the vertical grid down to
// bottom with the axis labels under it.
func frame(w io.Writer, height, bottom int, title string) {
	width := labelW + plotW + rightW
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", width, height, width, height)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(w, `<text x="8" y="18" font-family="sans-serif" font-size="13" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	for _, g := range []float64{0, 0.5, 1, 1.5, 2} {
		x := xOf(g)
		stroke := `stroke="#ddd"`
		if g == 1 {
			stroke = `stroke="#888" stroke-dasharray="3,2"`
		}
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" %s/>`+"\n", x, top-6, x, bottom, stroke)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" %s text-anchor="middle">%.1fx</text>`+"\n", x, bottom+14, font, g)
	}
}

// latestChart draws one bar per headline row of r, with its goal.
func latestChart(w io.Writer, r run) {
	const barH, gap = 16, 8
	bottom := top + len(r.rows)*(barH+gap)
	frame(w, bottom+axisH, bottom, "nmdb / best peer, run "+r.name+" (goal: black mark; green: met; bars end at 2x)")
	for i, rw := range r.rows {
		y := top + i*(barH+gap)
		color := "#e69f00"
		if rw.met {
			color = "#009e73"
		}
		fmt.Fprintf(w, `<text x="8" y="%d" %s><title>%s</title>%s</text>`+"\n",
			y+12, font, html.EscapeString(rw.test+" vs "+rw.peer), html.EscapeString(rw.id))
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n",
			labelW, y, xOf(rw.ratio)-labelW, barH, color)
		gx := xOf(rw.limit)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-width="2"/>`+"\n", gx, y-2, gx, y+barH+2)
		note := ""
		if rw.lower {
			note = " (lower is better)"
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" %s>%.2fx%s</text>`+"\n", labelW+plotW+4, y+12, font, rw.ratio, html.EscapeString(note))
	}
	fmt.Fprintln(w, "</svg>")
}

// runColors tell the runs apart (a palette readable with colour blindness).
var runColors = []string{"#999999", "#e69f00", "#56b4e9", "#009e73", "#0072b2", "#d55e00", "#cc79a7", "#f0e442"}

// runsChart draws, for each headline row of the latest run, one bar per
// run that has the row.
func runsChart(w io.Writer, runs []run) {
	const barH, gap = 6, 10
	ids := []string{}
	for _, rw := range runs[len(runs)-1].rows {
		ids = append(ids, rw.id)
	}
	bottom := top + len(ids)*(len(runs)*barH+gap)
	frame(w, bottom+axisH+14*len(runs)+8, bottom, "nmdb / best peer, run by run (dashed: 1.0x; bars end at 2x)")
	y := top
	for _, id := range ids {
		fmt.Fprintf(w, `<text x="8" y="%d" %s>%s</text>`+"\n", y+len(runs)*barH/2+4, font, html.EscapeString(id))
		for k, r := range runs {
			i := slices.IndexFunc(r.rows, func(rw row) bool { return rw.id == id })
			if i >= 0 {
				fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s: %.2fx</title></rect>`+"\n",
					labelW, y+k*barH, xOf(r.rows[i].ratio)-labelW, barH-1, runColors[k%len(runColors)],
					html.EscapeString(r.name), html.EscapeString(id), r.rows[i].ratio)
			}
		}
		y += len(runs)*barH + gap
	}
	y = bottom + axisH + 12 // below the axis labels: the legend
	for k, r := range runs {
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/>`+"\n", labelW, y+k*14-9, runColors[k%len(runColors)])
		fmt.Fprintf(w, `<text x="%d" y="%d" %s>%s</text>`+"\n", labelW+14, y+k*14, font, html.EscapeString(r.name))
	}
	fmt.Fprintln(w, "</svg>")
}

// writeSVG writes a chart to name.
func writeSVG(name string, draw func(io.Writer)) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	draw(bw)
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return f.Close()
}
