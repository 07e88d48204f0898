package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/nmdb-go/nmdb/internal/version"
	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

func TestStatsOutput(t *testing.T) {
	port := nmdbtest.Start(t, "tcp", nmdb.Config{}).Port()
	c := libnmdb.New(libnmdb.Options{})
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
	text := out.String()
	if !strings.HasSuffix(text, "\n\n") {
		t.Errorf("output does not end with an empty line:\n%s", text)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n\n"), "\n")
	if lines[0] != "stats for server 0:" {
		t.Fatalf("first line %q", lines[0])
	}
	if len(lines)-1 != wire.NumStats {
		t.Fatalf("%d counters, want %d:\n%s", len(lines)-1, wire.NumStats, text)
	}
	values := map[string]uint64{}
	var names []string
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 3 || f[0] != "" {
			t.Fatalf("line %q is not <TAB>value<TAB>name", l)
		}
		names = append(names, f[2])
		switch f[2] {
		case "version":
			if f[1] != version.Release {
				t.Errorf("version %q, want %q", f[1], version.Release)
			}
			continue
		case "role":
			if f[1] != "active" {
				t.Errorf("role %q, want active", f[1])
			}
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("line %q: value: %v", l, err)
		}
		values[f[2]] = v
	}
	// Classic order first, then the added counters in wire order.
	want := []string{"cache get", "cache set", "cache del", "cache cas", "cache incr",
		"db get", "db set", "db del", "db cas", "db incr", "db firstkey", "db nextkey",
		"cache hits", "cache misses", "db hits", "db misses",
		"msg tipc", "msg tcp", "msg udp", "msg sctp",
		"version mismatch", "broken requests", "unknown requests"}
	for i := wire.ClassicStats; i < wire.NumStats; i++ {
		want = append(want, wire.StatName(i))
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("counter names:\n%q\nwant:\n%q", names, want)
	}
	if values["open connections"] < 2 {
		t.Errorf("open connections = %d, want at least 2 (the test's client and nmdb-stats)", values["open connections"])
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

// TestWriteClassic: the classic part of the output is, byte for byte, what
// classic nmdb-stats prints for the same 23 counters, including the counters
// past the 23rd it does not know and the empty line after each server.
func TestWriteClassic(t *testing.T) {
	s := make([]uint64, wire.ClassicStats+2)
	for i := range s {
		s[i] = uint64(100 + i) // the wire position shows in the value
	}
	var out bytes.Buffer
	if err := write(&out, [][]uint64{s[:wire.ClassicStats], s}); err != nil {
		t.Fatal(err)
	}
	classic := `	100	cache get
	101	cache set
	102	cache del
	103	cache cas
	104	cache incr
	105	db get
	106	db set
	107	db del
	108	db cas
	109	db incr
	121	db firstkey
	122	db nextkey
	110	cache hits
	111	cache misses
	112	db hits
	113	db misses
	114	msg tipc
	115	msg tcp
	116	msg udp
	117	msg sctp
	118	version mismatch
	119	broken requests
	120	unknown requests
`
	want := "stats for server 0:\n" + classic + "\n" +
		"stats for server 1:\n" + classic +
		fmt.Sprintf("\t123\t%s\n\t124\t%s\n\n", wire.StatName(23), wire.StatName(24))
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestWriteAdded: the counters this server adds are named, version and role
// as text; counters past the known ones are "unknown field", as classic
// nmdb-stats prints them.
func TestWriteAdded(t *testing.T) {
	s := make([]uint64, wire.NumStats+2)
	s[wire.StatUptime] = 3600
	s[wire.StatVersion] = 1002003
	s[wire.StatOpenConns] = 7
	s[wire.StatRole] = wire.RolePassive
	s[wire.NumStats] = 5
	s[wire.NumStats+1] = 6
	var out bytes.Buffer
	if err := write(&out, [][]uint64{s}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, line := range []string{
		"\t3600\tuptime\n\t1.2.3\tversion\n\t7\topen connections\n\tpassive\trole\n",
		"\t5\tunknown field\n\t6\tunknown field\n\n",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("output lacks %q:\n%s", line, text)
		}
	}
	if !strings.HasSuffix(text, "\t6\tunknown field\n\n") {
		t.Errorf("output does not end with the last counter and an empty line:\n%s", text)
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
		{[]string{"-V"}, exitOK},
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
