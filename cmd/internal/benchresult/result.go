// Package benchresult is what nmdb-bench measures and nmdb-bench-report
// reads: one result per run, stored as a JSON line.
package benchresult

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
)

// Result is one benchmark's outcome, as printed and stored (one JSON
// object per line) for the report.
type Result struct {
	Row        string  `json:"row,omitempty"`
	Test       string  `json:"test,omitempty"`
	Name       string  `json:"name"`
	Role       string  `json:"role,omitempty"`
	Goal       string  `json:"goal,omitempty"`
	Metric     string  `json:"metric"`
	Target     string  `json:"target"`
	Transport  string  `json:"transport"`
	Client     string  `json:"client"`
	Mode       string  `json:"mode,omitempty"`
	Procs      int     `json:"procs"`
	Conns      int     `json:"conns"`
	Depth      int     `json:"depth"`
	Goroutines int     `json:"goroutines,omitempty"`
	Threads    int     `json:"threads,omitempty"` // threads of a C program (client "clib")
	Gets       float64 `json:"gets"`
	KeySize    int     `json:"keysize"`
	ValSize    int     `json:"valsize"`
	Keys       int     `json:"keys"`
	Ops        uint64  `json:"ops"`
	Hits       uint64  `json:"hits"`
	Misses     uint64  `json:"misses"`
	Errors     uint64  `json:"errors"`
	Lost       uint64  `json:"lost"`
	Secs       float64 `json:"secs"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	P999us     float64 `json:"p999_us"`
	RSSKiB     int64   `json:"rss_kib,omitempty"`
	Objects    int64   `json:"objects,omitempty"`
	Preloaded  int     `json:"preloaded,omitempty"`
	// Hist carries a worker's histogram to its parent.
	Hist *HistWire `json:"hist,omitempty"`
}

// Describe returns the one-line human summary of r.
func (r *Result) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-28s", r.Name)
	if r.Ops > 0 {
		fmt.Fprintf(&b, " %10.0f ops/s  p50 %7.1fµs  p99 %7.1fµs  p99.9 %7.1fµs  ops %d",
			r.OpsPerSec, r.P50us, r.P99us, r.P999us, r.Ops)
		if r.Hits+r.Misses > 0 {
			fmt.Fprintf(&b, " hits %d misses %d", r.Hits, r.Misses)
		}
		fmt.Fprintf(&b, " errors %d", r.Errors)
		if r.Lost > 0 {
			fmt.Fprintf(&b, " lost %d", r.Lost)
		}
	}
	if r.Preloaded > 0 {
		fmt.Fprintf(&b, "  preloaded %d keys", r.Preloaded)
	}
	if r.Objects > 0 {
		fmt.Fprintf(&b, "  server holds %d objects", r.Objects)
	}
	if r.RSSKiB > 0 {
		fmt.Fprintf(&b, "  server RSS %.1f MiB", float64(r.RSSKiB)/1024)
	}
	return b.String()
}

// HistWire is the form in which a worker process sends its latency
// histogram to the parent: the non-empty buckets only.
type HistWire struct {
	Buckets [][2]uint64 `json:"buckets"`
	Sum     uint64      `json:"sum"`
	Max     uint64      `json:"max"`
}

// Append appends r to the JSON-lines file path.
func Append(path string, r *Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("results file: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("results file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("results file %s: %w", path, err)
	}
	return nil
}

// Read reads JSON-lines result files.
func Read(paths []string) ([]*Result, error) {
	var rs []*Result
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for line := 1; sc.Scan(); line++ {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			r := &Result{}
			if err := json.Unmarshal(sc.Bytes(), r); err != nil {
				f.Close()
				return nil, fmt.Errorf("%s:%d: %w", p, line, err)
			}
			rs = append(rs, r)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return rs, nil
}

// Labels place a result in the comparison table. nmdb-bench and
// nmdb-bench-report take them as the same flags.
type Labels struct {
	Row, Test, Name, Role, Goal, Metric string
}

// AddFlags adds -row, -test, -name, -role, -goal and -metric to fs.
func (l *Labels) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&l.Row, "row", "", "table row this result belongs to")
	fs.StringVar(&l.Test, "test", "", "description of the row")
	fs.StringVar(&l.Name, "name", "", "name of this result in the table (nmdb-bench's default: target and transport)")
	fs.StringVar(&l.Role, "role", "", "nmdb (the measured side) or peer")
	fs.StringVar(&l.Goal, "goal", "", "target for the row's ratio, e.g. '>= 1.0'")
	fs.StringVar(&l.Metric, "metric", "ops", "what the row compares: ops or runs (per second, higher wins) or rss (lower wins)")
}

// Result returns a result carrying l.
func (l *Labels) Result() *Result {
	return &Result{Row: l.Row, Test: l.Test, Name: l.Name, Role: l.Role, Goal: l.Goal, Metric: l.Metric}
}
