package main

import (
	"context"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nmdb-go/nmdb/internal/statsfmt"
	"github.com/nmdb-go/nmdb/internal/version"
	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// usageDescCol is the column at which usageText describes each command
// whose synopsis is short enough (the others have it on the next line).
const usageDescCol = 38

// usageHint is the line printed after a usage error: the synopsis of cmd
// when it is a known command, and where the whole usage is.
func usageHint(cmd string) string {
	if cmd != "" {
		for _, l := range strings.Split(usageText, "\n") {
			if strings.HasPrefix(l, "  "+cmd+" ") {
				syn := l
				if len(l) > usageDescCol && l[usageDescCol-2:usageDescCol] == "  " {
					syn = l[:usageDescCol] // without the description
				}
				return "usage: nmdb-cli [-s SERVER]... " + strings.Join(strings.Fields(syn), " ") +
					" (nmdb-cli -h for every command)"
			}
		}
	}
	return "run 'nmdb-cli -h' for the usage"
}

// ping asks every -s server for its statistics, one at a time, and reports
// for each whether and how fast it answered, and what it is.
func (a *app) ping(ctx context.Context, args []string) error {
	if _, _, err := a.parse(args, cmdline{want: "no arguments"}); err != nil {
		return err
	}
	failed := 0
	for _, s := range a.servers {
		line, err := pingOne(ctx, s, a.opts())
		if err != nil {
			failed++
			fmt.Fprintf(a.stdout, "%s: %v\n", s, err)
			continue
		}
		fmt.Fprintf(a.stdout, "%s: %s\n", s, line)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d servers did not answer", failed, len(a.servers))
	}
	return nil
}

// pingOne asks server s for its statistics and describes the answer.
func pingOne(ctx context.Context, s server, o libnmdb.Options) (string, error) {
	c, err := connect([]server{s}, o)
	if err != nil {
		return "", err
	}
	defer c.Close()
	start := time.Now()
	st, err := c.Stats(ctx)
	rtt := time.Since(start)
	if err != nil {
		return "", err
	}
	if len(st) != 1 {
		return "", fmt.Errorf("%w: stats of %d servers", libnmdb.ErrUnexpectedReply, len(st))
	}
	return describe(st[0], rtt), nil
}

// describe tells what a server is from its counters.
func describe(st []uint64, rtt time.Duration) string {
	what := fmt.Sprintf("classic nmdb (%d counters)", len(st))
	if len(st) > wire.StatRole {
		what = fmt.Sprintf("nmdb %s, up %s, %s, %d open connections",
			version.FormatNumber(st[wire.StatVersion]), time.Duration(st[wire.StatUptime])*time.Second,
			wire.RoleName(st[wire.StatRole]), st[wire.StatOpenConns])
	}
	return fmt.Sprintf("ok in %.3f ms: %s", float64(rtt.Microseconds())/1000, what)
}

// stats prints the counters of every -s server as nmdb-stats does.
func (a *app) stats(ctx context.Context, args []string) error {
	if _, _, err := a.parse(args, cmdline{want: "no arguments"}); err != nil {
		return err
	}
	return a.withClient(func(c *libnmdb.Client) error {
		st, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		return statsfmt.Write(a.stdout, st)
	})
}

// progress shows a running count on standard error when it is a terminal.
type progress struct {
	w    io.Writer
	what string
	on   bool
	n    uint64
	last time.Time
}

// progressEvery is how often the count is redrawn.
const progressEvery = 200 * time.Millisecond

// newProgress counts for the operation named what.
func (a *app) newProgress(what string) *progress {
	return &progress{w: a.stderr, what: what, on: a.stderrTTY}
}

// add counts n more pairs, redrawing the count now and then.
func (p *progress) add(n uint64) {
	p.n += n
	if !p.on {
		return
	}
	if now := time.Now(); p.last.IsZero() || now.Sub(p.last) >= progressEvery {
		fmt.Fprintf(p.w, "\r\x1b[Knmdb-cli: %s: %d pairs", p.what, p.n)
		p.last = now
	}
}

// count passes src on, counting each pair it yields.
func (p *progress) count(src iter.Seq2[record, error]) iter.Seq2[record, error] {
	return func(yield func(record, error) bool) {
		for r, err := range src {
			if err == nil {
				p.add(1)
			}
			if !yield(r, err) {
				return
			}
		}
	}
}

// done clears the count's line.
func (p *progress) done() {
	if p.on && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
