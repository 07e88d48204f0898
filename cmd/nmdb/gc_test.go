package main

import (
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestGCPercentChoice: -g wins, else GOGC is left to the runtime, else
// the default applies.
func TestGCPercentChoice(t *testing.T) {
	env := func(gogc string) func(string) string {
		return func(name string) string {
			if name == "GOGC" {
				return gogc
			}
			return ""
		}
	}
	for _, tc := range []struct {
		flag   int
		gogc   string
		want   int
		wantOK bool
	}{
		{0, "", defaultGCPercent, true},
		{40, "", 40, true},
		{0, "70", 0, false},
		{0, "off", 0, false},
		{30, "70", 30, true},
	} {
		p, ok := gcPercent(&options{gcPercent: tc.flag}, env(tc.gogc))
		if p != tc.want || ok != tc.wantOK {
			t.Errorf("-g %d, GOGC=%q: %d %v, want %d %v", tc.flag, tc.gogc, p, ok, tc.want, tc.wantOK)
		}
	}

	// Applied to this process, and reported.
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	if got := applyGCPercent(&options{gcPercent: 40}, env("")); got != 40 {
		t.Errorf("applyGCPercent(-g 40) = %d", got)
	}
	if now := debug.SetGCPercent(100); now != 40 {
		t.Errorf("after -g 40 the runtime's target is %d", now)
	}
	if got := applyGCPercent(&options{}, env("70")); got != 100 {
		t.Errorf("applyGCPercent with GOGC set = %d, want the runtime's 100 left alone", got)
	}
	if now := debug.SetGCPercent(100); now != 100 {
		t.Errorf("with GOGC set the runtime's target became %d", now)
	}
}

// TestGCPercentDaemon: the daemon runs with the target of -g, of GOGC or
// the default, and logs it.
func TestGCPercentDaemon(t *testing.T) {
	for _, tc := range []struct {
		gogc string
		args []string
		want int
	}{
		{"", nil, defaultGCPercent},
		{"", []string{"-g", "40"}, 40},
		{"70", nil, 70},
		{"70", []string{"-g30"}, 30},
	} {
		t.Run(fmt.Sprintf("GOGC=%s %s", tc.gogc, strings.Join(tc.args, " ")), func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			args := append([]string{"-d", filepath.Join(t.TempDir(), "db"), "-b", "null", "-l", "off", "-s", "off",
				"-t", port(freePort(t, "tcp")), "-T", "127.0.0.1"}, tc.args...)
			p := startDaemon(t, args...)
			if log := readFile(p.log); !strings.Contains(log, fmt.Sprintf("gc_percent=%d ", tc.want)) {
				t.Errorf("log does not report gc_percent=%d:\n%s", tc.want, log)
			}
			p.stop(t)
		})
	}
}
