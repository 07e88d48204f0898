package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

func TestStatsOutput(t *testing.T) {
	port := nmdbtest.Start(t, "tcp", nmdb.Config{}).Port()
	c := libnmdb.New()
	defer c.Close()
	if err := c.AddTCPServer("127.0.0.1", port); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		if err := c.SetSync(ctx, []byte{byte(i)}, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Get(ctx, []byte("absent")); err != libnmdb.ErrNotFound {
		t.Fatalf("get absent: %v", err)
	}
	// Classic counters: "cache ..." counts cache-only requests, "db ..."
	// the others.
	if err := c.CacheSet(ctx, []byte("c"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CacheGet(ctx, []byte("c")); err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	code := run([]string{"tcp", "127.0.0.1", strconv.Itoa(port)}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if lines[0] != "stats for server 0:" {
		t.Fatalf("first line %q", lines[0])
	}
	if len(lines)-1 < wire.ClassicStats {
		t.Fatalf("%d counters, want at least %d:\n%s", len(lines)-1, wire.ClassicStats, out.String())
	}
	values := map[string]uint64{}
	for i, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 3 || f[0] != "" {
			t.Fatalf("line %q is not <TAB>value<TAB>name", l)
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("line %q: value: %v", l, err)
		}
		if f[2] != wire.StatName(i) {
			t.Errorf("counter %d named %q, want %q", i, f[2], wire.StatName(i))
		}
		values[f[2]] = v
	}
	for name, want := range map[string]uint64{"cache set": 1, "db set": 3, "cache get": 1, "db get": 1, "db misses": 1} {
		if values[name] != want {
			t.Errorf("%s = %d, want %d", name, values[name], want)
		}
	}
	if values["msg tcp"] < 7 {
		t.Errorf("msg tcp = %d, want at least 7", values["msg tcp"])
	}
}

func TestWriteUnknownCounters(t *testing.T) {
	n := wire.NumStats + 2
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(i * 10)
	}
	var out bytes.Buffer
	if err := write(&out, [][]uint64{s, s[:3]}); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	want.WriteString("stats for server 0:\n")
	for i := range n {
		name := wire.StatName(i)
		if i >= wire.NumStats {
			name = "unknown"
		}
		fmt.Fprintf(&want, "\t%d\t%s\n", i*10, name)
	}
	want.WriteString("stats for server 1:\n\t0\tcache get\n\t10\tcache set\n\t20\tcache del\n")
	if out.String() != want.String() {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want.String())
	}
}

func TestCommandLineErrors(t *testing.T) {
	// A port on which nothing listens: bind one and close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()

	for _, tc := range []struct {
		args []string
		code int
	}{
		{nil, exitUsage},
		{[]string{"tcp"}, exitUsage},
		{[]string{"tcp", "127.0.0.1"}, exitUsage},
		{[]string{"tcp", "127.0.0.1", "x"}, exitUsage},
		{[]string{"tcp", "127.0.0.1", "70000"}, exitUsage},
		{[]string{"tipc"}, exitUsage},
		{[]string{"tipc", "10", "11"}, exitUsage},
		{[]string{"bogus", "1"}, exitUsage},
		{[]string{"tcp", "127.0.0.1", dead}, exitError},
		{[]string{"-h"}, exitOK},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != tc.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errb.String())
		}
		if tc.code != exitOK && (errb.Len() == 0 || out.Len() != 0) {
			t.Errorf("%q: stdout %q, stderr %q: want only an error message", tc.args, out.String(), errb.String())
		}
	}
}
